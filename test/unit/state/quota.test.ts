// Quotas on rate-limiter-flexible limiters (one process, Redis): allowed and first refusals come from
// the library; once a key is known to be over its limit it is refused here, synchronously, with the
// window's remaining time, until that window ends and the library counts it afresh. A failing store
// stays a failing store, never a refusal.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, test } from "node:test";
import { RateLimiterMemory, type RateLimiterAbstract } from "rate-limiter-flexible";
import { OverLimitKeys, limiterQuota, type QuotaDecision } from "../../../src/state/quota.js";

async function settled(decision: QuotaDecision | Promise<QuotaDecision>): Promise<QuotaDecision> {
  return decision;
}

describe("limiterQuota", () => {
  test("a key over its limit is refused without the limiter until its window ends, then counted afresh", async () => {
    const limiter = new RateLimiterMemory({ points: 2, duration: 1 });
    let asked = 0;
    const consume = limiter.consume.bind(limiter);
    limiter.consume = (key, points) => {
      asked++;
      return consume(key, points);
    };
    const quota = limiterQuota(limiter, new OverLimitKeys());

    assert.equal((await settled(quota.consume("a"))).kind, "allowed");
    assert.equal((await settled(quota.consume("a"))).kind, "allowed");
    const first = quota.consume("a");
    assert.ok(first instanceof Promise, "the first refusal is the library's");
    assert.equal((await first).kind, "limited");
    assert.equal(asked, 3);

    const known = quota.consume("a");
    assert.ok(!(known instanceof Promise), "a key known to be over is answered at once");
    assert.equal(known.kind, "limited");
    assert.ok(known.kind === "limited" && known.resetMs > 0 && known.resetMs <= 1_000, `resetMs ${known.kind === "limited" ? known.resetMs : ""}`);
    assert.equal(asked, 3, "the limiter was not asked again");
    // Another key is the library's to answer.
    assert.equal((await settled(quota.consume("b"))).kind, "allowed");

    await sleep(known.kind === "limited" ? known.resetMs + 50 : 0);
    const later = quota.consume("a");
    assert.ok(later instanceof Promise);
    assert.equal((await later).kind, "allowed");
  });

  test("a failing store answers store-unavailable and is asked again next time", async () => {
    const failing = { consume: () => Promise.reject(new Error("redis is down")) } as unknown as RateLimiterAbstract;
    const quota = limiterQuota(failing, new OverLimitKeys());
    for (let i = 0; i < 2; i++) {
      const decision = quota.consume("a");
      assert.ok(decision instanceof Promise);
      assert.equal((await decision).kind, "store-unavailable");
    }
  });
});

describe("OverLimitKeys", () => {
  test("ended windows are dropped as the map grows: its size stays bounded by the keys still over", () => {
    const keys = new OverLimitKeys();
    let now = 0;
    for (let i = 0; i < 100_000; i++) {
      now += 1;
      keys.add(`k${i}`, now + 10, now);
    }
    assert.ok(keys.size <= 2_048, `size ${keys.size}`);
    assert.equal(keys.resetMs(`k${99_999}`, now), 10);
    assert.equal(keys.resetMs(`k${0}`, now), undefined);
  });
});

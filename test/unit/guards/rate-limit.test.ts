// decide(): the one place where rate-limiter-flexible's three outcomes (resolve = allowed, reject with a
// RateLimiterRes = over the limit, reject with an Error = the store failed) become a Decision, so no
// caller can mistake a failing store for a limited client or the reverse. And the policies' keys.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";
import { configSchema } from "../../../src/config/schema.js";
import { compilePolicies, decide } from "../../../src/guards/rate-limit.js";
import { limiterFactory, type LimiterSpec } from "../../../src/state/limiters.js";
import { limiterQuotas } from "../../../src/state/quota.js";


/** An ioredis look-alike whose script call answers as Redis would ([consumed, pttl]) or fails. */
function fakeRedis(behaviour: "ready" | "fails" | "not-ready") {
  const counts = new Map<string, number>();
  return {
    status: behaviour === "not-ready" ? "reconnecting" : "ready",
    defineCommand(): void {},
    rlflxIncr(args: string[]): Promise<[number, number]> {
      if (behaviour === "fails") return Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:6379"));
      const [key = "", points = "1", seconds = "1"] = args;
      const consumed = (counts.get(key) ?? 0) + Number(points);
      counts.set(key, consumed);
      return Promise.resolve([consumed, Number(seconds) * 1_000]);
    },
  };
}

describe("decide", () => {
  test("a real in-memory limiter: allowed with the remaining points, then limited (not an error) with the time to reset", async () => {
    const limiter = new RateLimiterMemory({ keyPrefix: "t1", points: 3, duration: 2 });
    const first = await decide(limiter, "k");
    assert.equal(first.kind, "allowed");
    assert.ok(first.kind === "allowed" && first.remaining === 2 && first.resetMs > 0 && first.resetMs <= 2_000);
    assert.deepEqual(
      [await decide(limiter, "k"), await decide(limiter, "k")].map((decision) => decision.kind === "allowed" && decision.remaining),
      [1, 0],
    );
    const limited = await decide(limiter, "k");
    assert.equal(limited.kind, "limited");
    assert.ok(limited.kind === "limited");
    assert.equal(limited.remaining, 0);
    assert.ok(limited.resetMs > 0 && limited.resetMs <= 2_000, `resetMs ${limited.resetMs}`);
    assert.equal((await decide(limiter, "other")).kind, "allowed", "keys are independent");
  });

  test("the window resets", async () => {
    const limiter = new RateLimiterMemory({ keyPrefix: "t2", points: 1, duration: 1 });
    assert.equal((await decide(limiter, "k")).kind, "allowed");
    const limited = await decide(limiter, "k");
    assert.equal(limited.kind, "limited");
    await new Promise((resolve) => setTimeout(resolve, (limited.kind === "limited" ? limited.resetMs : 1_000) + 20));
    assert.equal((await decide(limiter, "k")).kind, "allowed");
  });

  test("a store limiter over its limit is limited, not store-unavailable", async () => {
    const limiter = new RateLimiterRedis({ storeClient: fakeRedis("ready"), points: 2, duration: 5, rejectIfRedisNotReady: true });
    assert.equal((await decide(limiter, "k")).kind, "allowed");
    assert.equal((await decide(limiter, "k")).kind, "allowed");
    const limited = await decide(limiter, "k");
    assert.equal(limited.kind, "limited");
    assert.ok(limited.kind === "limited" && limited.resetMs === 5_000);
  });

  test("a store that throws an Error is store-unavailable, carrying the error", async () => {
    const failing = new RateLimiterRedis({ storeClient: fakeRedis("fails"), points: 2, duration: 5 });
    const decision = await decide(failing, "k");
    assert.equal(decision.kind, "store-unavailable");
    assert.ok(decision.kind === "store-unavailable" && decision.error instanceof Error);
    assert.match(String(decision.error), /ECONNREFUSED/);

    const notReady = new RateLimiterRedis({ storeClient: fakeRedis("not-ready"), points: 2, duration: 5, rejectIfRedisNotReady: true });
    const down = await decide(notReady, "k");
    assert.equal(down.kind, "store-unavailable");
    assert.ok(down.kind === "store-unavailable" && down.error instanceof Error);
  });

  test("with an insurance limiter (onStoreFailure: open) a failing store still limits, per process", async () => {
    const insured = new RateLimiterRedis({
      storeClient: fakeRedis("fails"),
      points: 2,
      duration: 5,
      insuranceLimiter: new RateLimiterMemory({ points: 2, duration: 5 }),
    });
    const kinds = [];
    for (let i = 0; i < 3; i++) kinds.push((await decide(insured, "k")).kind);
    assert.deepEqual(kinds, ["allowed", "allowed", "limited"]);
  });

  test("limiterFactory (memory): windows are whole seconds, at least one", async () => {
    const store = configSchema.parse({}).store;
    const create = limiterFactory(store, undefined);
    const spec = (windowMs: number): LimiterSpec => ({ name: `w${windowMs}`, points: 1, windowMs });
    assert.equal(create(spec(2_000)).duration, 2);
    assert.equal(create(spec(1_500)).duration, 2);
    assert.equal(create(spec(250)).duration, 1);
    const limiter = create({ name: "pts", points: 4, windowMs: 60_000 });
    assert.equal(limiter.points, 4);
    const decision = await decide(limiter, "x");
    assert.ok(decision.kind === "allowed" && decision.remaining === 3);
  });
});

describe("policy keys", () => {
  const limiters = new Map<string, RateLimiterMemory>();
  const policies = compilePolicies(
    configSchema.parse({
      rateLimits: {
        perIp: { limit: 5, window: "2s" },
        perRoute: { limit: 5, window: "2s", key: "ip+route" },
        perKey: { limit: 5, window: "2s", key: "header:X-Api-Key" },
      },
    }),
    limiterQuotas((spec) => {
      const limiter = new RateLimiterMemory({ keyPrefix: spec.name, points: spec.points, duration: Math.ceil(spec.windowMs / 1000) });
      limiters.set(spec.name, limiter);
      return limiter;
    }),
  );

  /** The arguments keyOf takes, in the order it takes them. */
  function keyArgs(ip: string, headers: Record<string, string> = {}, route = ""): [string, string, Record<string, string>] {
    return [ip, route, headers];
  }

  test("compiled from config with limit, window and the default key ip", () => {
    const perIp = policies.get("perIp")!;
    assert.equal(perIp.limit, 5);
    assert.equal(perIp.windowMs, 2_000);
    assert.equal(limiters.get("rl:perIp")?.points, 5);
    assert.equal(limiters.get("rl:perIp")?.duration, 2);
    assert.equal(perIp.keyOf(...keyArgs("203.0.113.1", { "x-api-key": "k" })), "203.0.113.1");
  });

  test("a compiled policy answers through its quota (rate-limiter-flexible here: a Promise)", async () => {
    const decision = await policies.get("perIp")!.quota.consume("203.0.113.9");
    assert.ok(decision.kind === "allowed" && decision.remaining === 4, JSON.stringify(decision));
  });

  test("ip+route: one key per client and route", () => {
    const keyOf = policies.get("perRoute")!.keyOf;
    assert.notEqual(keyOf(...keyArgs("203.0.113.1", {}, "a")), keyOf(...keyArgs("203.0.113.1", {}, "b")));
    assert.notEqual(keyOf(...keyArgs("203.0.113.1", {}, "a")), keyOf(...keyArgs("203.0.113.2", {}, "a")));
    assert.equal(keyOf(...keyArgs("203.0.113.1", {}, "a")), keyOf(...keyArgs("203.0.113.1", {}, "a")));
  });

  test("header:<name>: keyed by the header value (name case-insensitive), the IP when it is missing or empty, in separate key spaces", () => {
    const keyOf = policies.get("perKey")!.keyOf;
    const a = keyOf(...keyArgs("203.0.113.1", { "x-api-key": "alpha" }));
    assert.equal(keyOf(...keyArgs("203.0.113.2", { "x-api-key": "alpha" })), a, "same key, other IP: one budget");
    assert.notEqual(keyOf(...keyArgs("203.0.113.1", { "x-api-key": "beta" })), a);
    const byIp = keyOf(...keyArgs("203.0.113.1"));
    assert.notEqual(byIp, a);
    assert.equal(keyOf(...keyArgs("203.0.113.1", { "x-api-key": "" })), byIp, "an empty header counts as missing");
    assert.notEqual(keyOf(...keyArgs("203.0.113.3", { "x-api-key": "203.0.113.1" })), byIp, "a header value cannot pose as an address");
  });
});

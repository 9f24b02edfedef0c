// Quota leases without processes: "workers" are LeasedQuota instances whose channel reaches one QuotaHost
// (the primary's counters) after a macrotask, as IPC would. Checked: a shared limit admits exactly L per
// window however the requests are spread, the 429's reset is the window's, windows roll over, keys are
// independent, concurrent requests share one lease request, a primary that does not answer fails the
// request (store.onStoreFailure decides) without every later request waiting, and idle points come back.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, test } from "node:test";
import { LeasedQuota, type LeaseChannel, type LeaseTiming } from "../../../src/state/leased-quota.js";
import type { LimiterSpec } from "../../../src/state/limiters.js";
import { QuotaHost, type LeaseGrant } from "../../../src/state/quota-host.js";
import type { QuotaDecision } from "../../../src/state/quota.js";

const TIMING: LeaseTiming = { timeoutMs: 200, downMs: 300, sweepMs: 60_000, idleMs: 100 };

/** A channel to `host` that answers after a macrotask and counts what it was asked. */
class HostChannel implements LeaseChannel {
  leases = 0;
  givenBack = 0;
  readonly returned: Promise<boolean>[] = [];

  constructor(
    private readonly host: QuotaHost,
    private readonly spec: LimiterSpec,
  ) {}

  async lease(key: string, want: number): Promise<LeaseGrant> {
    this.leases++;
    await new Promise((resolve) => setImmediate(resolve));
    return this.host.lease(this.spec, key, want);
  }

  giveBack(key: string, points: number, endsAt: number): void {
    this.givenBack += points;
    this.returned.push(this.host.giveBack(this.spec, key, points, endsAt));
  }
}

function fleet(spec: LimiterSpec, workers: number, timing = TIMING) {
  const host = new QuotaHost(() => workers);
  const channels = Array.from({ length: workers }, () => new HostChannel(host, spec));
  const quotas = channels.map((channel) => new LeasedQuota(channel, timing));
  return { host, channels, quotas, close: () => quotas.forEach((quota) => quota.close()) };
}

function settle(decision: QuotaDecision | Promise<QuotaDecision>): Promise<QuotaDecision> {
  return Promise.resolve(decision);
}

/** `count` requests for `key`, round-robin over the workers, `concurrency` in flight at a time. */
async function hammer(quotas: readonly LeasedQuota[], key: string, count: number, concurrency: number): Promise<QuotaDecision[]> {
  const decisions: QuotaDecision[] = [];
  for (let sent = 0; sent < count; sent += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, count - sent) }, (_, i) => settle(quotas[(sent + i) % quotas.length]!.consume(key)));
    decisions.push(...(await Promise.all(batch)));
  }
  return decisions;
}

const kinds = (decisions: readonly QuotaDecision[], kind: QuotaDecision["kind"]) => decisions.filter((decision) => decision.kind === kind).length;

describe("LeasedQuota with a QuotaHost", () => {
  test("a limit of L across 2 workers admits exactly L, whatever the concurrency", async () => {
    for (const [limit, concurrency] of [
      [20, 5],
      [100, 1],
      [100, 50],
      [1, 8],
    ] as const) {
      const { quotas, close } = fleet({ name: `rl:exact-${limit}-${concurrency}`, points: limit, windowMs: 30_000 }, 2);
      try {
        const decisions = await hammer(quotas, "k", limit * 3, concurrency);
        assert.equal(kinds(decisions, "allowed"), limit, `limit ${limit}, ${concurrency} at a time`);
        assert.equal(kinds(decisions, "limited"), limit * 2);
      } finally {
        close();
      }
    }
  });

  test("the fast path is synchronous while a lease lasts, and a 429 is answered locally", async () => {
    const { quotas, channels, close } = fleet({ name: "rl:sync", points: 1_000, windowMs: 10_000 }, 1);
    try {
      const first = quotas[0]!.consume("k");
      assert.ok(first instanceof Promise, "the first request waits for a lease");
      assert.equal((await first).kind, "allowed");
      // The first lease is 1 point, the next 2 (a worker's asks double while it spends whole leases).
      assert.equal((await settle(quotas[0]!.consume("k"))).kind, "allowed");
      const third = quotas[0]!.consume("k");
      assert.ok(!(third instanceof Promise), "then answered from the lease");
      assert.equal(third.kind, "allowed");
      // Spend the window: afterwards refusals come with no lease request at all.
      await hammer(quotas, "k", 1_200, 10);
      const asked = channels[0]!.leases;
      const refused = quotas[0]!.consume("k");
      assert.ok(!(refused instanceof Promise));
      assert.equal(refused.kind, "limited");
      assert.ok(refused.kind === "limited" && refused.resetMs > 9_000 && refused.resetMs <= 10_000, `resetMs ${refused.kind === "limited" ? refused.resetMs : "?"}`);
      for (let i = 0; i < 100; i++) quotas[0]!.consume("k");
      assert.equal(channels[0]!.leases, asked, "no lease request while exhausted");
      assert.ok(asked < 40, `lease requests for 1,000 points: ${asked}`);
    } finally {
      close();
    }
  });

  test("remaining counts down to 0 within the window, and keys are independent", async () => {
    const { quotas, close } = fleet({ name: "rl:keys", points: 4, windowMs: 10_000 }, 2);
    try {
      const a = await hammer(quotas, "a", 6, 1);
      assert.deepEqual(a.map((decision) => decision.kind), ["allowed", "allowed", "allowed", "allowed", "limited", "limited"]);
      const last = a[3]!;
      assert.ok(last.kind === "allowed" && last.remaining === 0, JSON.stringify(last));
      const b = await hammer(quotas, "b", 6, 1);
      assert.equal(kinds(b, "allowed"), 4, "key b has its own budget");
    } finally {
      close();
    }
  });

  test("the window resets: L again in the next window, and the 429's reset is the window's end", async () => {
    const { quotas, close } = fleet({ name: "rl:roll", points: 10, windowMs: 1_000 }, 2);
    try {
      const started = Date.now();
      const first = await hammer(quotas, "k", 30, 4);
      assert.equal(kinds(first, "allowed"), 10);
      const limited = first.find((decision) => decision.kind === "limited");
      assert.ok(limited?.kind === "limited");
      const elapsed = Date.now() - started;
      assert.ok(limited.resetMs <= 1_000 && limited.resetMs > 1_000 - elapsed - 50, `resetMs ${limited.resetMs} after ${elapsed} ms`);
      await sleep(limited.resetMs + 20);
      const second = await hammer(quotas, "k", 30, 4);
      assert.equal(kinds(second, "allowed"), 10, "a fresh window");
    } finally {
      close();
    }
  });

  test("concurrent requests for a key with an empty lease wait for one lease request", async () => {
    const { quotas, channels, close } = fleet({ name: "rl:flight", points: 1_000, windowMs: 10_000 }, 1);
    try {
      const decisions = await Promise.all(Array.from({ length: 8 }, () => settle(quotas[0]!.consume("k"))));
      assert.equal(kinds(decisions, "allowed"), 8);
      // The first ask is 1 point: one request for it, then the 7 still waiting share the next ones.
      assert.ok(channels[0]!.leases <= 4, `lease requests: ${channels[0]!.leases}`);
      channels[0]!.leases = 0;
      const more = await Promise.all(Array.from({ length: 50 }, () => settle(quotas[0]!.consume("other"))));
      assert.equal(kinds(more, "allowed"), 50);
      assert.ok(channels[0]!.leases <= 8, `50 concurrent requests on a new key: ${channels[0]!.leases} lease requests`);
    } finally {
      close();
    }
  });

  test("idle leased points are given back and another worker can spend them; expired keys are swept", async () => {
    const { quotas, channels, close } = fleet({ name: "rl:idle", points: 100, windowMs: 30_000 }, 2);
    try {
      // Worker 0 takes leases while it serves 30 requests; then its client moves to worker 1.
      const onZero = await hammer([quotas[0]!], "k", 30, 1);
      assert.equal(kinds(onZero, "allowed"), 30);
      await sleep(TIMING.idleMs + 20);
      quotas[0]!.sweep();
      await Promise.all(channels[0]!.returned);
      assert.ok(channels[0]!.givenBack > 0, "worker 0 gave back what it held");
      const onOne = await hammer([quotas[1]!], "k", 100, 1);
      assert.equal(kinds(onOne, "allowed"), 70, "all 100 points were spent in the window");
      // A window that ended is dropped at the next sweep.
      quotas[0]!.sweep(Date.now() + 31_000);
      assert.equal(quotas[0]!.size, 0);
    } finally {
      close();
    }
  });
});

describe("QuotaHost", () => {
  test("never grants past the limit, answers 'exhausted until the window ends' with no points", async () => {
    const host = new QuotaHost(() => 2);
    const spec = { name: "rl:host", points: 10, windowMs: 5_000 };
    const grants = await Promise.all(Array.from({ length: 30 }, () => host.lease(spec, "k", 4)));
    assert.equal(
      grants.reduce((sum, grant) => sum + grant.points, 0),
      10,
    );
    const last = grants.at(-1)!;
    assert.equal(last.points, 0);
    assert.ok(last.endsAt > Date.now() + 4_000 && last.endsAt <= Date.now() + 5_000);
    assert.ok(grants.every((grant) => grant.endsAt === grants[0]!.endsAt || Math.abs(grant.endsAt - grants[0]!.endsAt) < 5), "one window");
  });

  test("a give-back is credited only to the window it was leased from", async () => {
    const host = new QuotaHost(() => 1);
    const spec = { name: "rl:back", points: 4, windowMs: 1_000 };
    const grant = await host.lease(spec, "k", 100);
    assert.equal(grant.points, 2, "half of 4 for one worker");
    assert.equal(await host.giveBack(spec, "k", 2, grant.endsAt), true);
    assert.equal((await host.lease(spec, "k", 100)).left, 2, "the 2 points came back");
    assert.equal(await host.giveBack(spec, "k", 2, grant.endsAt - 800), false, "another window's points are refused");
    await sleep(grant.endsAt - Date.now() + 20);
    await host.lease(spec, "k", 1);
    assert.equal(await host.giveBack(spec, "k", 1, grant.endsAt), false, "points of an ended window are not credited to the next");
  });
});

describe("LeasedQuota when the primary does not answer", () => {
  test("the request fails as store-unavailable after the timeout, and keys without points fail at once for downMs", async () => {
    let asked = 0;
    const silent: LeaseChannel = {
      lease: () => {
        asked++;
        return new Promise<never>(() => {});
      },
      giveBack: () => {},
    };
    const quota = new LeasedQuota(silent, TIMING);
    try {
      const started = Date.now();
      const decisions = await Promise.all([settle(quota.consume("k")), settle(quota.consume("k"))]);
      const took = Date.now() - started;
      assert.deepEqual(decisions.map((decision) => decision.kind), ["store-unavailable", "store-unavailable"]);
      assert.ok(took >= TIMING.timeoutMs - 5 && took < TIMING.timeoutMs + 200, `failed after ${took} ms`);
      assert.equal(asked, 1, "one lease request for both");
      const next = quota.consume("other");
      assert.ok(!(next instanceof Promise) && next.kind === "store-unavailable", "no wait while the primary is known down");
      assert.equal(asked, 1);
      await sleep(TIMING.downMs + 20);
      void quota.consume("other");
      assert.equal(asked, 2, "asked again after downMs");
    } finally {
      quota.close();
    }
  });

  test("a failing channel is store-unavailable carrying the error", async () => {
    const failing: LeaseChannel = { lease: () => Promise.reject(new Error("channel closed")), giveBack: () => {} };
    const quota = new LeasedQuota(failing, TIMING);
    try {
      const decision = await settle(quota.consume("k"));
      assert.ok(decision.kind === "store-unavailable" && decision.error instanceof Error && /channel closed/.test(decision.error.message));
    } finally {
      quota.close();
    }
  });
});

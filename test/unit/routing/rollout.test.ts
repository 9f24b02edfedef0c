// A progressive rollout's decision for one interval (issue 13, part 2; DESIGN.md "Contract, second
// round": `rollout`), as the pure function the fleet's judge calls: fewer than minRequests responses from
// `to` leave the record as it was (but say why); a healthy interval steps by stepWeight up to maxWeight,
// then promotes; an unhealthy one (success rate under minSuccessRate, or p99 over maxP99Latency even with
// every response a success) counts a failure, and failureThreshold of them roll back. And figuresOf, which
// turns the counts every instance adds up ([responses, non-5xx, one per latency bucket...]) into figures.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { RolloutConfig } from "../../../src/config/schema.js";
import { COUNTS_LENGTH, decide, figuresOf, LATENCY_BOUNDS_MS, type IntervalFigures } from "../../../src/routing/rollout.js";
import type { RolloutRecord } from "../../../src/state/rollout-store.js";

const config: RolloutConfig = {
  from: "v1",
  to: "v2",
  stepWeight: 20,
  maxWeight: 50,
  interval: 1_000,
  minRequests: 10,
  minSuccessRate: 99,
  maxP99Latency: 100,
  failureThreshold: 3,
};

const STARTED = "2026-12-01T10:00:00.000Z";
const NOW = new Date("2026-12-01T10:05:00.000Z");

function record(keys: Partial<RolloutRecord> = {}): RolloutRecord {
  return { route: "web", from: "v1", to: "v2", weight: 10, state: "progressing", reason: "started", since: STARTED, failures: 0, ...keys };
}

const healthy: IntervalFigures = { requests: 200, successRate: 100, p99Ms: 50 };

/** Counts as the store keeps them: responses, non-5xx, then `ms → how many` in the buckets holding each. */
function counts(requests: number, successes: number, latencies: Record<number, number>): number[] {
  const result = new Array<number>(COUNTS_LENGTH).fill(0);
  result[0] = requests;
  result[1] = successes;
  for (const [ms, count] of Object.entries(latencies)) {
    const bucket = LATENCY_BOUNDS_MS.findIndex((bound) => Number(ms) <= bound);
    result[2 + bucket]! += count;
  }
  return result;
}

describe("decide", () => {
  test("fewer than minRequests responses: inconclusive, the record unchanged but for a reason that says so", () => {
    const before = record({ weight: 30, failures: 1, reason: "step to 30%: ..." });
    // Figures that would fail the interval twice over: still inconclusive, no failure counted.
    const { result, record: after } = decide(config, before, { requests: 9, successRate: 0, p99Ms: 5_000 }, NOW);
    assert.equal(result, "inconclusive");
    const { reason, ...rest } = after;
    const { reason: _before, ...restBefore } = before;
    assert.deepEqual(rest, restBefore, "weight, state, failures and since stay as they were");
    assert.match(reason, /^inconclusive: /);
    assert.match(reason, /\b9 responses\b/);
    assert.match(reason, /fewer than 10/);

    const none = decide(config, before, { requests: 0, successRate: 100, p99Ms: 0 }, NOW);
    assert.equal(none.result, "inconclusive", "an interval without a single response is inconclusive too");
    assert.equal(none.record.weight, 30);
  });

  test("exactly minRequests responses are judged; minRequests 0 judges an empty interval", () => {
    assert.equal(decide(config, record(), { ...healthy, requests: 10 }, NOW).result, "step");
    assert.equal(decide({ ...config, minRequests: 0 }, record(), { requests: 0, successRate: 100, p99Ms: 0 }, NOW).result, "step");
  });

  test("a healthy interval steps by stepWeight, the state and since unchanged", () => {
    const { result, record: after } = decide(config, record({ weight: 10 }), healthy, NOW);
    assert.equal(result, "step");
    assert.equal(after.weight, 30);
    assert.equal(after.state, "progressing");
    assert.equal(after.since, STARTED, "since is when the state last changed, and a step does not change it");
    assert.equal(after.failures, 0);
    assert.match(after.reason, /^step to 30%: 200 responses, 100\.00% successful, p99 ≤ 50 ms$/);
  });

  test("a step is capped at maxWeight", () => {
    const { result, record: after } = decide(config, record({ weight: 40 }), healthy, NOW);
    assert.equal(result, "step");
    assert.equal(after.weight, 50, "40 + 20 capped at maxWeight 50");
    assert.equal(after.state, "progressing");
  });

  test("a healthy interval at maxWeight promotes: weight 100, state promoted, since now, failures cleared", () => {
    const { result, record: after } = decide(config, record({ weight: 50, failures: 2 }), healthy, NOW);
    assert.equal(result, "promoted");
    assert.equal(after.weight, 100);
    assert.equal(after.state, "promoted");
    assert.equal(after.since, NOW.toISOString());
    assert.equal(after.failures, 0);
    assert.match(after.reason, /^promoted at 50%: /);
  });

  test("success rate and p99 exactly at their limits pass", () => {
    assert.equal(decide(config, record(), { requests: 100, successRate: 99, p99Ms: 100 }, NOW).result, "step");
  });

  test("a success rate under minSuccessRate fails the interval: failures + 1, weight and state kept", () => {
    const before = record({ weight: 30 });
    const { result, record: after } = decide(config, before, { requests: 100, successRate: 98, p99Ms: 10 }, NOW);
    assert.equal(result, "failed");
    assert.equal(after.failures, 1);
    assert.equal(after.weight, 30);
    assert.equal(after.state, "progressing");
    assert.equal(after.since, STARTED);
    assert.match(after.reason, /^failed interval 1 of 3: 100 responses, 98\.00% successful, p99 ≤ 10 ms \(needs ≥ 99% and p99 ≤ 100 ms\)$/);

    const second = decide(config, after, { requests: 100, successRate: 50, p99Ms: 10 }, NOW);
    assert.equal(second.result, "failed");
    assert.equal(second.record.failures, 2);
    assert.equal(second.record.weight, 30);
  });

  test("p99 over maxP99Latency fails the interval even with every response a success", () => {
    const { result, record: after } = decide(config, record({ weight: 30 }), { requests: 500, successRate: 100, p99Ms: 200 }, NOW);
    assert.equal(result, "failed");
    assert.equal(after.failures, 1);
    assert.equal(after.weight, 30);
    assert.match(after.reason, /100\.00% successful, p99 ≤ 200 ms/);
  });

  test("the failureThreshold-th failed interval rolls back: weight 0, state rolled-back, since now", () => {
    const { result, record: after } = decide(config, record({ weight: 30, failures: 2 }), { requests: 100, successRate: 0, p99Ms: 10 }, NOW);
    assert.equal(result, "rolled_back");
    assert.equal(after.weight, 0);
    assert.equal(after.state, "rolled-back");
    assert.equal(after.failures, 3);
    assert.equal(after.since, NOW.toISOString());
    assert.match(after.reason, /^rolled back after 3 failed intervals: /);

    const once = decide({ ...config, failureThreshold: 1 }, record({ weight: 30 }), { requests: 100, successRate: 100, p99Ms: 1_000 }, NOW);
    assert.equal(once.result, "rolled_back", "failureThreshold 1: the first failed interval rolls back");
    assert.equal(once.record.weight, 0);
  });

  test("the route, from and to of the record are kept by every decision", () => {
    const before = record({ route: "shop", from: "a", to: "b" });
    for (const figures of [healthy, { requests: 1, successRate: 100, p99Ms: 5 }, { requests: 100, successRate: 0, p99Ms: 5 }]) {
      const { record: after } = decide(config, before, figures, NOW);
      assert.deepEqual([after.route, after.from, after.to], ["shop", "a", "b"]);
    }
  });
});

describe("figuresOf", () => {
  test("p99 is the upper bound of the bucket holding the 99th percentile response", () => {
    // 100 responses: 98 fast, one at 150 ms, one at 900 ms. The 99th is the one at 150 ms (bucket ≤ 200).
    assert.deepEqual(figuresOf(counts(100, 100, { 3: 98, 150: 1, 900: 1 })), { requests: 100, successRate: 100, p99Ms: 200 });
    // 1,000 responses with 11 slow ones: the 990th is slow.
    assert.equal(figuresOf(counts(1_000, 1_000, { 20: 989, 2_500: 11 })).p99Ms, 3_000);
    // ...and with 10 slow ones it is not.
    assert.equal(figuresOf(counts(1_000, 1_000, { 20: 990, 2_500: 10 })).p99Ms, 25);
  });

  test("a latency on a bucket's bound belongs to that bucket; beyond the last finite bound, Infinity", () => {
    assert.equal(figuresOf(counts(10, 10, { 100: 10 })).p99Ms, 100);
    assert.equal(figuresOf(counts(10, 10, { 101: 10 })).p99Ms, 200);
    assert.equal(figuresOf(counts(2, 2, { 60_000: 2 })).p99Ms, Infinity);
  });

  test("one response: its own bucket", () => {
    assert.equal(figuresOf(counts(1, 1, { 400: 1 })).p99Ms, 500);
  });

  test("the success rate is the share of non-5xx responses, in percent", () => {
    const figures = figuresOf(counts(200, 150, { 5: 200 }));
    assert.equal(figures.requests, 200);
    assert.equal(figures.successRate, 75);
  });

  test("no responses (no counts at all, as a store answers for an interval nobody counted): 0 requests, 100%, p99 0", () => {
    assert.deepEqual(figuresOf([]), { requests: 0, successRate: 100, p99Ms: 0 });
    assert.deepEqual(figuresOf(new Array<number>(COUNTS_LENGTH).fill(0)), { requests: 0, successRate: 100, p99Ms: 0 });
  });

  test("counts cut short after the last non-zero bucket (as Redis hands them back) read as zeros", () => {
    // Redis keeps only the fields that were incremented: [responses, successes, bucket 0, bucket 1].
    assert.deepEqual(figuresOf([4, 4, 1, 3]), { requests: 4, successRate: 100, p99Ms: 10 });
  });

  test("feeds decide: a slow tail fails an interval whose every response succeeded", () => {
    const figures = figuresOf(counts(100, 100, { 10: 95, 300: 5 }));
    assert.equal(figures.p99Ms, 300);
    assert.equal(decide(config, record(), figures, NOW).result, "failed");
  });
});

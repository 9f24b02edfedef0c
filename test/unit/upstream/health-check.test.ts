// The pure parts of the health checker: rise/fall counting, jitter bounds, and probes refused before any
// network I/O (an aborted signal, a path Node will not send).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pino } from "pino";
import { firstProbeDelay, HealthChecker, nextProbeDelay, probe, riseFall, type RiseFallCounters } from "../../../src/upstream/health-check.js";
import { Target } from "../../../src/upstream/target.js";

const thresholds = { healthyThreshold: 2, unhealthyThreshold: 3 };

/** Feeds probe results (true = success) through riseFall and returns the health after each. */
function run(healthy: boolean, results: readonly boolean[], limits = thresholds): boolean[] {
  const counters: RiseFallCounters = { successes: 0, failures: 0 };
  return results.map((ok) => (healthy = riseFall(counters, healthy, ok, limits)));
}

describe("riseFall", () => {
  test("a healthy target falls on the unhealthyThreshold-th consecutive failure, not before", () => {
    assert.deepEqual(run(true, [false, false, false]), [true, true, false]);
  });

  test("a success between failures resets the fall streak", () => {
    assert.deepEqual(run(true, [false, false, true, false, false, true, false, false]), Array(8).fill(true));
  });

  test("an unhealthy target rises on the healthyThreshold-th consecutive success; a failure restarts the count", () => {
    assert.deepEqual(run(false, [true, false, true, true]), [false, false, false, true]);
  });

  test("thresholds of 1 flip on every result", () => {
    assert.deepEqual(run(true, [false, true, false], { healthyThreshold: 1, unhealthyThreshold: 1 }), [false, true, false]);
  });

  test("successes while healthy (and failures while unhealthy) change nothing and stay bounded", () => {
    const counters: RiseFallCounters = { successes: 0, failures: 0 };
    for (let i = 0; i < 1_000; i++) assert.equal(riseFall(counters, true, true, thresholds), true);
    assert.equal(counters.successes, 2);
    for (let i = 0; i < 1_000; i++) assert.equal(riseFall(counters, false, false, thresholds), false);
    assert.equal(counters.failures, 3);
  });
});

describe("probe scheduling", () => {
  test("the interval is jittered by ±10%", () => {
    assert.equal(nextProbeDelay(1_000, () => 0), 900);
    assert.equal(nextProbeDelay(1_000, () => 0.5), 1_000);
    assert.ok(Math.abs(nextProbeDelay(1_000, () => 0.999_999) - 1_100) < 0.01);
    for (let i = 0; i < 1_000; i++) {
      const delay = nextProbeDelay(5_000);
      assert.ok(delay >= 4_500 && delay <= 5_500, String(delay));
    }
  });

  test("the first probe falls anywhere within the first interval", () => {
    assert.equal(firstProbeDelay(5_000, () => 0), 0);
    assert.equal(firstProbeDelay(5_000, () => 0.5), 2_500);
    assert.ok(firstProbeDelay(5_000, () => 0.999_999) < 5_000);
  });
});

describe("probe without the network", () => {
  const config = { path: "/health", timeout: 1_000, expectStatus: { min: 200, max: 399 } };

  test("an already aborted signal resolves as a failure at once", async () => {
    const controller = new AbortController();
    controller.abort();
    assert.deepEqual(await probe(new URL("http://127.0.0.1:9"), config, controller.signal), { ok: false, reason: "aborted" });
  });

  test("a path Node refuses to send is a failure, not an exception", async () => {
    const outcome = await probe(new URL("http://127.0.0.1:9"), { ...config, path: "/he alth" });
    assert.deepEqual(outcome, { ok: false, reason: "ERR_UNESCAPED_CHARACTERS" });
  });
});

describe("HealthChecker lifecycle", () => {
  test("construction, start and stop leave a target's health alone; stop is idempotent", () => {
    const gauge: number[] = [];
    const target = new Target("api", "http://127.0.0.1:9", {
      upstreamDuration: { observe: () => {} },
      healthy: { set: (value: number) => void gauge.push(value) },
      breakerState: { set: () => {} },
      status5xx: { inc: () => {} },
    });
    target.healthy = false; // as a previous checker left it
    const config = { path: "/health", grpc: false, interval: 60_000, timeout: 1_000, healthyThreshold: 2, unhealthyThreshold: 3, expectStatus: { min: 200, max: 399 } };
    const checker = new HealthChecker("api", config, [target, target], pino({ level: "silent" }));
    assert.equal(checker.targets.length, 1, "a target listed twice is probed once");
    checker.stop();
    checker.start();
    assert.equal(checker.running, true);
    checker.stop();
    checker.stop();
    assert.equal(checker.running, false);
    assert.equal(target.healthy, false);
    assert.deepEqual(gauge, [1]);
  });
});

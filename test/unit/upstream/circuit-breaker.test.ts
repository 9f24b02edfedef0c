// The breaker decides on counts: opossum's defaults would, once per bucket, concatenate every latency of
// the window and sort them (rolling percentiles) for a "snapshot" event nobody reads, a cost that grows
// with the request rate. Checked on a real opossum breaker through Rampart's own settings.
import assert from "node:assert/strict";
import type { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import { silentLogger } from "../../../src/observability/logger.js";
import { GatewayMetrics } from "../../../src/observability/metrics.js";
import { configureBreaker, throughBreaker } from "../../../src/upstream/circuit-breaker.js";
import { Target } from "../../../src/upstream/target.js";

const quiet = { observe() {}, set() {}, inc() {} };

describe("configureBreaker", () => {
  test("10,000 successful attempts are counted; no percentiles are computed and no snapshot is taken", async () => {
    const target = new Target("api", "http://127.0.0.1:1", { upstreamDuration: quiet, healthy: quiet, breakerState: quiet, status5xx: quiet });
    // A 1 s window: opossum would take a snapshot every 100 ms.
    const config = { errorThresholdPercentage: 50, volumeThreshold: 20, window: 1_000, resetTimeout: 30_000 };
    configureBreaker(target, config, new GatewayMetrics({ defaultMetrics: false }), silentLogger);
    const breaker = target.breaker!;
    let snapshots = 0;
    // Through the EventEmitter type: opossum's typings do not list "snapshot".
    const events: EventEmitter = breaker;
    events.on("snapshot", () => snapshots++);
    try {
      for (let i = 0; i < 10_000; i++) throughBreaker(target, (settle) => settle());
      await new Promise((resolve) => setTimeout(resolve, 250));
      const stats = breaker.stats;
      assert.equal(stats.successes, 10_000);
      assert.deepEqual(stats.latencyTimes, [], "no latencies gathered for percentiles");
      assert.equal(snapshots, 0, "no snapshot taken");
      assert.equal(breaker.closed, true);
    } finally {
      breaker.shutdown();
    }
  });
});

// Merging the workers' /api/status reports into the fleet's (the cluster primary's GET /api/status), and
// the config history the status reports.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fleetStatus, mergeStatusReports, type PrimaryView, type RouteStatus, type StatusReport, type TargetStatus } from "../../../src/admin/admin-status.js";
import { ConfigHistory } from "../../../src/admin/config-history.js";
import { loadConfigText } from "../../../src/config/load.js";
import type { Config } from "../../../src/config/schema.js";
import { stringify } from "yaml";

/** A config from an object, through the real loader (defaults applied). */
const parseConfig = (config: Record<string, unknown>): Config => loadConfigText(stringify(config), "test.yaml", {});

const history = new ConfigHistory(parseConfig({}));

const target = (over: Partial<TargetStatus>): TargetStatus => ({
  target: "10.0.0.1:80",
  url: "http://10.0.0.1:80",
  weight: 1,
  healthy: true,
  breaker: "closed",
  inFlight: 0,
  lastError: null,
  tls: { errors: 0, lastError: null, lastErrorAt: null },
  recent: null,
  ...over,
});

const route = (over: Partial<RouteStatus>): RouteStatus => ({
  name: "app",
  host: null,
  pathPrefix: "/",
  methods: null,
  service: "app",
  respond: null,
  split: null,
  sticky: null,
  rollout: null,
  rateLimit: "tight",
  jails: [],
  faults: false,
  inFlight: 0,
  requestsTotal: 0,
  recent: null,
  ...over,
});

function report(pid: number, over: { targets: TargetStatus[]; route: RouteStatus; rejections: [number, number | null]; bans: [number, number | null]; storeUp: boolean | null; window: number }): StatusReport {
  return {
    generatedAt: "2026-01-01T00:00:00.000Z",
    instance: { pid, worker: pid - 100, uptimeSeconds: 5, node: "v24.0.0", version: "1.0.0" },
    recentWindowSeconds: over.window,
    config: history.status(),
    routes: [over.route],
    services: [{ name: "app", protocol: "http1", balancer: "round-robin", healthCheck: null, circuitBreaker: false, targets: over.targets }],
    bans: { active: 1, truncated: false, list: [{ ip: "203.0.113.9", jail: "manual", until: "2026-01-01T01:00:00.000Z", reason: "r" }] },
    certificates: [],
    rateLimits: [{ policy: "tight", route: "app", limit: 1, windowMs: 1000, key: "ip", rejectionsTotal: over.rejections[0], rejectionsPerSecond: over.rejections[1] }],
    jails: [{ name: "manual", maxRetry: null, findTimeMs: null, banTimeMs: null, bansTotal: over.bans[0], bansPerSecond: over.bans[1] }],
    store: { kind: "memory", up: over.storeUp, onStoreFailure: "open" },
    workers: null,
  };
}

const primary: PrimaryView = {
  pid: 42,
  uptimeSeconds: 99,
  config: { ...history.status(), generation: 7 },
  workers: [
    { index: 0, pid: 100, state: "ready", recentCrashes: 0 },
    { index: 1, pid: 101, state: "ready", recentCrashes: 1 },
  ],
};

test("the fleet's report: health as every worker sees it, rates and counts summed, the primary's config and workers", () => {
  const merged = mergeStatusReports(
    [
      report(100, {
        targets: [target({ inFlight: 1, recent: { requestsPerSecond: 10, errorsPerSecond: 1, meanLatencyMs: 20 } }), target({ target: "10.0.0.2:80", breaker: "half-open" })],
        route: route({ inFlight: 2, requestsTotal: 100, recent: { requestsPerSecond: 10, errorsPerSecond: 1, meanLatencyMs: 20 } }),
        rejections: [3, 0.5],
        bans: [1, null],
        storeUp: true,
        window: 9,
      }),
      report(101, {
        targets: [
          target({ healthy: false, inFlight: 2, lastError: "health check: ECONNREFUSED", recent: { requestsPerSecond: 30, errorsPerSecond: 0, meanLatencyMs: 40 } }),
          target({ target: "10.0.0.2:80", breaker: "open" }),
        ],
        route: route({ inFlight: 1, requestsTotal: 50, recent: { requestsPerSecond: 30, errorsPerSecond: 2, meanLatencyMs: 40 } }),
        rejections: [4, 1],
        bans: [2, 0.25],
        storeUp: false,
        window: 10,
      }),
    ],
    primary,
  );
  assert.deepEqual(merged.instance, { pid: 42, worker: null, uptimeSeconds: 99, node: "v24.0.0", version: "1.0.0" });
  assert.equal(merged.recentWindowSeconds, 10);
  assert.equal(merged.config.generation, 7);
  assert.deepEqual(merged.workers, primary.workers);
  assert.deepEqual(merged.routes[0], route({ inFlight: 3, requestsTotal: 150, recent: { requestsPerSecond: 40, errorsPerSecond: 3, meanLatencyMs: 35 } }));
  assert.deepEqual(merged.services[0]!.targets, [
    target({ healthy: false, inFlight: 3, lastError: "health check: ECONNREFUSED", recent: { requestsPerSecond: 40, errorsPerSecond: 1, meanLatencyMs: 35 }, workers: { reporting: 2, healthy: 1 } }),
    target({ target: "10.0.0.2:80", breaker: "open", workers: { reporting: 2, healthy: 2 } }),
  ]);
  assert.deepEqual([merged.rateLimits[0]!.rejectionsTotal, merged.rateLimits[0]!.rejectionsPerSecond], [7, 1.5]);
  assert.deepEqual([merged.jails[0]!.bansTotal, merged.jails[0]!.bansPerSecond], [3, 0.25]);
  assert.equal(merged.store.up, false, "down in one worker is down");
  assert.equal(merged.bans.active, 1, "bans are shared: the first worker's list");
});

test("fleetStatus leaves out a worker that fails or does not answer in time, and is 503 with none", async () => {
  const one = report(100, { targets: [target({})], route: route({ requestsTotal: 5 }), rejections: [0, null], bans: [0, null], storeUp: true, window: 0 });
  const never = new Promise<never>(() => {});
  const reply = await fleetStatus([Promise.resolve({ status: 200, body: one }), Promise.reject(new Error("gone")), never], primary, 50);
  assert.equal(reply.status, 200);
  const body = reply.body as StatusReport;
  assert.equal(body.routes[0]!.requestsTotal, 5);
  assert.deepEqual(body.services[0]!.targets[0]!.workers, { reporting: 1, healthy: 1 });
  assert.deepEqual(await fleetStatus([Promise.reject(new Error("gone"))], primary, 50), { status: 503, body: { error: "no_worker_ready" } });
});

test("the config history: generations, the last reload, keys waiting for a restart unless the owner applies them", () => {
  const start = parseConfig({ workers: 2 });
  const kept = new ConfigHistory(start, (key) => key === "listen");
  assert.deepEqual([kept.status().generation, kept.status().lastReload, kept.status().pendingRestart], [1, null, []]);
  kept.failed(["routes.0.service: unknown service"]);
  assert.deepEqual([kept.status().generation, kept.status().lastReload?.ok, kept.status().lastReload?.problems], [1, false, ["routes.0.service: unknown service"]]);
  kept.reloaded(parseConfig({ workers: 3, listen: { http: "127.0.0.1:8081" } }), ["workers"]);
  assert.deepEqual([kept.status().generation, kept.status().lastReload?.ok, kept.status().pendingRestart], [2, true, ["workers"]]);
  kept.reloaded(parseConfig({ workers: 2 }), []);
  assert.deepEqual(kept.status().pendingRestart, [], "back to the value it started with: nothing waits");
});

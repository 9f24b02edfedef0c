// GET / and GET /api/status on the admin listener, without a browser: the page is served without the
// token and carries no data; /api/status needs the token, refuses browsers' cross-site requests, and
// answers one JSON document with everything the page shows (its shape is checked field by field), live
// rates once a second sample exists, and the config history across a rejected and an applied reload.
// With `workers: 2` the primary serves the page and merges every worker's report.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { StatusReport } from "../../../src/admin/admin-status.js";
import { request, type Response } from "../../helpers/client.js";
import { clusterFiles } from "../../helpers/cluster.js";
import { perTest } from "../../helpers/fixtures.js";
import type { ConfigObject } from "../../helpers/gateway.js";
import { startRampart } from "../../helpers/process.js";
import { eventually } from "../../helpers/proxy-tools.js";

const TOKEN = "status-api-token";
const auth = { authorization: `Bearer ${TOKEN}` };

const { backend, gateway, defer } = perTest({ onCleanupError: "log" });

function get(port: number, path: string, headers: Record<string, string> = auth): Promise<Response> {
  return request({ port, path, headers });
}

async function status(port: number): Promise<StatusReport> {
  const res = await get(port, "/api/status");
  assert.equal(res.status, 200, res.body);
  return res.json<StatusReport>();
}

function config(alphaUrl: string, betaUrl: string, extra: ConfigObject = {}): ConfigObject {
  return {
    adminToken: TOKEN,
    services: {
      alpha: {
        targets: [{ url: alphaUrl }, { url: "http://127.0.0.1:9" }],
        healthCheck: { path: "/", interval: "100ms", unhealthyThreshold: 1, healthyThreshold: 1 },
        circuitBreaker: {},
      },
      beta: { targets: [{ url: betaUrl }], balancer: "least-requests" },
    },
    rateLimits: { tight: { limit: 1, window: "1m" } },
    jails: { logins: { when: { status: [401] }, maxRetry: 3, banTime: "10m" } },
    routes: [
      { name: "limited", match: { pathPrefix: "/limited" }, service: "alpha", rateLimit: "tight" },
      { name: "split", match: { pathPrefix: "/" }, split: { services: { alpha: 80, beta: 20 } }, jails: ["logins"] },
    ],
    ...extra,
  };
}

describe("status page and /api/status, one process", () => {
  test("GET / is the page, served without the token, with no data and a strict Content-Security-Policy", async () => {
    const alpha = await backend();
    const beta = await backend();
    const gw = await gateway(config(alpha.url, beta.url));
    const page = await get(gw.adminPort, "/", {});
    assert.equal(page.status, 200);
    assert.equal(page.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(page.headers["cache-control"], "no-store");
    assert.equal(page.headers["x-content-type-options"], "nosniff");
    const csp = String(page.headers["content-security-policy"]);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/]+=*'(;|$)/, "only the page's own script runs");
    assert.match(csp, /connect-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(page.body, /^<!doctype html>/);
    assert.match(page.body, /<script>\(function statusPageScript\(\)/);
    // No data, and nothing loaded from anywhere else.
    assert.doesNotMatch(page.body, new RegExp(String(alpha.port)));
    assert.doesNotMatch(page.body, /alpha|beta/);
    assert.doesNotMatch(page.body, /\b(src|href)="(https?:)?\/\//);
    assert.doesNotMatch(page.body, /@import|url\(/);
    const head = await request({ port: gw.adminPort, path: "/", method: "HEAD" });
    assert.deepEqual([head.status, head.body], [200, ""]);
    assert.equal((await request({ port: gw.adminPort, path: "/", method: "POST" })).status, 404);
  });

  test("/api/status needs the token and refuses a browser's cross-site request", async () => {
    const alpha = await backend();
    const beta = await backend();
    const gw = await gateway(config(alpha.url, beta.url));
    assert.equal((await get(gw.adminPort, "/api/status", {})).status, 401);
    assert.equal((await get(gw.adminPort, "/api/status", { authorization: "Bearer nope" })).status, 401);
    for (const site of ["cross-site", "same-site"]) {
      const refused = await get(gw.adminPort, "/api/status", { ...auth, "sec-fetch-site": site });
      assert.deepEqual([refused.status, refused.json()], [403, { error: "cross_site_request" }], site);
    }
    const cross = await request({ port: gw.adminPort, path: "/api/bans", method: "POST", headers: { "sec-fetch-site": "cross-site", "content-type": "text/plain" }, body: '{"ip":"203.0.113.1","duration":"1h"}' });
    assert.equal(cross.status, 403, "a form on another site cannot ban");
    assert.equal((await get(gw.adminPort, "/api/status", { ...auth, "sec-fetch-site": "same-origin" })).status, 200);
  });

  test("/api/status: routes, services and targets, bans, certificates, limits, jails, store, config, in one JSON", async () => {
    const alpha = await backend();
    const beta = await backend();
    const gw = await gateway(config(alpha.url, beta.url));
    const first = await eventually(
      async () => {
        const report = await status(gw.adminPort);
        return report.services[0]?.targets[1]?.healthy === false ? report : undefined;
      },
      3_000,
      "the dead target found by its health check",
    );
    assert.deepEqual(Object.keys(first).sort(), ["bans", "certificates", "config", "generatedAt", "instance", "jails", "rateLimits", "recentWindowSeconds", "routes", "services", "store", "workers"]);
    assert.ok(Math.abs(Date.parse(first.generatedAt) - Date.now()) < 5_000);
    assert.deepEqual({ ...first.instance, uptimeSeconds: 0 }, { pid: process.pid, worker: null, uptimeSeconds: 0, node: process.version, version: first.instance.version });
    assert.equal(first.workers, null, "one process: no workers");

    assert.deepEqual(first.routes, [
      {
        name: "limited",
        host: null,
        pathPrefix: "/limited",
        methods: null,
        service: "alpha",
        respond: null,
        split: null,
        sticky: null,
        rollout: null,
        rateLimit: "tight",
        jails: [],
        faults: false,
        inFlight: 0,
        requestsTotal: 0,
        recent: first.routes[0]!.recent,
      },
      {
        name: "split",
        host: null,
        pathPrefix: "/",
        methods: null,
        service: null,
        respond: null,
        split: [
          { service: "alpha", weight: 80, configured: 80 },
          { service: "beta", weight: 20, configured: 20 },
        ],
        sticky: "none",
        rollout: null,
        rateLimit: null,
        jails: ["logins"],
        faults: false,
        inFlight: 0,
        requestsTotal: 0,
        recent: first.routes[1]!.recent,
      },
    ]);
    const [alphaStatus, betaStatus] = first.services;
    assert.deepEqual(
      { ...alphaStatus!, targets: alphaStatus!.targets.map((target) => ({ ...target, recent: null })) },
      {
        name: "alpha",
        protocol: "http1",
        balancer: "round-robin",
        healthCheck: { kind: "http", path: "/", intervalMs: 100 },
        circuitBreaker: true,
        targets: [
          { target: `127.0.0.1:${alpha.port}`, url: alpha.url, weight: 1, healthy: true, breaker: "closed", inFlight: 0, lastError: null, tls: { errors: 0, lastError: null, lastErrorAt: null }, recent: null },
          { target: "127.0.0.1:9", url: "http://127.0.0.1:9", weight: 1, healthy: false, breaker: "closed", inFlight: 0, lastError: alphaStatus!.targets[1]!.lastError, tls: { errors: 0, lastError: null, lastErrorAt: null }, recent: null },
        ],
      },
    );
    assert.match(alphaStatus!.targets[1]!.lastError ?? "", /ECONNREFUSED/);
    assert.deepEqual([betaStatus!.name, betaStatus!.balancer, betaStatus!.healthCheck, betaStatus!.circuitBreaker, betaStatus!.targets.length], ["beta", "least-requests", null, false, 1]);
    assert.deepEqual(first.bans, { active: 0, truncated: false, list: [] });
    const localhost = first.certificates.find((cert) => cert.domain === "localhost");
    assert.deepEqual([localhost?.source, localhost?.nextRenewal], ["self-signed", null]);
    assert.deepEqual(first.rateLimits, [{ policy: "tight", route: "limited", limit: 1, windowMs: 60_000, key: "ip", rejectionsTotal: 0, rejectionsPerSecond: first.rateLimits[0]!.rejectionsPerSecond }]);
    assert.deepEqual(first.jails, [{ name: "logins", maxRetry: 3, findTimeMs: 600_000, banTimeMs: 600_000, bansTotal: 0, bansPerSecond: first.jails[0]!.bansPerSecond }]);
    assert.deepEqual(first.store, { kind: "memory", up: true, onStoreFailure: "open" });
    assert.deepEqual({ ...first.config, loadedAt: "", startedAt: "" }, { generation: 1, loadedAt: "", startedAt: "", lastReload: null, pendingRestart: [], restartOnlyKeys: first.config.restartOnlyKeys });
    assert.ok(first.config.restartOnlyKeys.includes("listen") && first.config.restartOnlyKeys.includes("store"));

    // Traffic, a rate-limit rejection and a ban: the next report counts them, with rates over the window.
    for (let i = 0; i < 3; i++) await request({ port: gw.httpsPort, path: "/limited/x", tls: true });
    for (let i = 0; i < 4; i++) await request({ port: gw.httpsPort, path: "/page", tls: true });
    const banned = await request({ port: gw.adminPort, path: "/api/bans", method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ ip: "203.0.113.50", duration: "1h", reason: "testing" }) });
    assert.equal(banned.status, 201, banned.body);
    await sleep(600);
    const second = await status(gw.adminPort);
    assert.ok(second.recentWindowSeconds >= 0.5, `window ${second.recentWindowSeconds}`);
    const limited = second.routes.find((route) => route.name === "limited")!;
    const split = second.routes.find((route) => route.name === "split")!;
    assert.deepEqual([limited.requestsTotal, split.requestsTotal], [3, 4]);
    assert.ok(limited.recent !== null && limited.recent.requestsPerSecond > 0, JSON.stringify(limited.recent));
    assert.ok(split.recent !== null && split.recent.requestsPerSecond > 0 && split.recent.meanLatencyMs !== null && split.recent.errorsPerSecond === 0, JSON.stringify(split.recent));
    const alphaTarget = second.services[0]!.targets[0]!;
    assert.ok(alphaTarget.recent !== null && alphaTarget.recent.requestsPerSecond > 0 && alphaTarget.recent.meanLatencyMs !== null, JSON.stringify(alphaTarget.recent));
    assert.equal(second.rateLimits[0]!.rejectionsTotal, 2);
    assert.ok((second.rateLimits[0]!.rejectionsPerSecond ?? 0) > 0);
    assert.equal(second.bans.active, 1);
    assert.deepEqual({ ...second.bans.list[0]!, until: "" }, { ip: "203.0.113.50", jail: "manual", until: "", reason: "testing" });
    assert.deepEqual(
      second.jails.map((jail) => [jail.name, jail.bansTotal]),
      [
        ["logins", 0],
        ["manual", 1],
      ],
    );
  });

  test("/api/status: the config generation, the last reload's result and the keys waiting for a restart", async () => {
    const alpha = await backend();
    const beta = await backend();
    const gw = await gateway(config(alpha.url, beta.url));
    await gw.writeConfig({ ...config(alpha.url, beta.url), routes: [{ name: "broken", service: "missing" }] });
    assert.equal((await request({ port: gw.adminPort, path: "/api/reload", method: "POST", headers: auth })).status, 422);
    const rejected = (await status(gw.adminPort)).config;
    assert.equal(rejected.generation, 1);
    assert.equal(rejected.lastReload?.ok, false);
    assert.match(rejected.lastReload?.problems.join("\n") ?? "", /unknown service "missing"/);

    await gw.writeConfig(config(alpha.url, beta.url, { bans: { ipv6Prefix: 56 } }));
    assert.equal((await request({ port: gw.adminPort, path: "/api/reload", method: "POST", headers: auth })).status, 200);
    const applied = (await status(gw.adminPort)).config;
    assert.equal(applied.generation, 2);
    assert.deepEqual([applied.lastReload?.ok, applied.lastReload?.restartRequired, applied.lastReload?.problems], [true, ["bans"], []]);
    assert.deepEqual(applied.pendingRestart, ["bans"]);
    assert.ok(Date.parse(applied.loadedAt) >= Date.parse(applied.startedAt));

    // A later reload that changes nothing restart-only still leaves "bans" waiting for the restart.
    await gw.writeConfig(config(alpha.url, beta.url, { bans: { ipv6Prefix: 56 }, log: { level: "warn" } }));
    assert.equal((await request({ port: gw.adminPort, path: "/api/reload", method: "POST", headers: auth })).status, 200);
    const later = (await status(gw.adminPort)).config;
    assert.deepEqual([later.generation, later.lastReload?.restartRequired, later.pendingRestart], [3, [], ["bans"]]);
  });
});

describe("status page and /api/status with workers: 2", { timeout: 60_000 }, () => {
  test("the primary serves the page and merges every worker's report, with its workers and reloads", async () => {
    const alpha = await backend();
    const beta = await backend();
    const setup = await clusterFiles();
    defer(() => setup.remove());
    await setup.write({ ...config(alpha.url, beta.url), workers: 2 });
    const rampart = await startRampart(setup.configFile);
    defer(() => rampart.killTree());

    const page = await get(setup.adminPort, "/", {});
    assert.equal(page.status, 200);
    assert.match(page.body, /<title>Rampart status<\/title>/);
    assert.equal((await get(setup.adminPort, "/api/status", {})).status, 401);

    const report = await eventually(
      async () => {
        const each = await status(setup.adminPort);
        const dead = each.services[0]?.targets.find((target) => target.target === "127.0.0.1:9");
        return dead?.workers?.reporting === 2 && dead.workers.healthy === 0 ? each : undefined;
      },
      10_000,
      "both workers reporting the dead target down",
      100,
    );
    assert.equal(report.instance.pid, rampart.pid, "the primary speaks for the fleet");
    assert.equal(report.instance.worker, null);
    assert.deepEqual(
      report.workers?.map((worker) => [worker.index, worker.state, worker.recentCrashes]),
      [
        [0, "ready", 0],
        [1, "ready", 0],
      ],
    );
    assert.deepEqual(report.workers?.map((worker) => worker.pid).sort((a, b) => (a ?? 0) - (b ?? 0)), rampart.workerPids());
    const alive = report.services[0]!.targets.find((target) => target.target === `127.0.0.1:${alpha.port}`)!;
    assert.deepEqual([alive.healthy, alive.workers], [true, { reporting: 2, healthy: 2 }]);
    assert.deepEqual(
      report.routes.map((route) => route.name),
      ["limited", "split"],
    );
    assert.deepEqual(report.store, { kind: "memory", up: true, onStoreFailure: "open" });

    // Requests spread over both workers are counted once each in the merged report.
    for (let i = 0; i < 6; i++) await request({ port: setup.httpsPort, path: "/page", tls: true });
    const counted = await eventually(async () => {
      const each = await status(setup.adminPort);
      return each.routes.find((route) => route.name === "split")?.requestsTotal === 6 ? each : undefined;
    }, 5_000, "6 requests counted");
    assert.ok(counted.recentWindowSeconds > 0);

    // Bans are shared: one added through the primary shows once.
    const banned = await request({ port: setup.adminPort, path: "/api/bans", method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ ip: "203.0.113.60", duration: "1h" }) });
    assert.equal(banned.status, 201, banned.body);
    const withBan = await eventually(async () => {
      const each = await status(setup.adminPort);
      return each.bans.active === 1 ? each : undefined;
    }, 3_000, "the ban listed");
    assert.equal(withBan.bans.list[0]?.ip, "203.0.113.60");

    // The primary's reloads: generation and result.
    assert.equal(withBan.config.generation, 1);
    await setup.write({ ...config(alpha.url, beta.url), workers: 2, routes: [{ name: "broken", service: "missing" }] });
    assert.equal((await request({ port: setup.adminPort, path: "/api/reload", method: "POST", headers: auth })).status, 422);
    assert.deepEqual([(await status(setup.adminPort)).config.generation, (await status(setup.adminPort)).config.lastReload?.ok], [1, false]);
    await setup.write({ ...config(alpha.url, beta.url), workers: 2, bans: { ipv6Prefix: 56 } });
    assert.equal((await request({ port: setup.adminPort, path: "/api/reload", method: "POST", headers: auth })).status, 200);
    const reloaded = (await status(setup.adminPort)).config;
    assert.deepEqual([reloaded.generation, reloaded.lastReload?.ok, reloaded.pendingRestart], [2, true, ["bans"]]);
    assert.deepEqual(await rampart.stop(), { code: 0, signal: null });
  });
});

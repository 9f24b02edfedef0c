// Upstream state across config reloads, as an operator sees it in /api/upstreams and /metrics: a reload
// that keeps a service (or changes it but keeps a target) keeps each kept target's health and breaker
// state, so a failing backend is not handed traffic again and a healthy one is not ejected until its
// next probe; a target the reload removes disappears from /api/upstreams and /metrics, and one it adds
// starts healthy.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { listUpstreams, reloadConfig } from "../../helpers/admin-api.js";
import { freePort, type Backend } from "../../helpers/backend.js";
import { request, type Response } from "../../helpers/client.js";
import { perTest } from "../../helpers/fixtures.js";
import type { TestGateway } from "../../helpers/gateway.js";
import { eventually, fetchMetrics, metricSample } from "../../helpers/proxy-tools.js";

const { backend, gateway } = perTest();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** /api/upstreams reduced to what a reload must keep: target → "healthy|breaker". */
async function states(gw: TestGateway): Promise<Map<string, string>> {
  return new Map((await listUpstreams(gw.adminPort)).map((u) => [`${u.service} ${u.target}`, `${u.healthy ? "healthy" : "unhealthy"}|${u.breaker}`]));
}

async function sequential(gw: TestGateway, count: number, path: string): Promise<Response[]> {
  const responses: Response[] = [];
  for (let i = 0; i < count; i++) responses.push(await request({ port: gw.httpsPort, tls: true, path: `${path}/${i}` }));
  return responses;
}

const fastChecks = { path: "/health", interval: "100ms", timeout: "200ms", healthyThreshold: 2, unhealthyThreshold: 2 };
const breaker = { errorThresholdPercentage: 50, volumeThreshold: 3, window: "10s", resetTimeout: "60s" };

describe("upstream state across reloads", () => {
  test("an open breaker and an unhealthy target stay so across reloads; a removed target leaves /api/upstreams; an added one starts healthy", async () => {
    // Passes its health checks but answers every real request with a 500.
    const flaky = await backend((req, res) => res.writeHead(req.url === "/health" ? 200 : 500).end());
    const good = await backend();
    const deadKept = await freePort();
    const deadRemoved = await freePort();
    const key = (port: number) => `app 127.0.0.1:${port}`;
    const label = (port: number) => ({ service: "app", target: `127.0.0.1:${port}` });

    const service = (targets: readonly string[]) => ({
      targets: targets.map((url) => ({ url })),
      healthCheck: fastChecks,
      circuitBreaker: breaker,
      retry: { attempts: 2, budget: 100 },
    });
    const initial = service([flaky.url, good.url, `http://127.0.0.1:${deadKept}`, `http://127.0.0.1:${deadRemoved}`]);
    const route = { name: "app", match: { pathPrefix: "/" }, service: "app" };
    const gw = await gateway({ services: { app: initial }, routes: [route] });

    // Both closed ports fail their probes; then 500s open the flaky target's breaker.
    await eventually(async () => {
      const now = await states(gw);
      return now.get(key(deadKept)) === "unhealthy|closed" && now.get(key(deadRemoved)) === "unhealthy|closed" ? true : undefined;
    }, 3_000, "the closed ports to be marked unhealthy", 20);
    await sequential(gw, 10, "/warm");
    const before = await states(gw);
    assert.deepEqual(
      before,
      new Map([
        [key(flaky.port), "healthy|open"],
        [key(good.port), "healthy|closed"],
        [key(deadKept), "unhealthy|closed"],
        [key(deadRemoved), "unhealthy|closed"],
      ]),
    );

    // Reload 1: the same service, one more route. Nothing about the targets changes.
    await reloadConfig(gw, { services: { app: initial }, routes: [{ name: "extra", match: { pathPrefix: "/extra" }, service: "app" }, route] });
    assert.deepEqual(await states(gw), before, "state right after the reload");
    let metrics = await fetchMetrics(gw.adminPort);
    assert.equal(metricSample(metrics, "rampart_circuit_breaker_state", label(flaky.port)), 2);
    assert.equal(metricSample(metrics, "rampart_upstream_healthy", label(deadKept)), 0);
    // The new route works, and only the one eligible target serves it.
    const traffic = (b: Backend) => b.requests.filter((r) => r.url !== "/health").length;
    const goodBefore = traffic(good);
    const flakyBefore = traffic(flaky);
    const extra = await sequential(gw, 6, "/extra");
    assert.deepEqual(
      extra.map((r) => r.status),
      [200, 200, 200, 200, 200, 200],
    );
    assert.equal(traffic(good) - goodBefore, 6);
    assert.equal(traffic(flaky), flakyBefore, "the open breaker still keeps requests away");
    // A few probe intervals later the kept checker has not reset anything either.
    await sleep(350);
    assert.deepEqual(await states(gw), before, "state a few probes after the reload");

    // Reload 2: the service changes (one closed port removed, a new backend added). Kept targets keep state.
    const newcomer = await backend();
    const changed = service([flaky.url, good.url, `http://127.0.0.1:${deadKept}`, newcomer.url]);
    await reloadConfig(gw, { services: { app: changed }, routes: [route] });
    const afterChange = new Map([
      [key(flaky.port), "healthy|open"],
      [key(good.port), "healthy|closed"],
      [key(deadKept), "unhealthy|closed"],
      [key(newcomer.port), "healthy|closed"],
    ]);
    assert.deepEqual(await states(gw), afterChange, "the removed target is gone; the new one starts healthy");
    metrics = await fetchMetrics(gw.adminPort);
    assert.equal(metricSample(metrics, "rampart_upstream_healthy", label(deadRemoved)), undefined, "the removed target's series are gone");
    assert.equal(metricSample(metrics, "rampart_circuit_breaker_state", label(deadRemoved)), undefined);
    assert.equal(metricSample(metrics, "rampart_upstream_healthy", label(deadKept)), 0);
    assert.equal(metricSample(metrics, "rampart_upstream_healthy", label(newcomer.port)), 1);
    assert.equal(metricSample(metrics, "rampart_circuit_breaker_state", label(flaky.port)), 2);

    // Traffic goes to the two eligible targets only.
    const spread = await sequential(gw, 10, "/after");
    assert.deepEqual(
      spread.map((r) => r.status),
      new Array<number>(10).fill(200),
    );
    assert.equal(traffic(newcomer), 5);
    await sleep(350);
    assert.deepEqual(await states(gw), afterChange, "state a few probes after the second reload");
  });
});

// Upstream state across config reloads, as an operator sees it in /api/upstreams and /metrics: a reload
// that keeps a service (or changes it but keeps a target) keeps each kept target's health and breaker
// state, so a failing backend is not handed traffic again and a healthy one is not ejected until its
// next probe; a target the reload removes disappears from /api/upstreams and /metrics, and one it adds
// starts healthy.
import assert from "node:assert/strict";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, describe, test } from "node:test";
import { startBackend, type Backend, type Handler } from "../../helpers/backend.js";
import { request, type Response } from "../../helpers/client.js";
import { startGateway, type ConfigObject, type TestGateway } from "../../helpers/gateway.js";
import { fetchMetrics } from "../../helpers/proxy-tools.js";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function backend(handler?: Handler): Promise<Backend> {
  const started = await startBackend(handler);
  cleanups.push(() => started.close());
  return started;
}

/** A port nobody listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Upstream {
  readonly service: string;
  readonly target: string;
  readonly healthy: boolean;
  readonly breaker: "closed" | "half-open" | "open";
  readonly inFlight: number;
  readonly lastError: string | null;
}

/** /api/upstreams reduced to what a reload must keep: target → "healthy|breaker". */
async function states(gw: TestGateway): Promise<Map<string, string>> {
  const res = await request({ port: gw.adminPort, path: "/api/upstreams" });
  assert.equal(res.status, 200, res.body);
  return new Map(res.json<Upstream[]>().map((u) => [`${u.service} ${u.target}`, `${u.healthy ? "healthy" : "unhealthy"}|${u.breaker}`]));
}

/** Polls `check` every 20 ms until it returns something other than undefined, or fails after `ms`. */
async function eventually<T>(check: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** One sample of the Prometheus text whose labels are exactly `labels` (in any order). */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const end = line.lastIndexOf("}");
    const found = new Map<string, string>();
    for (const match of line.slice(name.length + 1, end).matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) found.set(match[1]!, match[2]!);
    const wanted = Object.entries(labels);
    if (found.size === wanted.length && wanted.every(([key, value]) => found.get(key) === value)) return Number(line.slice(end + 2));
  }
  return undefined;
}

async function reload(gw: TestGateway, config: ConfigObject): Promise<void> {
  await gw.writeConfig(config);
  const res = await request({ port: gw.adminPort, path: "/api/reload", method: "POST" });
  assert.equal(res.status, 200, res.body);
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
    const deadKept = await closedPort();
    const deadRemoved = await closedPort();
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
    const gw = await startGateway({ services: { app: initial }, routes: [route] });
    cleanups.push(() => gw.close());

    // Both closed ports fail their probes; then 500s open the flaky target's breaker.
    await eventually(async () => {
      const now = await states(gw);
      return now.get(key(deadKept)) === "unhealthy|closed" && now.get(key(deadRemoved)) === "unhealthy|closed" ? true : undefined;
    }, 3_000, "the closed ports to be marked unhealthy");
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
    await reload(gw, { services: { app: initial }, routes: [{ name: "extra", match: { pathPrefix: "/extra" }, service: "app" }, route] });
    assert.deepEqual(await states(gw), before, "state right after the reload");
    let metrics = await fetchMetrics(gw.adminPort);
    assert.equal(sample(metrics, "rampart_circuit_breaker_state", label(flaky.port)), 2);
    assert.equal(sample(metrics, "rampart_upstream_healthy", label(deadKept)), 0);
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
    await reload(gw, { services: { app: changed }, routes: [route] });
    const afterChange = new Map([
      [key(flaky.port), "healthy|open"],
      [key(good.port), "healthy|closed"],
      [key(deadKept), "unhealthy|closed"],
      [key(newcomer.port), "healthy|closed"],
    ]);
    assert.deepEqual(await states(gw), afterChange, "the removed target is gone; the new one starts healthy");
    metrics = await fetchMetrics(gw.adminPort);
    assert.equal(sample(metrics, "rampart_upstream_healthy", label(deadRemoved)), undefined, "the removed target's series are gone");
    assert.equal(sample(metrics, "rampart_circuit_breaker_state", label(deadRemoved)), undefined);
    assert.equal(sample(metrics, "rampart_upstream_healthy", label(deadKept)), 0);
    assert.equal(sample(metrics, "rampart_upstream_healthy", label(newcomer.port)), 1);
    assert.equal(sample(metrics, "rampart_circuit_breaker_state", label(flaky.port)), 2);

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

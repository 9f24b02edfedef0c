// Failover as an operator sees it: a backend killed under continuous load costs no client a failed
// request (connect errors are retried to the others), active health checks take it out after
// `unhealthyThreshold` probes and bring it back after `healthyThreshold` once it listens again on the same
// port, where slow start ramps it in. When nothing is eligible the answer is 503 with Retry-After; when
// every attempt at a target that looked fine failed to connect, 502. The panic threshold spreads load
// over every target when too few look healthy.
import assert from "node:assert/strict";
import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { describe, test } from "node:test";
import { listUpstreams, upstreamState } from "../../helpers/admin-api.js";
import { freePort, type Backend, type Handler } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { perTest } from "../../helpers/fixtures.js";
import { oneServiceConfig, type TestGateway } from "../../helpers/gateway.js";
import { eventually, fetchMetrics, metricSample } from "../../helpers/proxy-tools.js";

const { backend, gateway, defer } = perTest();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Hit {
  readonly at: number;
  readonly probe: boolean;
}

/** A node:http backend (200 to everything) that timestamps each request and tells probes from traffic. */
interface Recorder {
  readonly port: number;
  readonly url: string;
  readonly hits: Hit[];
  /** Stops listening and cuts every open connection, as a crashed process would. */
  close(): Promise<void>;
}

/** Listens on `port` (0: any free port), e.g. the port of a backend that was killed, to restart it. */
async function recorder(port = 0): Promise<Recorder> {
  const hits: Hit[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    hits.push({ at: Date.now(), probe: req.headers["user-agent"] === "rampart-health-check" });
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const bound = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }));
  defer(close);
  return { port: bound, url: `http://127.0.0.1:${bound}`, hits, close };
}

const upstreams = (gw: TestGateway) => listUpstreams(gw.adminPort);
const upstream = (gw: TestGateway, port: number) => upstreamState(gw.adminPort, port);

interface Load {
  readonly statuses: number[];
  readonly failures: string[];
  stop(): Promise<void>;
}

/** `workers` clients sending GETs back to back over keep-alive connections until stop(). */
function startLoad(port: number, workers: number): Load {
  const agent = new https.Agent({ keepAlive: true, maxSockets: workers, rejectUnauthorized: false });
  const statuses: number[] = [];
  const failures: string[] = [];
  let running = true;
  const done = Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let i = 0; running; i++) {
        try {
          const res = await request({ port, tls: true, path: `/load/${worker}/${i}`, agent });
          statuses.push(res.status);
          if (res.status !== 200) failures.push(`${res.status} ${res.body}`);
        } catch (error) {
          failures.push(`client error: ${String(error)}`);
        }
      }
    }),
  );
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      running = false;
      await done;
      agent.destroy();
    })());
  defer(stop);
  return { statuses, failures, stop };
}

const fastChecks = { path: "/health", interval: "100ms", timeout: "200ms", healthyThreshold: 2, unhealthyThreshold: 2 };

describe("failover", () => {
  test("a backend killed under GET load: no client error, out after the fall threshold, back on the same port after the rise threshold, ramped by slow start", async () => {
    const backends = [await recorder(), await recorder(), await recorder()];
    const victim = backends[2]!;
    const gw = await gateway(
      oneServiceConfig({
        targets: backends.map((b) => ({ url: b.url })),
        healthCheck: fastChecks,
        retry: { attempts: 2 },
        slowStart: "2s",
      }),
    );
    const load = startLoad(gw.httpsPort, 10);
    const labels = { service: "app", target: `127.0.0.1:${victim.port}` };

    await sleep(700);
    assert.ok(
      backends.every((b) => b.hits.some((hit) => !hit.probe)),
      "every backend serves traffic before the kill",
    );

    // Kill one backend mid-load.
    const killedAt = Date.now();
    await victim.close();
    const down = await eventually(async () => {
      const state = await upstream(gw, victim.port);
      return state.healthy ? undefined : state;
    }, 3_000, "the killed backend to be marked unhealthy", 20);
    const downAfter = Date.now() - killedAt;
    // Two failed probes 100 ms (±10 %) apart: never ejected by the first one alone.
    assert.ok(downAfter >= 80, `marked unhealthy ${downAfter} ms after the kill, before two probes could fail`);
    assert.ok(downAfter < 2_000, `marked unhealthy only ${downAfter} ms after the kill`);
    assert.match(down.lastError ?? "", /ECONNREFUSED/);
    assert.equal(down.breaker, "closed", "no breaker configured: it stays closed");
    let metrics = await fetchMetrics(gw.adminPort);
    assert.equal(metricSample(metrics, "rampart_upstream_healthy", labels), 0);
    for (const other of backends.slice(0, 2)) {
      assert.equal(metricSample(metrics, "rampart_upstream_healthy", { service: "app", target: `127.0.0.1:${other.port}` }), 1);
      assert.equal((await upstream(gw, other.port)).healthy, true);
    }
    // Requests that met the closed port before the ejection were retried elsewhere.
    assert.ok((metricSample(metrics, "rampart_upstream_retries_total", { service: "app", result: "sent" }) ?? 0) >= 1, "connect errors were retried");

    // Load keeps flowing to the two survivors only.
    await sleep(400);

    // Restart it on the same port: back after two good probes.
    const revived = await recorder(victim.port);
    const restartedAt = Date.now();
    const firstTraffic = await eventually(async () => revived.hits.find((hit) => !hit.probe), 3_000, "traffic to the restarted backend", 20);
    const recoveredAfter = firstTraffic.at - restartedAt;
    const probesBefore = revived.hits.filter((hit) => hit.probe && hit.at <= firstTraffic.at).length;
    assert.ok(probesBefore >= 2, `traffic came back after ${probesBefore} probe(s), before healthyThreshold (2) probes passed`);
    assert.ok(recoveredAfter < 2_000, `back in rotation only ${recoveredAfter} ms after the restart`);
    assert.equal((await upstream(gw, victim.port)).healthy, true);
    metrics = await fetchMetrics(gw.adminPort);
    assert.equal(metricSample(metrics, "rampart_upstream_healthy", labels), 1);

    // Slow start (2 s): in its first half-second back it takes clearly less than its fair share.
    const windowEnd = firstTraffic.at + 500;
    await sleep(Math.max(0, windowEnd - Date.now()) + 50);
    await load.stop();
    const inWindow = (hits: readonly Hit[]) => hits.filter((hit) => !hit.probe && hit.at >= firstTraffic.at && hit.at < windowEnd).length;
    const revivedCount = inWindow(revived.hits);
    const survivorCounts = backends.slice(0, 2).map((b) => inWindow(b.hits));
    assert.ok(revivedCount > 0, "the restarted backend gets traffic again");
    for (const count of survivorCounts) {
      assert.ok(revivedCount < count, `in its first 500 ms back the restarted backend got ${revivedCount} requests, the others ${survivorCounts.join(" and ")}`);
    }

    assert.ok(load.statuses.length > 100, `only ${load.statuses.length} requests were sent`);
    assert.deepEqual(load.failures, [], "no client saw anything but a 200");
  });

  test("every target down and ejected by health checks → 503 with Retry-After", async () => {
    const ports = [await freePort(), await freePort()];
    const gw = await gateway(oneServiceConfig({ targets: ports.map((p) => ({ url: `http://127.0.0.1:${p}` })), healthCheck: fastChecks, retry: { attempts: 2 } }));
    await eventually(async () => ((await upstreams(gw)).every((u) => !u.healthy) ? true : undefined), 3_000, "both targets to be marked unhealthy", 20);
    const res = await request({ port: gw.httpsPort, tls: true, path: "/anything" });
    assert.equal(res.status, 503, res.body);
    assert.equal(res.json<{ error: string }>().error, "no_healthy_target");
    const retryAfter = Number(res.headers["retry-after"]);
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0, `Retry-After: ${res.headers["retry-after"]}`);
    const metrics = await fetchMetrics(gw.adminPort);
    for (const port of ports) assert.equal(metricSample(metrics, "rampart_upstream_healthy", { service: "app", target: `127.0.0.1:${port}` }), 0);
  });

  test("no health checks and every target refusing connections → 502 (every attempt failed to connect)", async () => {
    const ports = [await freePort(), await freePort()];
    const gw = await gateway(oneServiceConfig({ targets: ports.map((p) => ({ url: `http://127.0.0.1:${p}` })), retry: { attempts: 2 } }));
    for (let i = 0; i < 3; i++) {
      const res = await request({ port: gw.httpsPort, tls: true, path: "/anything" });
      assert.equal(res.status, 502, res.body);
      assert.equal(res.json<{ error: string }>().error, "bad_gateway");
    }
    // Without health checks the targets stay healthy (nothing could mark them healthy again), so this
    // is a 502 and not a 503; each request tried the other target once.
    assert.ok((await upstreams(gw)).every((u) => u.healthy));
    const metrics = await fetchMetrics(gw.adminPort);
    assert.equal(metricSample(metrics, "rampart_upstream_retries_total", { service: "app", result: "sent" }), 3);
    // Six refused connects (three requests, each tried on both targets), counted per target as connect errors.
    const connectErrors = ports.map((port) => metricSample(metrics, "rampart_upstream_errors_total", { service: "app", target: `127.0.0.1:${port}`, kind: "connect" }) ?? 0);
    assert.equal(connectErrors[0]! + connectErrors[1]!, 6, `connect errors per target: ${connectErrors.join(", ")}`);
  });

  test("panic threshold: with 2 of 3 targets failing their checks, panicThreshold 50 spreads load over all three; without it the survivor takes everything", async () => {
    let failHealth = false;
    const handler: Handler = (req, res) => {
      if (req.url === "/health" && failHealth) res.writeHead(503).end();
      else res.writeHead(200).end("ok");
    };
    const sick = [await backend(handler), await backend(handler)];
    const fine = await backend();
    const targets = [...sick, fine].map((b) => ({ url: b.url }));
    const gw = await gateway({
      services: {
        strict: { targets, healthCheck: fastChecks },
        panicky: { targets, healthCheck: fastChecks, panicThreshold: 50 },
      },
      routes: [
        { name: "strict", match: { pathPrefix: "/strict" }, service: "strict" },
        { name: "panicky", match: { pathPrefix: "/panicky" }, service: "panicky" },
      ],
    });
    failHealth = true;
    await eventually(async () => ((await upstreams(gw)).filter((u) => !u.healthy).length === 4 ? true : undefined), 3_000, "two targets of each service to be unhealthy", 20);

    const seen = (b: Backend, prefix: string) => b.requests.filter((r) => r.url?.startsWith(prefix)).length;
    for (let i = 0; i < 30; i++) {
      assert.equal((await request({ port: gw.httpsPort, tls: true, path: `/strict/${i}` })).status, 200);
      assert.equal((await request({ port: gw.httpsPort, tls: true, path: `/panicky/${i}` })).status, 200);
    }
    assert.deepEqual(
      [...sick, fine].map((b) => seen(b, "/strict")),
      [0, 0, 30],
      "below no panic threshold only the healthy target serves",
    );
    assert.deepEqual(
      [...sick, fine].map((b) => seen(b, "/panicky")),
      [10, 10, 10],
      "in panic every target serves its share",
    );
  });
});

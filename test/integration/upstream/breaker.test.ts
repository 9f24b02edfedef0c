// Per-target circuit breakers as an operator sees them: a backend answering 500s opens its own breaker
// (shown by /api/upstreams and rampart_circuit_breaker_state) while its sibling keeps serving 200s; after
// resetTimeout one trial request goes through (half-open), and a recovered backend closes its breaker and
// serves again. 4xx answers never count; response timeouts (504) and connect errors do. With every
// target's circuit open the answer is 503 with Retry-After.
import assert from "node:assert/strict";
import type http from "node:http";
import { describe, test } from "node:test";
import { upstreamState } from "../../helpers/admin-api.js";
import { freePort } from "../../helpers/backend.js";
import { request, type Response } from "../../helpers/client.js";
import { perTest } from "../../helpers/fixtures.js";
import { oneServiceConfig, type TestGateway } from "../../helpers/gateway.js";
import { eventually, fetchMetrics, metricSample } from "../../helpers/proxy-tools.js";

const { backend, gateway, defer } = perTest();

const upstream = (gw: TestGateway, port: number) => upstreamState(gw.adminPort, port);

const breakerState = async (gw: TestGateway, port: number) =>
  metricSample(await fetchMetrics(gw.adminPort), "rampart_circuit_breaker_state", { service: "app", target: `127.0.0.1:${port}` });

const transitions = async (gw: TestGateway, port: number, state: string) =>
  metricSample(await fetchMetrics(gw.adminPort), "rampart_circuit_breaker_transitions_total", { service: "app", target: `127.0.0.1:${port}`, state }) ?? 0;

/** `count` GETs one after another; the responses in order. */
async function sequential(gw: TestGateway, count: number, path = "/x"): Promise<Response[]> {
  const responses: Response[] = [];
  for (let i = 0; i < count; i++) responses.push(await request({ port: gw.httpsPort, tls: true, path }));
  return responses;
}

const statuses = (responses: readonly Response[]) => responses.map((r) => r.status);

describe("per-target circuit breakers", () => {
  test("a target answering 500s opens its own breaker, the other keeps serving; half-open lets one trial through; recovery closes it", async () => {
    let badStatus = 500;
    const bad = await backend((_req, res) => res.writeHead(badStatus, { "content-type": "text/plain" }).end(badStatus === 500 ? "boom" : "fine now"));
    const good = await backend();
    const gw = await gateway(
      oneServiceConfig({
        targets: [{ url: bad.url }, { url: good.url }],
        // 3 s: long enough that 20 requests in a row finish while the breaker is open on a loaded machine.
        circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 5, window: "10s", resetTimeout: "3s" },
      }),
    );

    // Round-robin alternates until the bad target has failed volumeThreshold (5) times out of 5.
    const first = await sequential(gw, 20);
    assert.equal(bad.requests.length, 5, "the breaker opened once volumeThreshold requests had failed");
    assert.deepEqual(
      statuses(first).filter((s) => s !== 200),
      [500, 500, 500, 500, 500],
      "5xx answers are passed through while the breaker is closed",
    );
    const badState = await upstream(gw, bad.port);
    assert.equal(badState.breaker, "open");
    assert.equal(badState.healthy, true, "health and breaker are independent");
    assert.equal(badState.lastError, "status 500", "/api/upstreams says why the breaker opened");
    assert.equal((await upstream(gw, good.port)).breaker, "closed", "one bad target never opens the other");
    assert.equal(await breakerState(gw, bad.port), 2);
    assert.equal(await breakerState(gw, good.port), 0);
    assert.equal(await transitions(gw, bad.port, "open"), 1);

    // While open, every request goes to the healthy target.
    const whileOpen = await sequential(gw, 20);
    assert.deepEqual(statuses(whileOpen), new Array<number>(20).fill(200));
    assert.equal(bad.requests.length, 5, "no request reaches a target whose breaker is open");

    // After resetTimeout (3 s): half-open, and exactly one trial request goes through. Still failing → open again.
    await eventually(async () => ((await upstream(gw, bad.port)).breaker === "half-open" ? true : undefined), 6_000, "half-open", 20);
    assert.equal(await breakerState(gw, bad.port), 1);
    const trial = await sequential(gw, 10);
    assert.equal(bad.requests.length, 6, "half-open lets exactly one trial request through");
    assert.deepEqual(
      statuses(trial).filter((s) => s !== 200),
      [500],
    );
    assert.equal((await upstream(gw, bad.port)).breaker, "open", "a failed trial opens the breaker again");
    assert.equal(await breakerState(gw, bad.port), 2);

    // The backend recovers: the next trial succeeds, the breaker closes, and it serves its share again.
    badStatus = 200;
    await eventually(async () => ((await upstream(gw, bad.port)).breaker === "half-open" ? true : undefined), 6_000, "half-open again", 20);
    const recovered = await sequential(gw, 20);
    assert.deepEqual(statuses(recovered), new Array<number>(20).fill(200));
    assert.equal((await upstream(gw, bad.port)).breaker, "closed");
    assert.equal(await breakerState(gw, bad.port), 0);
    assert.ok(bad.requests.length - 6 >= 8, `the recovered target served ${bad.requests.length - 6} of 20 requests`);

    assert.equal(await transitions(gw, bad.port, "open"), 2);
    assert.equal(await transitions(gw, bad.port, "half-open"), 2);
    assert.equal(await transitions(gw, bad.port, "closed"), 1);
    for (const state of ["open", "half-open", "closed"]) assert.equal(await transitions(gw, good.port, state), 0, `good target: no ${state} transition`);
  });

  test("4xx answers never open a breaker: 50 × 404 leave it closed", async () => {
    const notFound = await backend((_req, res) => res.writeHead(404).end("no such thing"));
    const gw = await gateway(
      oneServiceConfig({
        targets: [{ url: notFound.url }],
        circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 5, window: "10s", resetTimeout: "1s" },
      }),
    );
    const responses = await sequential(gw, 50);
    assert.deepEqual(statuses(responses), new Array<number>(50).fill(404));
    assert.equal(notFound.requests.length, 50);
    assert.equal((await upstream(gw, notFound.port)).breaker, "closed");
    assert.equal(await breakerState(gw, notFound.port), 0);
    assert.equal(await transitions(gw, notFound.port, "open"), 0);
  });

  test("a hanging backend: timeouts.response 300ms → 504, counted by its breaker, which opens → 503 with Retry-After", async () => {
    const pending: http.ServerResponse[] = [];
    const hanging = await backend((_req, res) => void pending.push(res));
    defer(() => pending.forEach((res) => res.destroy()));
    const gw = await gateway(
      oneServiceConfig({
        targets: [{ url: hanging.url }],
        timeouts: { response: "300ms" },
        circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 2, window: "10s", resetTimeout: "30s" },
      }),
    );
    const started = Date.now();
    const timedOut = await Promise.all([1, 2].map(() => request({ port: gw.httpsPort, tls: true, path: "/slow" })));
    const elapsed = Date.now() - started;
    for (const res of timedOut) {
      assert.equal(res.status, 504, res.body);
      assert.equal(res.json<{ error: string }>().error, "gateway_timeout");
    }
    assert.ok(elapsed >= 250, `504 after ${elapsed} ms, before the response timeout`);

    const state = await upstream(gw, hanging.port);
    assert.equal(state.breaker, "open", "two timeouts out of two reach volumeThreshold 2");
    assert.match(state.lastError ?? "", /UPSTREAM_RESPONSE_TIMEOUT/);
    assert.equal(await breakerState(gw, hanging.port), 2);

    // Every target's circuit open: 503 at once, without waiting on the backend.
    const seen = hanging.requests.length;
    const quick = Date.now();
    const refused = await request({ port: gw.httpsPort, tls: true, path: "/slow" });
    assert.equal(refused.status, 503, refused.body);
    assert.equal(refused.json<{ error: string }>().error, "no_healthy_target");
    assert.ok(Number(refused.headers["retry-after"]) > 0, `Retry-After: ${refused.headers["retry-after"]}`);
    assert.ok(Date.now() - quick < 250, "answered without waiting for a timeout");
    assert.equal(hanging.requests.length, seen);
  });

  test("connect errors count too: a dead target's breaker opens while retries hide its failures from clients", async () => {
    const dead = await freePort();
    const live = await backend();
    const gw = await gateway(
      oneServiceConfig({
        targets: [{ url: `http://127.0.0.1:${dead}` }, { url: live.url }],
        retry: { attempts: 2, budget: 100 },
        circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 3, window: "10s", resetTimeout: "30s" },
      }),
    );
    const responses = await sequential(gw, 20);
    assert.deepEqual(statuses(responses), new Array<number>(20).fill(200));
    assert.equal(live.requests.length, 20);
    const state = await upstream(gw, dead);
    assert.equal(state.breaker, "open");
    assert.match(state.lastError ?? "", /ECONNREFUSED/);
    assert.equal(await breakerState(gw, dead), 2);
    const metrics = await fetchMetrics(gw.adminPort);
    // Three failed connects (volumeThreshold) were retried; after that the open breaker keeps requests away.
    assert.equal(metricSample(metrics, "rampart_upstream_retries_total", { service: "app", result: "sent" }), 3);
  });
});

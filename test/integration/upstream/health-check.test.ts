// Active health checks against real node:http backends on loopback: rise/fall thresholds (one failed
// probe never ejects), failures of every kind (status, refused connection, timeout), recovery with
// recoveredAt for slow start, one log line per transition, stop() and state surviving a new checker.
import assert from "node:assert/strict";
import type http from "node:http";
import { describe, test } from "node:test";
import type { HealthCheckConfig } from "../../../src/config/schema.js";
import { HealthChecker } from "../../../src/upstream/health-check.js";
import { Target } from "../../../src/upstream/target.js";
import { freePort, type Handler } from "../../helpers/backend.js";
import { perTest } from "../../helpers/fixtures.js";
import { captureLogger, waitFor, type CapturedLog } from "../../helpers/proxy-tools.js";

const { backend, defer } = perTest();

const fast: HealthCheckConfig = {
  path: "/health",
  grpc: false,
  interval: 50,
  timeout: 100,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
  expectStatus: { min: 200, max: 399 },
};

/** A real Target whose `healthy` gauge records every value set. */
function makeTarget(url: string): { target: Target; gauge: number[] } {
  const gauge: number[] = [];
  const target = new Target("api", url, {
    upstreamDuration: { observe: () => {} },
    healthy: { set: (value: number) => void gauge.push(value) },
    breakerState: { set: () => {} },
    status5xx: { inc: () => {} },
  });
  return { target, gauge };
}

/** A backend handler whose status for each health check is taken from `status()`. */
function statusHandler(status: (index: number) => number): Handler {
  let index = 0;
  return (_req, res) => res.writeHead(status(index++)).end("ok");
}

function logsAt(log: CapturedLog, level: number): Record<string, unknown>[] {
  return log.lines.filter((line) => line.level === level);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function checker(target: Target, log: CapturedLog, config: Partial<HealthCheckConfig> = {}, onChange?: (target: Target, healthy: boolean) => void) {
  const instance = new HealthChecker("api", { ...fast, ...config }, [target], log.logger, { onChange });
  defer(() => instance.stop());
  return instance;
}

describe("active health checks", () => {
  test("targets start healthy and a backend answering 200 stays healthy", async () => {
    const up = await backend(statusHandler(() => 200));
    const { target, gauge } = makeTarget(up.url);
    const log = captureLogger();
    const health = checker(target, log);
    // Caddy #6410: healthy before any probe, and construction alone does not probe.
    assert.equal(target.healthy, true);
    assert.equal(up.requests.length, 0);
    health.start();
    health.start(); // idempotent: still one probe chain per target
    await waitFor(() => (up.requests.length >= 5 ? true : undefined), 2_000, "5 probes");
    assert.equal(target.healthy, true);
    assert.deepEqual(gauge, [1]);
    assert.equal(target.lastError, undefined);
    assert.equal(log.lines.length, 0);
    const probe = up.requests[0];
    assert.ok(probe);
    assert.equal(probe.method, "GET");
    assert.equal(probe.url, "/health");
    assert.equal(probe.headers["user-agent"], "rampart-health-check");
    assert.equal(probe.headers.connection, "close");
    assert.equal(probe.headers.host, `127.0.0.1:${up.port}`);
    health.stop();
  });

  test("failed probes that are never 3 in a row do not eject (HAProxy fall)", async () => {
    const flapping = await backend(statusHandler((index) => (index % 3 === 2 ? 200 : 500)));
    const { target, gauge } = makeTarget(flapping.url);
    const log = captureLogger();
    checker(target, log).start();
    await waitFor(() => (flapping.requests.length >= 9 ? true : undefined), 3_000, "9 probes");
    assert.equal(target.healthy, true);
    assert.deepEqual(gauge, [1]);
    // The failures are visible, only not acted on.
    assert.equal(target.lastError, "health check: status 500");
    assert.equal(logsAt(log, 40).length, 0);
  });

  test("3 consecutive 500s eject once; 2 consecutive 200s bring it back with recoveredAt set", async () => {
    let status = 500;
    const flaky = await backend((_req, res) => res.writeHead(status).end());
    const { target, gauge } = makeTarget(flaky.url);
    const log = captureLogger();
    const changes: boolean[] = [];
    checker(target, log, {}, (changed, healthy) => {
      assert.equal(changed, target);
      changes.push(healthy);
    }).start();

    await waitFor(() => (target.healthy ? undefined : true), 2_000, "ejection");
    assert.ok(flaky.requests.length >= 3, `ejected after ${flaky.requests.length} probes`);
    assert.deepEqual(gauge, [1, 0]);
    assert.equal(target.lastError, "health check: status 500");
    // Keep failing for a while: still exactly one warn line, not one per probe.
    const seen = flaky.requests.length;
    await waitFor(() => (flaky.requests.length >= seen + 3 ? true : undefined), 2_000, "more failing probes");
    const warnings = logsAt(log, 40);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.service, "api");
    assert.equal(warnings[0]?.target, target.key);
    assert.equal(warnings[0]?.reason, "health check: status 500");
    assert.equal(target.recoveredAt, 0);

    status = 200;
    const before = Date.now();
    await waitFor(() => (target.healthy ? true : undefined), 2_000, "recovery");
    assert.ok(target.recoveredAt >= before && target.recoveredAt <= Date.now());
    assert.deepEqual(gauge, [1, 0, 1]);
    const recovered = flaky.requests.length;
    await waitFor(() => (flaky.requests.length >= recovered + 3 ? true : undefined), 2_000, "more passing probes");
    const infos = logsAt(log, 30);
    assert.equal(infos.length, 1);
    assert.equal(infos[0]?.target, target.key);
    assert.equal(logsAt(log, 40).length, 1);
    assert.deepEqual(changes, [false, true]);
  });

  test("thresholds are exact: the 3rd failure ejects, a failure resets the rise streak", async () => {
    let status = 500;
    const flaky = await backend((_req, res) => res.writeHead(status).end());
    const { target } = makeTarget(flaky.url);
    const health = checker(target, captureLogger());
    assert.equal(await health.probeNow(target), false);
    assert.equal(await health.probeNow(target), false);
    assert.equal(target.healthy, true, "2 of 3 failures");
    assert.equal(await health.probeNow(target), false);
    assert.equal(target.healthy, false, "3 of 3 failures");

    status = 200;
    assert.equal(await health.probeNow(target), true);
    assert.equal(target.healthy, false, "1 of 2 successes");
    status = 503;
    await health.probeNow(target);
    status = 200;
    await health.probeNow(target);
    assert.equal(target.healthy, false, "the streak restarted after the 503");
    await health.probeNow(target);
    assert.equal(target.healthy, true, "2 of 2 successes");
  });

  test("a refused connection is a failure", async () => {
    const { target, gauge } = makeTarget(`http://127.0.0.1:${await freePort()}`);
    const log = captureLogger();
    checker(target, log, { unhealthyThreshold: 1 }).start();
    await waitFor(() => (target.healthy ? undefined : true), 2_000, "ejection");
    assert.equal(target.lastError, "health check: ECONNREFUSED");
    assert.deepEqual(gauge, [1, 0]);
    assert.equal(logsAt(log, 40)[0]?.reason, "health check: ECONNREFUSED");
  });

  test("a backend that never answers, or never finishes its body, fails by timeout", async () => {
    const silent = await backend(() => {});
    const { target } = makeTarget(silent.url);
    const health = checker(target, captureLogger());
    let started = Date.now();
    assert.equal(await health.probeNow(target), false);
    const took = Date.now() - started;
    assert.ok(took >= 90 && took < 1_000, `took ${took} ms`);
    assert.equal(target.lastError, "health check: timeout after 100 ms");

    const trickling = await backend((_req, res) => void res.writeHead(200).write("partial"));
    const { target: slowBody } = makeTarget(trickling.url);
    started = Date.now();
    assert.equal(await health.probeNow(slowBody), false);
    assert.ok(Date.now() - started < 1_000);
    assert.equal(slowBody.lastError, "health check: timeout after 100 ms");
  });

  test("expectStatus decides: a 302 fails 200-299 and passes the default 200-399", async () => {
    const redirecting = await backend((_req, res) => res.writeHead(302, { location: "/elsewhere" }).end());
    const strict = makeTarget(redirecting.url).target;
    const lenient = makeTarget(redirecting.url).target;
    assert.equal(await checker(strict, captureLogger(), { expectStatus: { min: 200, max: 299 } }).probeNow(strict), false);
    assert.equal(strict.lastError, "health check: status 302");
    assert.equal(await checker(lenient, captureLogger()).probeNow(lenient), true);
    assert.equal(lenient.lastError, undefined);
  });

  test("stop() ends probing, aborts the probe in flight and discards its result", async () => {
    const up = await backend(statusHandler(() => 200));
    const { target } = makeTarget(up.url);
    const health = checker(target, captureLogger());
    health.start();
    await waitFor(() => (up.requests.length >= 2 ? true : undefined), 2_000, "2 probes");
    health.stop();
    health.stop(); // idempotent
    await sleep(20); // a request already on the wire may still land
    const probes = up.requests.length;
    await sleep(250); // 5 intervals
    assert.equal(up.requests.length, probes);

    const arrived: http.IncomingMessage[] = [];
    const silent = await backend((req) => void arrived.push(req));
    const hung = makeTarget(silent.url).target;
    const hanging = checker(hung, captureLogger(), { unhealthyThreshold: 1, timeout: 5_000 });
    hanging.start();
    const request = await waitFor(() => arrived[0], 2_000, "a probe to arrive");
    let closed = false;
    request.socket.on("close", () => (closed = true));
    hanging.stop();
    await waitFor(() => (closed ? true : undefined), 1_000, "the aborted probe's connection to close");
    assert.equal(hung.healthy, true, "an aborted probe is not a failure");
    assert.equal(hung.lastError, undefined);
  });

  test("a new checker over the same Target (config reload) keeps its health: down stays down until it rises", async () => {
    let status = 500;
    const flaky = await backend((_req, res) => res.writeHead(status).end());
    const { target, gauge } = makeTarget(flaky.url);
    const first = checker(target, captureLogger(), { unhealthyThreshold: 1 });
    await first.probeNow(target);
    first.stop();
    assert.equal(target.healthy, false);

    status = 200;
    const second = checker(target, captureLogger());
    second.start();
    assert.equal(target.healthy, false, "not reset to healthy by the reload");
    await waitFor(() => (target.healthy ? true : undefined), 2_000, "recovery under the new checker");
    assert.ok(flaky.requests.length >= 3, "1 failure + healthyThreshold (2) successes");
    assert.deepEqual(gauge, [1, 0, 1]);
  });

  test("probes of a fleet are spread over the first interval, not sent in lockstep", async () => {
    const arrivals: number[] = [];
    const up = await backend((_req, res) => void (arrivals.push(Date.now()), res.end()));
    const targets = Array.from({ length: 8 }, () => makeTarget(up.url).target);
    const health = new HealthChecker("api", { ...fast, interval: 400 }, targets, captureLogger().logger);
    defer(() => health.stop());
    const started = Date.now();
    health.start();
    await waitFor(() => (arrivals.length >= 8 ? true : undefined), 2_000, "8 first probes");
    const offsets = arrivals.slice(0, 8).map((at) => at - started);
    assert.ok(Math.max(...offsets) < 400 + 100, `first probes within the first interval: ${offsets.join(",")}`);
    assert.ok(Math.max(...offsets) - Math.min(...offsets) > 50, `spread out: ${offsets.join(",")}`);
  });

  test("a throwing onChange listener is logged and probing goes on", async () => {
    const { target } = makeTarget(`http://127.0.0.1:${await freePort()}`);
    const log = captureLogger();
    const health = checker(target, log, { unhealthyThreshold: 1 }, () => {
      throw new Error("listener bug");
    });
    assert.equal(await health.probeNow(target), false);
    assert.equal(target.healthy, false);
    assert.equal(logsAt(log, 50).length, 1);
    assert.equal(await health.probeNow(target), false);
  });
});

// Fault injection end to end (issue 13, part 3; DESIGN.md "Contract, second round": `fault`), with real
// backends on loopback: the configured shares of aborts and delays over 2,000 requests; what an injected
// abort answers (its status, {"error":"fault_injected"}, `"fault":"abort"` in the access log; gRPC
// clients get grpc-status 14); a delay that lasts at least its duration; maxActive, beyond which requests
// go through unharmed and count as overflow; header-asked faults honoured only from allowlisted clients or
// through trusted proxies, and only with `headers: true`; and an injected 503 that neither opens the
// target's breaker nor bans the tester. The stage draws from a PRNG seeded by the OS, so the shares are
// statistical: the tolerances below are about 4 standard deviations.
// Source addresses other than 127.0.0.1 (127.0.0.0/8 is all loopback on Linux) stand for other clients.
import assert from "node:assert/strict";
import http from "node:http";
import { performance } from "node:perf_hooks";
import { describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { listBans, upstreamState } from "../../helpers/admin-api.js";
import { perTest } from "../../helpers/fixtures.js";
import type { ConfigObject, TestGateway } from "../../helpers/gateway.js";
import { grpcClient, startGrpcBackend, type GrpcBackend } from "../../helpers/grpc.js";
import { h2Connect, h2Request } from "../../helpers/http2.js";
import { captureLogger, eventually, fetchMetrics, metricSample, type CapturedLog } from "../../helpers/proxy-tools.js";

const { backend, gateway, defer } = perTest();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Hit {
  readonly status: number;
  readonly body: string;
  readonly headers: http.IncomingHttpHeaders;
  /** From sending the request to the end of the response. */
  readonly ms: number;
}

interface HitOptions {
  readonly path?: string;
  readonly headers?: http.OutgoingHttpHeaders;
  readonly localAddress?: string;
  readonly agent?: http.Agent;
}

/** One GET on the plain HTTP listener (a fresh connection unless `agent` is given). */
function hit(gw: TestGateway, options: HitOptions = {}): Promise<Hit> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(
      { host: "127.0.0.1", port: gw.httpPort, path: options.path ?? "/", headers: options.headers, localAddress: options.localAddress, agent: options.agent ?? false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, ms: performance.now() - started }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** `count` calls of `one`, at most `concurrency` at a time; the results in index order. */
async function many<T>(count: number, concurrency: number, one: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const index = next++;
        results[index] = await one(index);
      }
    }),
  );
  return results;
}

/** Service "app" → `url`, routes as given (each on its own path prefix, all to "app"), plain HTTP. */
function faultConfig(url: string, routes: readonly ConfigObject[], extra: { service?: ConfigObject; top?: ConfigObject } = {}): ConfigObject {
  return {
    tls: { redirectHttp: false },
    services: { app: { targets: [{ url }], ...extra.service } },
    routes: routes.map((route) => ({ service: "app", ...route })),
    ...extra.top,
  };
}

/** One route "web" on "/" with `fault`. */
const oneRoute = (fault: ConfigObject): ConfigObject[] => [{ name: "web", match: { pathPrefix: "/" }, fault }];

async function faults(gw: TestGateway, route: string): Promise<{ delay: number; abort: number; overflow: number }> {
  const text = await fetchMetrics(gw.adminPort);
  const kind = (name: string) => metricSample(text, "rampart_faults_injected_total", { route, kind: name }) ?? 0;
  return { delay: kind("delay"), abort: kind("abort"), overflow: kind("overflow") };
}

/** Access-log lines (not the logger's own) once `count` of them are there. */
async function accessLines(log: CapturedLog, count: number): Promise<Record<string, unknown>[]> {
  const lines = () => log.lines.filter((line) => typeof line.status === "number" && "requestId" in line);
  await eventually(async () => (lines().length >= count ? true : undefined), 2_000, `${count} access-log lines`);
  return lines();
}

const isInjected = (answer: Hit) => answer.headers["content-type"]?.startsWith("application/json") === true && (JSON.parse(answer.body) as { error?: string }).error === "fault_injected";

const percent = (part: number, whole: number) => (100 * part) / whole;

describe("fault: configured shares", () => {
  test("abort 30% and delay 20% over 2,000 requests: each within ±4 points, counted, marked in the access log", async () => {
    const app = await backend((_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end("ok"));
    const log = captureLogger();
    const gw = await gateway(faultConfig(app.url, oneRoute({ abort: { percent: 30, status: 503 }, delay: { percent: 20, duration: "20ms" } })), { accessLog: log.accessLog });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    defer(() => agent.destroy());

    const total = 2_000;
    const answers = await many(total, 16, () => hit(gw, { agent }));
    const aborted = answers.filter((answer) => answer.status === 503);
    assert.ok(
      answers.every((answer) => answer.status === 200 || answer.status === 503),
      `only 200 and the injected 503: ${JSON.stringify([...new Set(answers.map((a) => a.status))])}`,
    );
    assert.ok(aborted.every(isInjected), "every 503 is an injected one");
    assert.equal(app.requests.length, total - aborted.length, "aborted requests never reach the backend");

    const counted = await faults(gw, "web");
    assert.equal(counted.abort, aborted.length, "rampart_faults_injected_total{kind=abort} counts every abort");
    assert.equal(counted.overflow, 0, "maxActive 100 is never reached at 16 requests in flight");
    const lines = await accessLines(log, total);
    assert.equal(lines.filter((line) => line.fault === "abort").length, aborted.length, 'each abort logged with "fault":"abort"');
    // Both are drawn independently (Envoy's semantics): a request drawn for both waits, then gets the
    // abort, and its line says "abort", the outcome. So every delay is a "delay" line or an "abort" one.
    const delayLines = lines.filter((line) => line.fault === "delay").length;
    assert.ok(
      delayLines <= counted.delay && counted.delay <= delayLines + aborted.length,
      `delays counted ${counted.delay}: ${delayLines} logged "delay", the rest among the ${aborted.length} aborts`,
    );
    assert.ok(
      lines.filter((line) => line.fault === "delay").every((line) => line.status === 200 && (line.durationMs as number) >= 19),
      "delayed requests were served, after their delay",
    );

    const abortShare = percent(aborted.length, total);
    const delayShare = percent(counted.delay, total);
    // One standard deviation over 2,000 requests: 1.0 point at 30%, 0.9 at 20%.
    assert.ok(Math.abs(abortShare - 30) <= 4, `aborts: ${abortShare.toFixed(1)}% of ${total} (configured 30%)`);
    assert.ok(
      Math.abs(delayShare - 20) <= 4,
      `delays: ${delayShare.toFixed(1)}% of ${total} requests (configured 20%); ` +
        `of the ${total - aborted.length} requests not aborted, ${percent(counted.delay, total - aborted.length).toFixed(1)}% were delayed`,
    );
  });
});

describe("fault: what an injected fault does", () => {
  test("an injected abort answers the configured status with {\"error\":\"fault_injected\"}; the access log says \"fault\":\"abort\"; the backend sees nothing", async () => {
    const app = await backend();
    const log = captureLogger();
    const gw = await gateway(faultConfig(app.url, oneRoute({ abort: { percent: 100, status: 503 } })), { accessLog: log.accessLog });

    const answer = await hit(gw, { path: "/orders?id=7", headers: { "x-request-id": "fault-abort-1" } });
    assert.equal(answer.status, 503);
    assert.match(answer.headers["content-type"] ?? "", /^application\/json/);
    const body = JSON.parse(answer.body) as Record<string, unknown>;
    assert.equal(body.error, "fault_injected");
    assert.equal(body.requestId, "fault-abort-1", "the body carries the request id, like every answer of Rampart's own");
    assert.equal(answer.headers["x-request-id"], "fault-abort-1");
    assert.equal(app.requests.length, 0);

    const [line] = await accessLines(log, 1);
    assert.equal(line!.fault, "abort");
    assert.equal(line!.status, 503);
    assert.equal(line!.route, "web");
    assert.equal(line!.path, "/orders");
    assert.equal(line!.target, undefined, "no target was picked");
    assert.deepEqual(await faults(gw, "web"), { delay: 0, abort: 1, overflow: 0 });
  });

  test("another configured status (418) is answered as configured", async () => {
    const app = await backend();
    const gw = await gateway(faultConfig(app.url, oneRoute({ abort: { percent: 100, status: 418 } })));
    const answers = await many(5, 1, () => hit(gw));
    assert.deepEqual(
      answers.map((answer) => answer.status),
      [418, 418, 418, 418, 418],
    );
    assert.ok(answers.every(isInjected));
    assert.equal(app.requests.length, 0);
  });

  test("delay 100% of 150ms: every request takes at least 150 ms more, then is served; the access log says \"fault\":\"delay\"", async () => {
    const app = await backend();
    const log = captureLogger();
    const gw = await gateway(faultConfig(app.url, oneRoute({ delay: { percent: 100, duration: "150ms" } })), { accessLog: log.accessLog });

    for (let i = 0; i < 5; i++) {
      const answer = await hit(gw);
      assert.equal(answer.status, 200);
      // Timers fire on a millisecond clock read once per event-loop turn: allow that millisecond.
      assert.ok(answer.ms >= 149, `request ${i + 1} took ${answer.ms.toFixed(1)} ms, less than the 150 ms delay`);
    }
    assert.equal(app.requests.length, 5, "delayed requests are forwarded");
    const lines = await accessLines(log, 5);
    assert.deepEqual(
      lines.map((line) => [line.fault, line.status]),
      new Array(5).fill(["delay", 200]),
    );
    assert.ok(lines.every((line) => (line.durationMs as number) >= 149), `logged durations: ${lines.map((line) => String(line.durationMs)).join(", ")}`);
    assert.deepEqual(await faults(gw, "web"), { delay: 5, abort: 0, overflow: 0 });
  });

  test("a client that leaves during an injected delay: nothing goes upstream for it, and the target holds no in-flight request", async () => {
    const app = await backend();
    const gw = await gateway(faultConfig(app.url, oneRoute({ delay: { percent: 100, duration: "400ms" } })));
    const request = http.get({ port: gw.httpPort, host: "127.0.0.1", path: "/gone" });
    request.on("error", () => {});
    await sleep(100);
    request.destroy();
    await sleep(600);
    assert.equal(app.requests.length, 0, "the delayed request of a client that left was not forwarded");
    assert.equal((await upstreamState(gw.adminPort, app.port)).inFlight, 0);
  });

  test("maxActive 2, delay 100% of 500ms, 10 requests at once: 2 delayed, 8 through at once and counted as overflow", async () => {
    const app = await backend();
    const log = captureLogger();
    const gw = await gateway(faultConfig(app.url, oneRoute({ delay: { percent: 100, duration: "500ms" }, maxActive: 2 })), { accessLog: log.accessLog });

    const answers = await Promise.all(Array.from({ length: 10 }, () => hit(gw)));
    assert.deepEqual(
      answers.map((answer) => answer.status),
      new Array(10).fill(200),
    );
    const times = answers.map((answer) => Math.round(answer.ms)).sort((a, b) => a - b);
    const slow = times.filter((ms) => ms >= 499);
    const fast = times.filter((ms) => ms < 400);
    assert.equal(slow.length, 2, `two requests delayed (times ${times.join(", ")} ms)`);
    assert.equal(fast.length, 8, `eight went through undelayed (times ${times.join(", ")} ms)`);
    assert.deepEqual(await faults(gw, "web"), { delay: 2, abort: 0, overflow: 8 });
    const lines = await accessLines(log, 10);
    assert.equal(lines.filter((line) => line.fault === "delay").length, 2);
    assert.equal(lines.filter((line) => line.fault === undefined).length, 8, "overflowed requests are not marked as faults");

    // The slots are free again once the delays are over.
    const later = await hit(gw);
    assert.ok(later.ms >= 499, `a request after the burst is delayed again (${later.ms.toFixed(0)} ms)`);
    assert.deepEqual(await faults(gw, "web"), { delay: 3, abort: 0, overflow: 8 });
  });
});

describe("fault: header-asked faults", () => {
  test("X-Rampart-Fault-Abort / -Delay honoured from an allowlisted client and through a trusted proxy; ignored from others, and with headers: false", async () => {
    const app = await backend((_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end("ok"));
    const gw = await gateway(
      faultConfig(
        app.url,
        [
          { name: "h", match: { pathPrefix: "/h" }, fault: { headers: true } },
          { name: "n", match: { pathPrefix: "/n" }, fault: { headers: false } },
        ],
        { top: { allowlist: ["127.0.0.5"], trustedProxies: ["127.0.0.7"] } },
      ),
    );
    const abort = { "x-rampart-fault-abort": "418" };
    const delay = { "x-rampart-fault-delay": "200" };

    // The allowlisted tester.
    const aborted = await hit(gw, { path: "/h", localAddress: "127.0.0.5", headers: abort });
    assert.equal(aborted.status, 418);
    assert.ok(isInjected(aborted), aborted.body);
    const delayed = await hit(gw, { path: "/h", localAddress: "127.0.0.5", headers: delay });
    assert.equal(delayed.status, 200);
    assert.ok(delayed.ms >= 199, `asked for 200 ms, took ${delayed.ms.toFixed(0)} ms`);
    // Through a trusted proxy, for the client it names.
    const proxied = await hit(gw, { path: "/h", localAddress: "127.0.0.7", headers: { ...abort, "x-forwarded-for": "198.51.100.30" } });
    assert.equal(proxied.status, 418);
    assert.ok(isInjected(proxied));
    assert.deepEqual(await faults(gw, "h"), { delay: 1, abort: 2, overflow: 0 });
    const served = app.requests.length;
    assert.equal(served, 1, "only the delayed request reached the backend");

    // Everyone else asks in vain: answered by the backend at once, nothing counted.
    const untrusted = [
      { localAddress: "127.0.0.1", headers: { ...abort, ...delay } },
      { localAddress: "127.0.0.6", headers: { ...abort, ...delay } },
      { localAddress: "127.0.0.6", headers: { ...abort, ...delay, "x-forwarded-for": "127.0.0.5" } },
    ];
    for (const options of untrusted) {
      const answer = await hit(gw, { path: "/h", ...options });
      const who = `${options.localAddress} ${JSON.stringify(options.headers)}`;
      assert.equal(answer.status, 200, `ignored from ${who}`);
      assert.equal(answer.body, "ok");
      assert.ok(answer.ms < 200, `not delayed from ${who} (${answer.ms.toFixed(0)} ms)`);
    }
    assert.deepEqual(await faults(gw, "h"), { delay: 1, abort: 2, overflow: 0 }, "no fault injected for untrusted clients");

    // headers: false: not even the allowlisted tester.
    for (const headers of [abort, delay]) {
      const answer = await hit(gw, { path: "/n", localAddress: "127.0.0.5", headers });
      assert.equal(answer.status, 200, `headers: false ignores ${JSON.stringify(headers)}`);
      assert.ok(answer.ms < 200, `not delayed (${answer.ms.toFixed(0)} ms)`);
    }
    assert.deepEqual(await faults(gw, "n"), { delay: 0, abort: 0, overflow: 0 });

    // Values that are no status or no delay are ignored.
    for (const headers of [{ "x-rampart-fault-abort": "999" }, { "x-rampart-fault-abort": "teapot" }, { "x-rampart-fault-delay": "-5" }]) {
      const answer = await hit(gw, { path: "/h", localAddress: "127.0.0.5", headers });
      assert.equal(answer.status, 200, `${JSON.stringify(headers)} is ignored`);
    }
    assert.equal(app.requests.length, served + untrusted.length + 2 + 3, "every ignored request was forwarded once");
  });
});

describe("fault: an injected 503 is nobody's offence", () => {
  test("100% aborts with 503: the target's breaker stays closed and the client is not banned, with a jail on 503 and a breaker at volumeThreshold 2", async () => {
    // /real answers a real 503, to show that the same jail and breaker do act on the backend's own.
    const app = await backend((req, res) => {
      const status = req.url?.startsWith("/real") ? 503 : 200;
      res.writeHead(status, { "content-type": "text/plain" }).end(String(status));
    });
    const gw = await gateway(
      faultConfig(
        app.url,
        [
          { name: "faulty", match: { pathPrefix: "/f" }, fault: { abort: { percent: 100, status: 503 } } },
          { name: "real", match: { pathPrefix: "/real" } },
        ],
        {
          service: { circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 2, window: "10s", resetTimeout: "30s" } },
          top: { jails: { unavailable: { when: { status: [503] }, maxRetry: 2, findTime: "1m", banTime: "1h" } } },
        },
      ),
    );

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    defer(() => agent.destroy());
    const answers = await many(10, 1, () => hit(gw, { path: "/f", agent }));
    assert.deepEqual(
      answers.map((answer) => answer.status),
      new Array(10).fill(503),
    );
    assert.ok(answers.every(isInjected));
    await sleep(200);
    assert.deepEqual(await listBans(gw.adminPort), [], "ten injected 503s ban nobody");
    const state = await upstreamState(gw.adminPort, app.port, "app");
    assert.equal(state.breaker, "closed", "the target's breaker never saw the injected 503s");
    assert.equal(state.healthy, true);
    assert.equal(app.requests.length, 0);
    // Still served (and still faulted) on a fresh connection: not closed at accept as a banned client would be.
    const again = await hit(gw, { path: "/f" });
    assert.equal(again.status, 503);
    assert.ok(isInjected(again));

    // The control: two real 503s from another client ban it and open the breaker.
    for (let i = 0; i < 2; i++) assert.equal((await hit(gw, { path: "/real", localAddress: "127.0.0.9" })).status, 503);
    const bans = await eventually(async () => {
      const list = await listBans(gw.adminPort);
      return list.length > 0 ? list : undefined;
    }, 2_000, "the control client's ban");
    assert.deepEqual(
      bans.map((ban) => [ban.ip, ban.jail]),
      [["127.0.0.9", "unavailable"]],
      "the jail works, and only the control client is banned",
    );
    assert.equal((await upstreamState(gw.adminPort, app.port, "app")).breaker, "open", "the breaker works on real 503s");
  });
});

describe("fault: gRPC", () => {
  async function grpcBackend(): Promise<GrpcBackend> {
    const started = await startGrpcBackend();
    defer(() => started.close());
    return started;
  }

  test("an injected abort reaches a gRPC client (h2c) as HTTP 200, grpc-status 14 UNAVAILABLE, grpc-message fault_injected", async () => {
    const api = await grpcBackend();
    const log = captureLogger();
    const gw = await gateway(
      {
        tls: { redirectHttp: false },
        http2: { cleartext: true },
        services: { api: { protocol: "h2c", targets: [{ url: `http://${api.address}` }] } },
        routes: [{ name: "api", match: { pathPrefix: "/" }, service: "api", fault: { abort: { percent: 100, status: 503 } } }],
      },
      { accessLog: log.accessLog },
    );

    const client = grpcClient(`127.0.0.1:${gw.httpPort}`, { tls: false });
    defer(() => client.close());
    const error = await client.unary("hello").then(
      (result) => assert.fail(`expected the call to fail, it answered ${result.value.toString()}`),
      (failure: grpc.ServiceError) => failure,
    );
    assert.equal(error.code, grpc.status.UNAVAILABLE, `got ${error.code} (${grpc.status[error.code]}) ${error.details}`);
    assert.equal(error.details, "fault_injected");
    assert.equal(api.calls.length, 0, "the backend never saw the call");

    // On the wire: HTTP 200, trailers-only.
    const session = await h2Connect(gw.httpPort, { tls: false });
    defer(() => session.close());
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 5]), Buffer.from("hello")]);
    const raw = await h2Request(session, { ":method": "POST", ":path": "/test.Echo/Unary", "content-type": "application/grpc", te: "trailers" }, framed);
    assert.equal(raw.status, 200);
    assert.equal(raw.headers["grpc-status"], "14");
    assert.equal(raw.headers["grpc-message"], "fault_injected");
    assert.equal(raw.body, "", "trailers-only: no message");

    const lines = await accessLines(log, 2);
    assert.ok(
      lines.every((line) => line.fault === "abort"),
      JSON.stringify(lines),
    );
    assert.deepEqual(await faults(gw, "api"), { delay: 0, abort: 2, overflow: 0 });
  });
});

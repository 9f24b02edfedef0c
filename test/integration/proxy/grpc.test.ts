// gRPC through Rampart, with @grpc/grpc-js on both sides (test/helpers/grpc.ts): every call shape over
// TLS h2 (ALPN) and h2c prior knowledge, trailers and metadata passed through, deadlines and
// cancellations reaching the backend, a backend dying mid-stream, Rampart's own answers in gRPC shape
// (HTTP 200, trailers-only, grpc-status and grpc-message) and the gRPC health protocol as a probe.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { addBan, upstreamState } from "../../helpers/admin-api.js";
import { perTest } from "../../helpers/fixtures.js";
import type { ConfigObject, TestGateway } from "../../helpers/gateway.js";
import { ECHO_BIDI, ECHO_CLIENT_STREAM, ECHO_SERVER_STREAM, ECHO_SLOW, ECHO_UNARY, grpcClient, startGrpcBackend, type ClientOptions, type EchoClient, type GrpcBackend, type StreamError } from "../../helpers/grpc.js";
import { eventually } from "../../helpers/proxy-tools.js";

const { gateway, defer } = perTest();

const SERVICE = "api";

/** A gRPC backend closed after the test. */
async function grpcBackend(): Promise<GrpcBackend> {
  const started = await startGrpcBackend();
  defer(() => started.close());
  return started;
}

/**
 * Service "api" (h2c to `backend`) behind one route for every path, with h2c prior knowledge on the
 * HTTP listener as well as h2 on the HTTPS one; `service`, `route` and `top` keys are merged in.
 */
function grpcConfig(backend: GrpcBackend, extra: { service?: ConfigObject; route?: ConfigObject; top?: ConfigObject } = {}): ConfigObject {
  return {
    services: { [SERVICE]: { protocol: "h2c", targets: [{ url: `http://${backend.address}` }], ...extra.service } },
    routes: [{ name: SERVICE, match: { pathPrefix: "/" }, service: SERVICE, ...extra.route }],
    http2: { cleartext: true },
    tls: { redirectHttp: false },
    ...extra.top,
  };
}

interface Rampart {
  readonly gw: TestGateway;
  /** The access-log lines so far, for assertion messages. */
  log(): string;
  /** A client of the HTTPS listener (h2 by ALPN), closed after the test. */
  tls(options?: ClientOptions): EchoClient;
  /** A client of the HTTP listener (h2c with prior knowledge), closed after the test. */
  h2c(options?: ClientOptions): EchoClient;
}

async function rampart(config: ConfigObject): Promise<Rampart> {
  const lines: string[] = [];
  const gw = await gateway(config, { accessLog: { write: (line) => lines.push(line.trimEnd()) } });
  const client = (port: number, options: ClientOptions) => {
    const started = grpcClient(`127.0.0.1:${port}`, options);
    defer(() => started.close());
    return started;
  };
  return {
    gw,
    log: () => `access log:\n${lines.join("\n")}`,
    // SNI and :authority "localhost", the name of the gateway's self-signed certificate (no SNI for an IP).
    tls: (options = {}) => client(gw.httpsPort, { authority: "localhost", ...options, tls: true }),
    h2c: (options = {}) => client(gw.httpPort, { ...options, tls: false }),
  };
}

/** Awaits a promise that must reject, and returns its error; `r` adds the access log to the failure. */
async function rejection<E = grpc.ServiceError>(promise: Promise<unknown>, what: string, r?: Rampart): Promise<E> {
  const started = Date.now();
  let answer: unknown;
  try {
    answer = await promise;
  } catch (error) {
    return error as E;
  }
  const value = (answer as { value?: unknown } | undefined)?.value ?? answer;
  assert.fail(`${what}: expected the call to fail, it answered ${JSON.stringify(String(value))} after ${Date.now() - started} ms${r ? `; ${r.log()}` : ""}`);
}

/** Awaits a call that must succeed; when it fails, says what the client, the backend and the gateway saw. */
async function succeeds<T>(promise: Promise<T>, what: string, backend: GrpcBackend, r: Rampart): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    const failure = error as grpc.ServiceError & { received?: unknown[] };
    const calls = backend.calls.map((call) => `${call.path}${call.cancelled ? " (cancelled)" : ""}`).join(", ");
    assert.fail(
      `${what} failed with code ${failure.code} (${grpc.status[failure.code]}) details ${JSON.stringify(failure.details)}; ` +
        `received before: ${JSON.stringify(failure.received?.map(String) ?? [])}; backend saw ${backend.calls.length} call(s) [${calls}]; ${r.log()}`,
    );
  }
}

/** Asserts a gRPC error's code and details, with the access log when they differ. */
function assertStatus(error: grpc.ServiceError, code: grpc.status, details: string, r: Rampart): void {
  const seen = `got code ${error.code} (${grpc.status[error.code]}) details ${JSON.stringify(error.details)}; ${r.log()}`;
  assert.equal(error.code, code, seen);
  assert.equal(error.details, details, seen);
}

describe("gRPC calls through Rampart", () => {
  test("over TLS h2: unary, server, client and bidi streams, response metadata, trailers and forwarded metadata", async () => {
    const backend = await grpcBackend();
    const r = await rampart(grpcConfig(backend));
    const client = r.tls();

    const payload = Buffer.from([0, 1, 2, 255, 10, 13]);
    const unary = await client.unary(payload, { "x-request-id": "grpc-trace-1", "x-custom": "kept" });
    assert.deepEqual(unary.value, payload);
    assert.deepEqual(unary.metadata.get("x-backend-port"), [String(backend.port)], "the backend's response headers pass through");
    assert.deepEqual(unary.metadata.get("x-request-id"), ["grpc-trace-1"]);
    const seen = backend.lastCall(ECHO_UNARY);
    assert.ok(seen, r.log());
    assert.deepEqual(seen.metadata.get("x-request-id"), ["grpc-trace-1"]);
    assert.deepEqual(seen.metadata.get("x-forwarded-for"), ["127.0.0.1"]);
    assert.deepEqual(seen.metadata.get("x-custom"), ["kept"]);
    assert.equal(seen.deadline, Infinity, "no deadline asked, none invented");

    // Without one, Rampart makes up a request id and the backend gets it.
    await client.unary("no id");
    const generated = backend.lastCall(ECHO_UNARY)?.metadata.get("x-request-id") ?? [];
    assert.equal(generated.length, 1);
    assert.match(String(generated[0]), /\S/);
    assert.deepEqual(backend.lastCall(ECHO_UNARY)?.metadata.get("x-forwarded-for"), ["127.0.0.1"]);

    assert.deepEqual(await succeeds(client.serverStream(5), "server stream", backend, r), ["0", "1", "2", "3", "4"]);
    assert.deepEqual(await succeeds(client.serverStream(0), "empty server stream", backend, r), []);
    assert.equal((await succeeds(client.clientStream(["ab", "cd", Buffer.from("ef")]), "client stream", backend, r)).toString(), "abcdef");
    // Bounded: a gateway that holds the request stream back stalls the ping-pong.
    const echoes = await succeeds(client.bidi(["one", "two", "three"], {}, { deadlineMs: 5_000 }), "bidi ping-pong", backend, r);
    assert.deepEqual(
      echoes.map((echo) => echo.toString()),
      ["one", "two", "three"],
      "bidi ping-pong: each message is forwarded as it arrives",
    );
    for (const path of [ECHO_SERVER_STREAM, ECHO_CLIENT_STREAM, ECHO_BIDI]) {
      assert.deepEqual(backend.lastCall(path)?.metadata.get("x-forwarded-for"), ["127.0.0.1"], path);
      assert.equal(backend.lastCall(path)?.metadata.get("x-request-id").length, 1, path);
    }

    // The backend's error status and message come in its trailers: they reach the client as sent.
    const failed = await rejection(client.unary("x", { "x-fail": String(grpc.status.FAILED_PRECONDITION) }), "x-fail", r);
    assertStatus(failed, grpc.status.FAILED_PRECONDITION, "asked to fail", r);
    assert.equal(backend.cancellations, 0);
  });

  test("over h2c with prior knowledge: unary, streams and the backend's error trailers", async () => {
    const backend = await grpcBackend();
    const r = await rampart(grpcConfig(backend));
    const client = r.h2c();

    assert.equal((await client.unary("plain", { "x-request-id": "h2c-1" })).value.toString(), "plain");
    assert.deepEqual(backend.lastCall(ECHO_UNARY)?.metadata.get("x-request-id"), ["h2c-1"]);
    assert.deepEqual(backend.lastCall(ECHO_UNARY)?.metadata.get("x-forwarded-for"), ["127.0.0.1"]);
    assert.deepEqual(await succeeds(client.serverStream(3), "server stream", backend, r), ["0", "1", "2"]);
    assert.equal((await succeeds(client.clientStream(["x", "y"]), "client stream", backend, r)).toString(), "xy");
    const echoes = await succeeds(client.bidi(["a", "b"], {}, { deadlineMs: 5_000 }), "bidi ping-pong", backend, r);
    assert.deepEqual(
      echoes.map((echo) => echo.toString()),
      ["a", "b"],
    );
    const failed = await rejection(client.unary("x", { "x-fail": String(grpc.status.NOT_FOUND) }), "x-fail", r);
    assertStatus(failed, grpc.status.NOT_FOUND, "asked to fail", r);
  });

  test("a client deadline reaches the backend; a short one is DEADLINE_EXCEEDED and cancels the backend's call", async () => {
    const backend = await grpcBackend();
    const r = await rampart(grpcConfig(backend));
    const client = r.tls();
    // Connected first (client → gateway and gateway → backend), so the deadlines below are not spent on connecting.
    await client.unary("warm up");

    await client.unary("with deadline", {}, { deadlineMs: 8_000 });
    const call = backend.lastCall(ECHO_UNARY);
    assert.ok(call);
    assert.ok(Number.isFinite(call.remainingMs), `the backend saw a deadline (grpc-timeout forwarded); ${r.log()}`);
    assert.ok(call.remainingMs <= 8_000 && call.remainingMs > 3_000, `remaining ${call.remainingMs} ms of an 8 s deadline`);

    const started = Date.now();
    const error = await rejection(client.slow(5_000, { deadlineMs: 300 }), "slow with a 300 ms deadline", r);
    assert.equal(error.code, grpc.status.DEADLINE_EXCEEDED, `${error.code} ${error.details}; ${r.log()}`);
    assert.ok(Date.now() - started < 2_500, "well before Slow's 5 s");
    await backend.cancelled(1, 3_000);
    assert.equal(backend.lastCall(ECHO_SLOW)?.cancelled, true);
    assert.ok(Number.isFinite(backend.lastCall(ECHO_SLOW)!.remainingMs));

    // The connection is still good for the next call.
    assert.equal((await client.unary("after")).value.toString(), "after");
  });

  test("a call the client cancels is cancelled at the backend (unary over TLS, a stream midway over h2c)", async () => {
    const backend = await grpcBackend();
    const r = await rampart(grpcConfig(backend));

    const error = await r.tls().cancelSlow(5_000, 100);
    assert.equal(error.code, grpc.status.CANCELLED);
    await backend.cancelled(1, 3_000).catch((waited: Error) => assert.fail(`${waited.message}; ${r.log()}`));
    assert.equal(backend.lastCall(ECHO_SLOW)?.cancelled, true);

    const metadata = new grpc.Metadata();
    metadata.set("x-interval-ms", "20");
    const identity = (bytes: Buffer): Buffer => bytes;
    const stream = r.h2c().client.makeServerStreamRequest(ECHO_SERVER_STREAM, identity, identity, Buffer.from("1000"), metadata);
    stream.on("error", () => {});
    await new Promise<void>((resolve) => stream.once("data", () => resolve()));
    stream.cancel();
    await backend.cancelled(2, 3_000).catch((waited: Error) => assert.fail(`${waited.message}; ${r.log()}`));
    assert.equal(backend.lastCall(ECHO_SERVER_STREAM)?.cancelled, true);
  });

  test("a backend that dies mid-stream fails the call after what it sent; the next call gets a new connection", async () => {
    const backend = await grpcBackend();
    const r = await rampart(grpcConfig(backend));
    const client = r.tls();

    const error = await rejection<StreamError>(client.serverStream(10, { "x-die-after": "3" }), "x-die-after");
    assert.ok(
      error.code === grpc.status.UNAVAILABLE || error.code === grpc.status.INTERNAL,
      `got code ${error.code} (${grpc.status[error.code]}) details ${JSON.stringify(error.details)}; ${r.log()}`,
    );
    assert.deepEqual(error.received, ["0", "1", "2"], "the messages sent before the crash arrive");
    assert.equal(backend.connections, 1);

    const again = await client.unary("again");
    assert.equal(again.value.toString(), "again", r.log());
    assert.equal(backend.connections, 2, "a fresh upstream connection replaces the dead one");
    assert.deepEqual(await client.serverStream(2), ["0", "1"]);
  });
});

describe("Rampart's own answers to gRPC calls are gRPC statuses", () => {
  test("rate limited: RESOURCE_EXHAUSTED rate_limited", async () => {
    const backend = await grpcBackend();
    const r = await rampart(grpcConfig(backend, { route: { rateLimit: "one" }, top: { rateLimits: { one: { limit: 1, window: "1m" } } } }));
    const client = r.tls();
    assert.equal((await client.unary("first")).value.toString(), "first");
    const error = await rejection(client.unary("second"), "over the limit", r);
    assertStatus(error, grpc.status.RESOURCE_EXHAUSTED, "rate_limited", r);
    assert.equal(backend.calls.length, 1, "the limited call never reached the backend");
  });

  test("no route: UNIMPLEMENTED no_route (over h2c)", async () => {
    const backend = await grpcBackend();
    const r = await rampart(grpcConfig(backend, { route: { match: { pathPrefix: "/other.Service" } } }));
    const error = await rejection(r.h2c().unary("x"), "no route", r);
    assertStatus(error, grpc.status.UNIMPLEMENTED, "no_route", r);
    assert.equal(backend.calls.length, 0);
  });

  test("a client banned behind a trusted proxy: PERMISSION_DENIED banned; the proxy's other clients pass", async () => {
    const backend = await grpcBackend();
    const r = await rampart(grpcConfig(backend, { top: { trustedProxies: ["127.0.0.0/8"] } }));
    await addBan(r.gw.adminPort, "203.0.113.9", "1h", "grpc test");
    const client = r.tls();
    const error = await rejection(client.unary("x", { "x-forwarded-for": "203.0.113.9" }), "banned client", r);
    assertStatus(error, grpc.status.PERMISSION_DENIED, "banned", r);
    assert.equal(backend.calls.length, 0);

    // Same connection, another client of that proxy: served (a ban through a proxy does not close it).
    assert.equal((await client.unary("ok", { "x-forwarded-for": "203.0.113.10" })).value.toString(), "ok", r.log());
    assert.deepEqual(backend.lastCall(ECHO_UNARY)?.metadata.get("x-forwarded-for"), ["203.0.113.10, 127.0.0.1"]);
  });

  test("upstream silent from the start (no headers) for timeouts.response: DEADLINE_EXCEEDED gateway_timeout, the backend's call cancelled", async () => {
    const backend = await grpcBackend();
    const r = await rampart(grpcConfig(backend, { service: { timeouts: { response: "300ms" } } }));
    const client = r.tls();
    const started = Date.now();
    const error = await rejection(client.slow(2_000, { metadata: { "x-late-headers": "1" } }), "slow (headers held back) behind a 300 ms response timeout", r);
    assertStatus(error, grpc.status.DEADLINE_EXCEEDED, "gateway_timeout", r);
    assert.ok(Date.now() - started < 1_800, `answered after ${Date.now() - started} ms, before Slow's 2 s`);
    await backend.cancelled(1, 3_000).catch((waited: Error) => assert.fail(`${waited.message}; ${r.log()}`));
  });

  test("once its headers arrived, a quiet stream is bounded by the client's deadline, not timeouts.response", async () => {
    // Slow sends its response headers at once, then nothing for 1 s. A gRPC stream may rightly stay quiet
    // (a watch): for HTTP/2 services timeouts.response bounds the wait for the headers only (README).
    const backend = await grpcBackend();
    const r = await rampart(grpcConfig(backend, { service: { timeouts: { response: "300ms" } } }));
    const answered = await r.tls().slow(1_000);
    assert.equal(answered.value.toString(), "slept 1000", r.log());
  });
});

describe("gRPC health checks", () => {
  test("NOT_SERVING marks the target down (calls get UNAVAILABLE no_healthy_target), SERVING up again", async () => {
    const backend = await grpcBackend();
    const r = await rampart(
      grpcConfig(backend, {
        service: { healthCheck: { grpc: true, interval: "100ms", timeout: "500ms", healthyThreshold: 1, unhealthyThreshold: 1 } },
      }),
    );
    const state = () => upstreamState(r.gw.adminPort, backend.port, SERVICE);
    const client = r.tls();

    // Probed with the gRPC health protocol (Health/Check calls, which are not in backend.calls).
    await eventually(async () => (backend.healthChecks > 0 && (await state()).healthy ? true : undefined), 3_000, "a healthy gRPC probe");
    assert.equal((await client.unary("up")).value.toString(), "up");

    backend.setServing(false);
    const down = await eventually(async () => {
      const row = await state();
      return row.healthy ? undefined : row;
    }, 3_000, "the target marked unhealthy");
    assert.equal(down.healthy, false);
    const calls = backend.calls.length;
    const error = await rejection(client.unary("down"), "no healthy target", r);
    assertStatus(error, grpc.status.UNAVAILABLE, "no_healthy_target", r);
    assert.equal(backend.calls.length, calls, "nothing forwarded to the unhealthy target");

    backend.setServing(true);
    await eventually(async () => ((await state()).healthy ? true : undefined), 3_000, "the target healthy again");
    assert.equal((await client.unary("up again")).value.toString(), "up again", r.log());
  });
});

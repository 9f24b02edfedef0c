// The gRPC test harness itself, client straight to backend with no gateway in between: each method
// behaves as the proxy tests will assume, so a failure there points at the gateway, not the harness.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import {
  decodeHealthResponse,
  ECHO_SERVER_STREAM,
  ECHO_SLOW,
  ECHO_UNARY,
  encodeHealthRequest,
  encodeHealthResponse,
  grpcClient,
  healthCheck,
  startGrpcBackend,
  type EchoClient,
  type GrpcBackend,
  type StreamError,
} from "../../helpers/grpc.js";

const identity = (bytes: Buffer): Buffer => bytes;

/** Awaits a promise that must reject, and returns its error. */
async function rejection<E = grpc.ServiceError>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (error) {
    return error as E;
  }
  assert.fail("expected a rejection");
}

describe("gRPC harness (client → backend directly)", () => {
  let backend: GrpcBackend;
  let client: EchoClient;

  // A fresh pair per test: counters (connections, cancellations) then start at zero.
  beforeEach(async () => {
    backend = await startGrpcBackend();
    client = grpcClient(backend.address);
  });

  afterEach(async () => {
    client.close();
    await backend.close();
  });

  test("unary echoes the bytes, names the backend and records metadata and deadline", async () => {
    const payload = Buffer.from([0, 1, 2, 255]);
    const result = await client.unary(payload, { "x-request-id": "req-1" }, { deadlineMs: 10_000 });
    assert.deepEqual(result.value, payload);
    assert.deepEqual(result.metadata.get("x-backend-port"), [String(backend.port)]);

    const call = backend.lastCall(ECHO_UNARY);
    assert.ok(call);
    assert.deepEqual(call.metadata.get("x-request-id"), ["req-1"]);
    // grpc-timeout became the server-side deadline (and left the metadata). The first call also pays
    // for the connection, which can take a while on a loaded machine: hence the wide margin.
    assert.deepEqual(call.metadata.get("grpc-timeout"), []);
    assert.ok(call.remainingMs > 5_000 && call.remainingMs <= 10_000, `remaining ${call.remainingMs}`);
    assert.equal(call.host, backend.address);
    assert.match(call.peer, /^127\.0\.0\.1:\d+$/);

    await client.unary("no deadline");
    assert.equal(backend.lastCall()?.deadline, Infinity);
    assert.equal(backend.lastCall()?.remainingMs, Infinity);
  });

  test("x-fail answers the asked status with its message", async () => {
    const error = await rejection(client.unary("x", { "x-fail": String(grpc.status.PERMISSION_DENIED) }));
    assert.equal(error.code, grpc.status.PERMISSION_DENIED);
    assert.equal(error.details, "asked to fail");
    assert.equal(backend.cancellations, 0);
  });

  test("server stream sends 0..N-1", async () => {
    assert.deepEqual(await client.serverStream(5), ["0", "1", "2", "3", "4"]);
    assert.deepEqual(await client.serverStream(0), []);
  });

  test("x-die-after drops the connection after K messages; the backend goes on serving", async () => {
    const error = await rejection<StreamError>(client.serverStream(10, { "x-die-after": "3" }));
    assert.deepEqual(error.received, ["0", "1", "2"]);
    assert.equal(error.code, grpc.status.UNAVAILABLE, error.message);
    // Its own drop is no cancellation by the caller.
    assert.equal(backend.cancellations, 0);

    assert.equal((await client.unary("again")).value.toString(), "again");
    assert.equal(backend.connections, 2);
  });

  test("client stream concatenates, bidi echoes message by message", async () => {
    assert.equal((await client.clientStream(["ab", "cd", Buffer.from("ef")])).toString(), "abcdef");
    assert.equal((await client.clientStream([])).length, 0);

    const echoes = await client.bidi(["one", "two", "three"]);
    assert.deepEqual(
      echoes.map((echo) => echo.toString()),
      ["one", "two", "three"],
    );
  });

  test("slow answers after its delay", async () => {
    const started = Date.now();
    const result = await client.slow(100);
    assert.equal(result.value.toString(), "slept 100");
    assert.ok(Date.now() - started >= 90);
    assert.equal(backend.lastCall(ECHO_SLOW)?.cancelled, false);
  });

  test("a deadline shorter than the delay is DEADLINE_EXCEEDED, and the backend sees the call cancelled", async () => {
    // Connected first, so the short deadline is not spent on connecting and the call reaches the backend.
    await client.unary("warm up");
    const started = Date.now();
    const error = await rejection(client.slow(5_000, { deadlineMs: 200 }));
    assert.equal(error.code, grpc.status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started < 2_500, "well before Slow's 5 s");
    await backend.cancelled();
    assert.equal(backend.cancellations, 1);
    assert.equal(backend.lastCall(ECHO_SLOW)?.cancelled, true);
  });

  test("call.cancel() is CANCELLED at the client and a cancellation at the backend", async () => {
    const error = await client.cancelSlow(5_000, 100);
    assert.equal(error.code, grpc.status.CANCELLED);
    await backend.cancelled();
    assert.equal(backend.lastCall(ECHO_SLOW)?.cancelled, true);
    // Completed calls never count as cancelled.
    assert.equal(backend.calls.filter((call) => call.cancelled).length, 1);
  });

  test("health says SERVING, then NOT_SERVING; unknown services are NOT_FOUND", async () => {
    assert.equal(await healthCheck(backend.address), "SERVING");
    assert.equal(await client.healthCheck("test.Echo"), "SERVING");
    backend.setServing(false);
    assert.equal(await healthCheck(backend.address), "NOT_SERVING");
    const error = await rejection(healthCheck(backend.address, { service: "nope" }));
    assert.equal(error.code, grpc.status.NOT_FOUND);
    assert.equal(backend.healthChecks, 4);
    // Probes stay out of the call log.
    assert.equal(backend.calls.length, 0);
  });

  test("health messages are the grpc.health.v1 protobufs", () => {
    assert.deepEqual(encodeHealthResponse("SERVING"), Buffer.from([0x08, 0x01]));
    assert.deepEqual(encodeHealthResponse("NOT_SERVING"), Buffer.from([0x08, 0x02]));
    assert.equal(decodeHealthResponse(Buffer.alloc(0)), "UNKNOWN");
    assert.deepEqual(encodeHealthRequest("test.Echo"), Buffer.from([0x0a, 9, ...Buffer.from("test.Echo")]));
    assert.equal(encodeHealthRequest("").length, 0);
  });

  test("a stream the client cancels midway counts as a cancellation", async () => {
    // x-interval-ms keeps the stream going long enough to be cancelled in the middle.
    const metadata = new grpc.Metadata();
    metadata.set("x-interval-ms", "20");
    const stream = client.client.makeServerStreamRequest(ECHO_SERVER_STREAM, identity, identity, Buffer.from("100"), metadata);
    stream.on("error", () => {});
    await new Promise<void>((resolve) => stream.once("data", () => resolve()));
    stream.cancel();
    await backend.cancelled();
    assert.equal(backend.lastCall(ECHO_SERVER_STREAM)?.cancelled, true);
  });
});

// The gRPC health protocol as a probe (`healthCheck.grpc: true`): grpc.health.v1.Health/Check for the
// server as a whole (service ""), over a fresh HTTP/2 connection per probe, as HTTP probes use a fresh
// connection. A target is healthy when the call succeeds (grpc-status 0) and says SERVING.
// https://github.com/grpc/grpc/blob/master/doc/health-checking.md
import http2 from "node:http2";
import type { ConnectionOptions } from "node:tls";
import type { HealthCheckConfig } from "../config/schema.js";
import { failureOf, type ProbeOutcome } from "./health-check.js";

const CHECK_PATH = "/grpc.health.v1.Health/Check";
/** One gRPC message frame (uncompressed, 4-byte length) holding an empty HealthCheckRequest. */
const EMPTY_REQUEST = Buffer.from([0, 0, 0, 0, 0]);
const SERVING_STATUSES = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/** `tls`: for https:// targets, the service's TLS options (upstream/upstream-tls.ts), as forwarding uses them. */
export function grpcProbe(url: URL, config: Pick<HealthCheckConfig, "timeout">, signal?: AbortSignal, tls?: ConnectionOptions): Promise<ProbeOutcome> {
  return new Promise<ProbeOutcome>((resolve) => {
    let settled = false;
    const session = http2.connect(url.origin, tls ?? {});
    const finish = (outcome: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      session.destroy();
      resolve(outcome);
    };
    const onAbort = (): void => finish({ ok: false, reason: "aborted" });
    const timer = setTimeout(() => finish({ ok: false, reason: `timeout after ${config.timeout} ms` }), config.timeout);
    timer.unref();
    if (signal?.aborted) return finish({ ok: false, reason: "aborted" });
    signal?.addEventListener("abort", onAbort, { once: true });
    session.on("error", (error: NodeJS.ErrnoException) => finish(failureOf(error)));

    const call = session.request({
      ":method": "POST",
      ":path": CHECK_PATH,
      "content-type": "application/grpc",
      te: "trailers",
      "user-agent": "rampart-health-check",
    });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    call.on("response", (headers) => {
      const status = headers[":status"];
      if (status !== 200) return finish({ ok: false, reason: `status ${status}` });
      // Trailers-only: the status comes with the headers.
      if (headers["grpc-status"] !== undefined) grpcStatus = String(headers["grpc-status"]);
    });
    call.on("trailers", (trailers) => {
      grpcStatus = String(trailers["grpc-status"]);
    });
    call.on("data", (chunk: Buffer) => chunks.push(chunk));
    call.on("end", () => {
      if (grpcStatus !== "0") return finish({ ok: false, reason: `grpc-status ${grpcStatus ?? "missing"}` });
      const serving = servingStatus(Buffer.concat(chunks));
      finish(serving === 1 ? { ok: true } : { ok: false, reason: SERVING_STATUSES[serving] ?? `serving status ${serving}` });
    });
    call.on("error", (error: NodeJS.ErrnoException) => finish(failureOf(error)));
    call.end(EMPTY_REQUEST);
  });
}

/**
 * HealthCheckResponse's `status` (field 1, a varint) from one gRPC message frame; 0 (UNKNOWN) when
 * absent, as protobuf leaves a default value off the wire.
 */
export function servingStatus(frame: Buffer): number {
  if (frame.length < 5 || frame[0] !== 0) return 0;
  const message = frame.subarray(5, 5 + frame.readUInt32BE(1));
  for (let i = 0; i + 1 < message.length; ) {
    const key = message[i++]!;
    if (key === 0x08) return message[i]! & 0x7f;
    // Skip any other field: varints by their continuation bits, length-delimited by their length.
    if ((key & 7) === 0) while (i < message.length && (message[i++]! & 0x80) !== 0);
    else if ((key & 7) === 2) i += 1 + message[i]!;
    else return 0;
  }
  return 0;
}

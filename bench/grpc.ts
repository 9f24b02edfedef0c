// gRPC for the h2 scenario without .proto files: every method carries raw Buffers (identity
// serializers). bench.Echo/Unary answers the same 100 bytes as the HTTP backends (body.ts), and
// grpc.health.v1.Health/Check answers SERVING (encoded by hand) for Rampart's gRPC health checks.
import * as grpc from "@grpc/grpc-js";
import { sleep, type Managed } from "./processes.js";

export const UNARY_PATH = "/bench.Echo/Unary";
export const HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check";
/** HealthCheckResponse{status: SERVING}: field 1, varint 1. */
export const HEALTH_SERVING = Buffer.from([0x08, 0x01]);

const identity = (bytes: Buffer): Buffer => bytes;

export function unaryMethod(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

/** One message as gRPC frames it on the wire: no compression, a 4-byte big-endian length, the bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/**
 * One unary call with a real @grpc/grpc-js client: over TLS trusting `rootCert` (the benchmark's
 * self-signed certificate, which names localhost and 127.0.0.1; SNI localhost, as an IP address is no
 * server name), else cleartext h2c. Resolves the answer's bytes.
 */
export async function unaryCall(address: string, message: Buffer, options: { readonly rootCert?: Buffer; readonly timeoutMs?: number } = {}): Promise<Buffer> {
  const credentials = options.rootCert === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(options.rootCert);
  const client = new grpc.Client(address, credentials, options.rootCert === undefined ? {} : { "grpc.ssl_target_name_override": "localhost" });
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      client.makeUnaryRequest(UNARY_PATH, identity, identity, message, new grpc.Metadata(), { deadline: Date.now() + (options.timeoutMs ?? 5_000) }, (error, value) => {
        if (error !== null) reject(new Error(`gRPC ${UNARY_PATH} via ${address}: ${error.code} ${error.details}`));
        else if (value === undefined) reject(new Error(`gRPC ${UNARY_PATH} via ${address}: no message`));
        else resolve(value);
      });
    });
  } finally {
    client.close();
  }
}

/** Retries `unaryCall` until it answers `expected`; fails early when `managed` exits. */
export async function waitForUnary(
  address: string,
  message: Buffer,
  expected: Buffer,
  managed: Managed,
  options: { readonly rootCert?: Buffer; readonly timeoutMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let last = "no answer";
  while (Date.now() < deadline) {
    if (managed.exited) throw new Error(`${managed.name} exited before ${UNARY_PATH} via ${address} answered`);
    try {
      const answer = await unaryCall(address, message, { rootCert: options.rootCert, timeoutMs: 2_000 });
      if (answer.equals(expected)) return;
      last = `answered ${answer.length} bytes, not the expected ${expected.length}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(200);
  }
  throw new Error(`${UNARY_PATH} via ${address} did not succeed within ${options.timeoutMs ?? 15_000} ms (${last})`);
}

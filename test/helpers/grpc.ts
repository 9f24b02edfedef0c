// A real @grpc/grpc-js backend and client for the gRPC proxy tests, without .proto files: every method
// carries raw Buffers (identity serializers), and the one protobuf the tests need, grpc.health.v1, is
// encoded by hand. The backend answers plaintext h2c on a loopback port 0 and records what it saw
// (metadata, deadline, cancellations) so a test can tell what a proxy forwarded.
//
// The backend owns its TCP listener and hands each accepted socket to the grpc.Server (a connection
// injector) instead of letting grpc-js bind: that way it can count connections and drop the one
// connection carrying a call (`x-die-after`) while the server lives on for the next test.
import net from "node:net";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";

export const ECHO_UNARY = "/test.Echo/Unary";
export const ECHO_SERVER_STREAM = "/test.Echo/ServerStream";
export const ECHO_CLIENT_STREAM = "/test.Echo/ClientStream";
export const ECHO_BIDI = "/test.Echo/Bidi";
export const ECHO_SLOW = "/test.Echo/Slow";
export const HEALTH_CHECK = "/grpc.health.v1.Health/Check";

const identity = (bytes: Buffer): Buffer => bytes;

function method(path: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

/** The test.Echo service: every message is the raw bytes on the wire. */
export const echoService = {
  Unary: method(ECHO_UNARY, false, false),
  ServerStream: method(ECHO_SERVER_STREAM, false, true),
  ClientStream: method(ECHO_CLIENT_STREAM, true, false),
  Bidi: method(ECHO_BIDI, true, true),
  Slow: method(ECHO_SLOW, false, false),
} satisfies grpc.ServiceDefinition;

/** grpc.health.v1.Health with only Check (no Watch). */
export const healthService = { Check: method(HEALTH_CHECK, false, false) } satisfies grpc.ServiceDefinition;

// --- grpc.health.v1 by hand ---------------------------------------------------------------------

/** HealthCheckResponse.ServingStatus; SERVICE_UNKNOWN is only used by Watch. */
export type HealthStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";
const HEALTH_STATUSES: readonly HealthStatus[] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

function encodeVarint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** Calls `onField` for each field of a protobuf message: varints as numbers, length-delimited as Buffers. */
function readFields(bytes: Buffer, onField: (field: number, value: number | Buffer) => void): void {
  let offset = 0;
  const varint = (): number => {
    let result = 0;
    let factor = 1;
    for (;;) {
      const byte = bytes[offset++];
      if (byte === undefined) throw new Error("truncated protobuf varint");
      result += (byte & 0x7f) * factor;
      if (byte < 0x80) return result;
      factor *= 128;
    }
  };
  while (offset < bytes.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    if (wireType === 0) onField(field, varint());
    else if (wireType === 2) {
      const length = varint();
      if (offset + length > bytes.length) throw new Error("truncated protobuf field");
      onField(field, bytes.subarray(offset, offset + length));
      offset += length;
    } else if (wireType === 1) offset += 8;
    else if (wireType === 5) offset += 4;
    else throw new Error(`unsupported protobuf wire type ${wireType}`);
  }
}

/** HealthCheckRequest{string service = 1}; the empty name (the whole server) encodes to no bytes. */
export function encodeHealthRequest(service = ""): Buffer {
  if (service === "") return Buffer.alloc(0);
  const name = Buffer.from(service, "utf8");
  return Buffer.concat([Buffer.from([0x0a]), encodeVarint(name.length), name]);
}

export function decodeHealthRequest(bytes: Buffer): string {
  let service = "";
  readFields(bytes, (field, value) => {
    if (field === 1 && Buffer.isBuffer(value)) service = value.toString("utf8");
  });
  return service;
}

/** HealthCheckResponse{ServingStatus status = 1}: SERVING is 0x08 0x01; UNKNOWN (0) is the empty message. */
export function encodeHealthResponse(status: HealthStatus): Buffer {
  const value = HEALTH_STATUSES.indexOf(status);
  return value === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x08]), encodeVarint(value)]);
}

export function decodeHealthResponse(bytes: Buffer): HealthStatus {
  let value = 0;
  readFields(bytes, (field, fieldValue) => {
    if (field === 1 && typeof fieldValue === "number") value = fieldValue;
  });
  const status = HEALTH_STATUSES[value];
  if (!status) throw new Error(`unknown health status ${value}`);
  return status;
}

// --- backend ------------------------------------------------------------------------------------

/** One call as the backend saw it. */
export interface RecordedCall {
  readonly path: string;
  /** Request metadata as grpc-js hands it to the handler (grpc-timeout is taken out: see `deadline`). */
  readonly metadata: grpc.Metadata;
  /** call.getDeadline(): a time in ms (from grpc-timeout), Infinity when the caller set none. */
  readonly deadline: grpc.Deadline;
  /** The deadline as ms left when the call arrived; Infinity without one. */
  readonly remainingMs: number;
  /** The :authority the call arrived with. */
  readonly host: string;
  /** The caller's address and port, "127.0.0.1:PORT" (a proxy's upstream connection). */
  readonly peer: string;
  /** Set when the caller cancelled (RST_STREAM, deadline, connection gone) before the backend answered. */
  cancelled: boolean;
}

export interface GrpcBackend {
  readonly server: grpc.Server;
  readonly port: number;
  /** "127.0.0.1:PORT", what grpc.Client takes. */
  readonly address: string;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Every test.Echo call so far, newest last. */
  readonly calls: readonly RecordedCall[];
  /** Calls cancelled by their caller before the backend answered (x-die-after drops do not count). */
  readonly cancellations: number;
  /** Health/Check calls answered so far (they are not in `calls`). */
  readonly healthChecks: number;
  /** The newest call, or the newest on `path`. */
  lastCall(path?: string): RecordedCall | undefined;
  /** Resolves once `cancellations` reaches `atLeast` (default 1; already there: at once); rejects after `timeoutMs` (default 5000). */
  cancelled(atLeast?: number, timeoutMs?: number): Promise<void>;
  /** What Health/Check answers for "" and "test.Echo" (SERVING at start). */
  setServing(serving: boolean): void;
  /** Destroys every open connection (a backend restart as its peers see it); the listener stays up. */
  dropConnections(): void;
  /** forceShutdown() and closes the listener; calling it again waits for the first close. */
  close(): Promise<void>;
}

/** What `record` reads of a server call of any kind (grpc-js does not export its ServerSurfaceCall). */
interface ServerCall {
  readonly metadata: grpc.Metadata;
  getPath(): string;
  getDeadline(): grpc.Deadline;
  getHost(): string;
  getPeer(): string;
  once(event: "cancelled", listener: () => void): unknown;
}

function numberFrom(metadata: grpc.Metadata, key: string): number | undefined {
  const value = metadata.get(key)[0];
  if (value === undefined) return undefined;
  const number = Number(value.toString());
  return Number.isFinite(number) ? number : undefined;
}

function remainingMs(deadline: grpc.Deadline): number {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? at - Date.now() : Infinity;
}

/**
 * Starts the test.Echo and health services on 127.0.0.1:0 (plaintext h2c). Every Echo answer carries
 * response metadata `x-backend-port: PORT`, so a test behind a load balancer can tell backends apart.
 *
 * - Unary echoes the request; metadata `x-fail: <code>` answers that status with "asked to fail".
 * - ServerStream: the request is a count N as text; sends "0".."N-1". `x-interval-ms: T` waits T ms
 *   between messages; `x-die-after: K` destroys the call's connection once K messages are on the wire.
 * - ClientStream answers the concatenation of every message; Bidi echoes each message as it arrives.
 * - Slow answers "slept MS" after `x-delay-ms: MS`, unless it is cancelled first. It sends its response
 *   headers at once, or with the answer when the call carries `x-late-headers` (any value): a backend
 *   silent from the start rather than after its headers.
 */
export async function startGrpcBackend(): Promise<GrpcBackend> {
  const server = new grpc.Server();
  const sockets = new Map<string, net.Socket>();
  const calls: RecordedCall[] = [];
  const cancelWaiters: { atLeast: number; resolve: () => void }[] = [];
  let connections = 0;
  let cancellations = 0;
  let healthChecks = 0;
  let serving = true;
  let port = 0;

  const responseMetadata = (): grpc.Metadata => {
    const metadata = new grpc.Metadata();
    metadata.set("x-backend-port", String(port));
    return metadata;
  };

  /**
   * Records the call and returns `settle`: once called, a later 'cancelled' is no cancellation (grpc-js
   * emits one when the stream closes after the answer, and when the backend drops the connection itself).
   */
  const record = (call: ServerCall, onCancel?: () => void): (() => void) => {
    const deadline = call.getDeadline();
    const entry: RecordedCall = {
      path: call.getPath(),
      metadata: call.metadata,
      deadline,
      remainingMs: remainingMs(deadline),
      host: call.getHost(),
      peer: call.getPeer(),
      cancelled: false,
    };
    calls.push(entry);
    let done = false;
    call.once("cancelled", () => {
      if (done) return;
      done = true;
      entry.cancelled = true;
      onCancel?.();
      cancellations++;
      for (const waiter of cancelWaiters.filter((w) => cancellations >= w.atLeast)) {
        cancelWaiters.splice(cancelWaiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
    return () => void (done = true);
  };

  const unary: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    record(call)();
    call.sendMetadata(responseMetadata());
    const fail = numberFrom(call.metadata, "x-fail");
    if (fail !== undefined) callback({ code: fail, details: "asked to fail" });
    else callback(null, call.request);
  };

  const serverStream: grpc.handleServerStreamingCall<Buffer, Buffer> = (call) => {
    let timer: NodeJS.Timeout | undefined;
    const settle = record(call, () => clearTimeout(timer));
    call.sendMetadata(responseMetadata());
    const count = Number(call.request.toString("utf8"));
    const dieAfter = numberFrom(call.metadata, "x-die-after");
    const intervalMs = numberFrom(call.metadata, "x-interval-ms") ?? 0;
    let sent = 0;
    const next = (): void => {
      if (call.cancelled) return;
      if (dieAfter !== undefined && sent >= dieAfter) {
        // Give the written frames a moment to reach the socket, then vanish like a crashed process.
        settle();
        timer = setTimeout(() => sockets.get(call.getPeer())?.destroy(), 50);
        return;
      }
      if (sent >= count) {
        settle();
        call.end();
        return;
      }
      call.write(Buffer.from(String(sent++)));
      timer = setTimeout(next, intervalMs);
    };
    next();
  };

  const clientStream: grpc.handleClientStreamingCall<Buffer, Buffer> = (call, callback) => {
    const settle = record(call);
    call.sendMetadata(responseMetadata());
    const chunks: Buffer[] = [];
    call.on("data", (chunk: Buffer) => chunks.push(chunk));
    call.on("end", () => {
      settle();
      callback(null, Buffer.concat(chunks));
    });
  };

  const bidi: grpc.handleBidiStreamingCall<Buffer, Buffer> = (call) => {
    const settle = record(call);
    call.sendMetadata(responseMetadata());
    call.on("data", (chunk: Buffer) => call.write(chunk));
    call.on("end", () => {
      settle();
      call.end();
    });
  };

  const slow: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    const delayMs = numberFrom(call.metadata, "x-delay-ms") ?? 0;
    const lateHeaders = call.metadata.get("x-late-headers").length > 0;
    const timer = setTimeout(() => {
      settle();
      if (lateHeaders) call.sendMetadata(responseMetadata());
      callback(null, Buffer.from(`slept ${delayMs}`));
    }, delayMs);
    const settle = record(call, () => clearTimeout(timer));
    if (!lateHeaders) call.sendMetadata(responseMetadata());
  };

  // Not in `calls`: a gateway probing the backend would otherwise push the test's own calls out of lastCall().
  const check: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    healthChecks++;
    let service: string;
    try {
      service = decodeHealthRequest(call.request);
    } catch (error) {
      return callback({ code: grpc.status.INVALID_ARGUMENT, details: (error as Error).message });
    }
    if (service !== "" && service !== "test.Echo") return callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${service}` });
    callback(null, encodeHealthResponse(serving ? "SERVING" : "NOT_SERVING"));
  };

  server.addService(echoService, { Unary: unary, ServerStream: serverStream, ClientStream: clientStream, Bidi: bidi, Slow: slow });
  server.addService(healthService, { Check: check });

  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = net.createServer((socket) => {
    connections++;
    // grpc-js names a call's peer `${remoteAddress}:${remotePort}` of its socket: the key to drop it by.
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    sockets.set(key, socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(key));
    injector.injectConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(0, "127.0.0.1", () => resolve());
  });
  port = (listener.address() as AddressInfo).port;

  let closed: Promise<void> | undefined;
  return {
    server,
    port,
    address: `127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    calls,
    get cancellations() {
      return cancellations;
    },
    get healthChecks() {
      return healthChecks;
    },
    lastCall: (path) => calls.filter((call) => path === undefined || call.path === path).at(-1),
    cancelled: (atLeast = 1, timeoutMs = 5_000) =>
      new Promise<void>((resolve, reject) => {
        if (cancellations >= atLeast) return resolve();
        // A proxy that never passes the cancellation on fails the test here instead of hanging it.
        const timer = setTimeout(() => {
          cancelWaiters.splice(cancelWaiters.indexOf(waiter), 1);
          reject(new Error(`${cancellations} cancellation(s) after ${timeoutMs} ms, waiting for ${atLeast}`));
        }, timeoutMs);
        const waiter = {
          atLeast,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        cancelWaiters.push(waiter);
      }),
    setServing: (value) => void (serving = value),
    dropConnections: () => {
      for (const socket of sockets.values()) socket.destroy();
    },
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.forceShutdown();
        injector.destroy();
        for (const socket of sockets.values()) socket.destroy();
        listener.close(() => resolve());
      })),
  };
}

// --- client -------------------------------------------------------------------------------------

/** Request metadata: a grpc.Metadata, or plain pairs (keys ending in -bin take Buffers). */
export type MetadataInit = grpc.Metadata | Readonly<Record<string, string | Buffer>>;

export interface CallOptions {
  /** Sets the call's deadline this many ms from now (sent as grpc-timeout). None by default. */
  readonly deadlineMs?: number;
}

export interface ClientOptions {
  /** Speak TLS (h2 over ALPN) instead of h2c; the server certificate is not verified (self-signed gateways). */
  readonly tls?: boolean;
  /** The :authority to send (and the TLS name to expect), e.g. to pick a gateway route by host. */
  readonly authority?: string;
}

export interface UnaryResult {
  readonly value: Buffer;
  /** Response headers (initial metadata), e.g. `x-backend-port`. */
  readonly metadata: grpc.Metadata;
  /** Trailing metadata of the OK status. */
  readonly trailers: grpc.Metadata;
}

/** A failed server stream: the grpc error plus the messages that arrived before it. */
export type StreamError = grpc.ServiceError & { readonly received: string[] };
/** A failed bidi call: the grpc error plus the echoes that arrived before it. */
export type BidiError = grpc.ServiceError & { readonly received: Buffer[] };

export interface EchoClient {
  /** The underlying grpc.Client, for calls the helpers do not cover (use with `echoService` paths). */
  readonly client: grpc.Client;
  /** Echo; rejects with the grpc.ServiceError (`.code`, `.details`, `.metadata` = trailers). */
  unary(bytes: Buffer | string, metadata?: MetadataInit, options?: CallOptions): Promise<UnaryResult>;
  /** Asks for `n` messages; resolves their texts, or rejects with a StreamError. */
  serverStream(n: number, metadata?: MetadataInit, options?: CallOptions): Promise<string[]>;
  /** Sends each chunk, half-closes, resolves the backend's concatenation. */
  clientStream(chunks: readonly (Buffer | string)[], metadata?: MetadataInit, options?: CallOptions): Promise<Buffer>;
  /**
   * Ping-pong: sends a chunk, waits for its echo, sends the next, then half-closes; a proxy that buffers
   * a stream stalls it. Rejects with a BidiError.
   */
  bidi(chunks: readonly (Buffer | string)[], metadata?: MetadataInit, options?: CallOptions): Promise<Buffer[]>;
  /**
   * Slow with `x-delay-ms: delayMs`; resolves "slept MS" or rejects (e.g. DEADLINE_EXCEEDED). With a
   * short deadline, warm the connection first (one unary call): a deadline spent on connecting never
   * reaches the backend.
   */
  slow(delayMs: number, options?: CallOptions & { readonly metadata?: MetadataInit }): Promise<UnaryResult>;
  /**
   * Starts Slow and call.cancel()s it `afterMs` after its response headers arrive (so the backend surely
   * has the call); resolves the CANCELLED error the client got.
   */
  cancelSlow(delayMs: number, afterMs: number): Promise<grpc.ServiceError>;
  /** Health/Check through this client's channel. */
  healthCheck(service?: string, options?: CallOptions): Promise<HealthStatus>;
  close(): void;
}

function toMetadata(init: MetadataInit | undefined): grpc.Metadata {
  if (init instanceof grpc.Metadata) return init.clone();
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(init ?? {})) metadata.set(key, value);
  return metadata;
}

function callOptions(options: CallOptions | undefined): grpc.CallOptions {
  return options?.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
}

function toBuffer(chunk: Buffer | string): Buffer {
  return typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
}

/** A unary-response call as a promise: the value with the headers and trailers that came with it. */
function unaryResult(start: (callback: grpc.requestCallback<Buffer>) => grpc.ClientUnaryCall | grpc.ClientWritableStream<Buffer>): Promise<UnaryResult> {
  return new Promise((resolve, reject) => {
    let metadata = new grpc.Metadata();
    let outcome: { error: grpc.ServiceError } | { value: Buffer } | undefined;
    const call = start((error, value) => {
      outcome = error ? { error } : { value: value ?? Buffer.alloc(0) };
    });
    call.on("metadata", (received: grpc.Metadata) => (metadata = received));
    // grpc-js emits 'status' right after the callback; the trailers only come with it.
    call.on("status", (status: grpc.StatusObject) => {
      if (!outcome) return reject(new Error(`status ${status.code} without a callback`));
      if ("error" in outcome) reject(outcome.error);
      else resolve({ value: outcome.value, metadata, trailers: status.metadata });
    });
  });
}

export function grpcClient(address: string, options: ClientOptions = {}): EchoClient {
  const credentials = options.tls ? grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false }) : grpc.credentials.createInsecure();
  const channelOptions: grpc.ChannelOptions = {
    // Each helper client gets its own connection: grpc-js otherwise shares subchannels process-wide,
    // and tests count and kill connections.
    "grpc.use_local_subchannel_pool": 1,
    ...(options.authority ? { "grpc.default_authority": options.authority, "grpc.ssl_target_name_override": options.authority } : {}),
  };
  const client = new grpc.Client(address, credentials, channelOptions);

  const unary: EchoClient["unary"] = (bytes, metadata, opts) =>
    unaryResult((callback) => client.makeUnaryRequest(ECHO_UNARY, identity, identity, toBuffer(bytes), toMetadata(metadata), callOptions(opts), callback));

  const serverStream: EchoClient["serverStream"] = (n, metadata, opts) =>
    new Promise((resolve, reject) => {
      const received: string[] = [];
      const call = client.makeServerStreamRequest(ECHO_SERVER_STREAM, identity, identity, Buffer.from(String(n)), toMetadata(metadata), callOptions(opts));
      call.on("data", (chunk: Buffer) => received.push(chunk.toString("utf8")));
      call.on("error", (error: grpc.ServiceError) => reject(Object.assign(error, { received })));
      // 'status' OK comes after the last 'data'; an error status comes with 'error' above.
      call.on("status", (status: grpc.StatusObject) => {
        if (status.code === grpc.status.OK) resolve(received);
      });
    });

  const clientStream: EchoClient["clientStream"] = (chunks, metadata, opts) =>
    unaryResult((callback) => {
      const call = client.makeClientStreamRequest(ECHO_CLIENT_STREAM, identity, identity, toMetadata(metadata), callOptions(opts), callback);
      for (const chunk of chunks) call.write(toBuffer(chunk));
      call.end();
      return call;
    }).then((result) => result.value);

  const bidi: EchoClient["bidi"] = (chunks, metadata, opts) =>
    new Promise((resolve, reject) => {
      const echoes: Buffer[] = [];
      const call = client.makeBidiStreamRequest(ECHO_BIDI, identity, identity, toMetadata(metadata), callOptions(opts));
      const sendNext = (): void => {
        const chunk = chunks[echoes.length];
        if (chunk === undefined) call.end();
        else call.write(toBuffer(chunk));
      };
      call.on("data", (echo: Buffer) => {
        echoes.push(echo);
        sendNext();
      });
      call.on("error", (error: grpc.ServiceError) => reject(Object.assign(error, { received: echoes })));
      call.on("status", (status: grpc.StatusObject) => {
        if (status.code === grpc.status.OK) resolve(echoes);
      });
      sendNext();
    });

  const slow: EchoClient["slow"] = (delayMs, opts) => {
    const metadata = toMetadata(opts?.metadata);
    metadata.set("x-delay-ms", String(delayMs));
    return unaryResult((callback) => client.makeUnaryRequest(ECHO_SLOW, identity, identity, Buffer.alloc(0), metadata, callOptions(opts), callback));
  };

  const cancelSlow: EchoClient["cancelSlow"] = (delayMs, afterMs) =>
    new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const metadata = toMetadata({ "x-delay-ms": String(delayMs) });
      const call = client.makeUnaryRequest(ECHO_SLOW, identity, identity, Buffer.alloc(0), metadata, {}, (error) => {
        clearTimeout(timer);
        if (error) resolve(error);
        else reject(new Error(`Slow answered before it was cancelled ${afterMs} ms after its headers`));
      });
      // Slow sends its headers at once: counting from them, the cancel cannot overtake the call on its
      // way to the backend (a cold connection, a proxy still dialling), which would leave it nothing to see.
      call.once("metadata", () => (timer = setTimeout(() => call.cancel(), afterMs)));
    });

  const healthCheck: EchoClient["healthCheck"] = (service = "", opts) =>
    unaryResult((callback) =>
      client.makeUnaryRequest(HEALTH_CHECK, identity, identity, encodeHealthRequest(service), new grpc.Metadata(), callOptions(opts), callback),
    ).then((result) => decodeHealthResponse(result.value));

  return { client, unary, serverStream, clientStream, bidi, slow, cancelSlow, healthCheck, close: () => client.close() };
}

/** One Health/Check on a fresh client (closed afterwards): the decoded status, or the grpc error. */
export async function healthCheck(address: string, options: ClientOptions & CallOptions & { readonly service?: string } = {}): Promise<HealthStatus> {
  const client = grpcClient(address, options);
  try {
    return await client.healthCheck(options.service, options);
  } finally {
    client.close();
  }
}

// HTTP/2 clients for tests: Node's http2 client for well-formed exchanges, and a raw frame writer for
// what a well-behaved client library refuses to send (floods, invalid frames, a body longer than its
// content-length).
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import net from "node:net";
import tls from "node:tls";

export function h2Connect(port: number, options: { tls?: boolean; localAddress?: string } = {}): Promise<ClientHttp2Session> {
  const secure = options.tls !== false;
  const origin = `${secure ? "https" : "http"}://127.0.0.1:${port}`;
  const { localAddress } = options;
  const session = http2.connect(origin, {
    createConnection: () =>
      secure
        ? tls.connect({ socket: net.connect({ port, host: "127.0.0.1", localAddress }), servername: "localhost", ALPNProtocols: ["h2"], rejectUnauthorized: false })
        : net.connect({ port, host: "127.0.0.1", localAddress }),
  });
  return new Promise((resolve, reject) => {
    session.once("connect", () => resolve(session));
    session.once("error", reject);
  });
}

export interface H2Response {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The RST_STREAM code when the stream was reset instead of answered (0 when it ended normally). */
  readonly rstCode: number;
}

/** One request on `session`; resolves when the stream closes, whatever happened to it. */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Response> {
  return new Promise((resolve) => {
    const stream = session.request({ ":path": "/", ...headers }, { endStream: body === undefined });
    let status = 0;
    let responseHeaders: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (received) => {
      responseHeaders = received;
      status = Number(received[":status"]);
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", () => {});
    stream.on("close", () => resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks).toString(), rstCode: stream.rstCode ?? 0 }));
    if (body !== undefined) stream.end(body);
  });
}

/** Waits until the session closes; resolves with the GOAWAY code it received, if any. */
export function closedWithGoaway(session: ClientHttp2Session, ms = 5_000): Promise<{ closed: boolean; goawayCode: number | undefined }> {
  return new Promise((resolve) => {
    let goawayCode: number | undefined;
    session.on("goaway", (code: number) => (goawayCode = code));
    session.on("error", () => {});
    const timer = setTimeout(() => resolve({ closed: false, goawayCode }), ms);
    session.once("close", () => {
      clearTimeout(timer);
      resolve({ closed: true, goawayCode });
    });
  });
}

// Raw frames (RFC 9113 §4.1): length (24 bits), type, flags, stream id (31 bits), payload.
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, END_HEADERS: 0x4, ACK: 0x1 } as const;
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** A header block of literal fields without indexing or Huffman coding (RFC 7541 §6.2.2): easy to write by hand. */
export function headerBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    parts.push(Buffer.from([0x00]), hpackString(name), hpackString(value));
  }
  return Buffer.concat(parts);
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, "latin1");
  if (bytes.length >= 127) throw new Error("test header fields stay under 127 bytes");
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

export interface RawH2Outcome {
  /** GOAWAY error codes the server sent. */
  readonly goaways: number[];
  /** Whether the server closed the connection within the wait. */
  readonly closed: boolean;
  /** RST_STREAM codes by stream id. */
  readonly resets: ReadonlyMap<number, number>;
  /** :status-bearing HEADERS frames seen, by stream id (the status itself is HPACK-coded, not decoded). */
  readonly headersOn: readonly number[];
}

/**
 * Opens a cleartext HTTP/2 connection (h2c prior knowledge), sends the preface, an empty SETTINGS and
 * `frames`, then reads what comes back for up to `ms` (or, with `read: false`, reads nothing until the
 * end, as a flood that never reads its answers).
 */
export function rawH2(port: number, frames: Buffer | (() => Buffer | undefined), options: { ms?: number; read?: boolean; localAddress?: string } = {}): Promise<RawH2Outcome> {
  const socket = net.connect({ port, host: "127.0.0.1", localAddress: options.localAddress });
  const goaways: number[] = [];
  const resets = new Map<number, number>();
  const headersOn: number[] = [];
  let received = Buffer.alloc(0);
  const parse = () => {
    while (received.length >= 9) {
      const length = received.readUIntBE(0, 3);
      if (received.length < 9 + length) return;
      const type = received[3]!;
      const streamId = received.readUInt32BE(5) & 0x7fffffff;
      const payload = received.subarray(9, 9 + length);
      if (type === FRAME.GOAWAY) goaways.push(payload.readUInt32BE(4));
      if (type === FRAME.RST_STREAM) resets.set(streamId, payload.readUInt32BE(0));
      if (type === FRAME.HEADERS) headersOn.push(streamId);
      received = received.subarray(9 + length);
    }
  };
  return new Promise((resolve) => {
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ goaways, closed, resets, headersOn });
    };
    const timer = setTimeout(finish, options.ms ?? 3_000);
    socket.on("error", () => {});
    socket.on("close", () => {
      closed = true;
      finish();
    });
    if (options.read === false) socket.pause();
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      parse();
    });
    socket.on("connect", () => {
      socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
      if (Buffer.isBuffer(frames)) {
        socket.write(frames);
        return;
      }
      // A producer: write until it has nothing more or the socket pushes back, then continue on drain.
      const pump = () => {
        for (;;) {
          const next = frames();
          if (next === undefined || socket.destroyed) return;
          if (!socket.write(next)) {
            socket.once("drain", pump);
            return;
          }
        }
      };
      pump();
    });
    // A flood that never reads: after the wait, read what arrived so the GOAWAY is seen.
    if (options.read === false) setTimeout(() => socket.resume(), Math.max(0, (options.ms ?? 3_000) - 500)).unref();
  });
}

// HTTP/2 towards clients. One Http2Server (Node's compatibility API, so every stream reaches the same
// request path as an HTTP/1.1 request) is fed sockets that already passed the connection gate: TLS
// sockets whose ALPN chose h2, or plain sockets that opened with the h2c preface. It never listens.
// Per-connection abuse limits live in http2-sessions.ts; nghttp2's own limits are set here.
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Server, type ServerHttp2Stream } from "node:http2";
import type { Duplex } from "node:stream";
import type { Http2Config, LimitsConfig } from "../config/schema.js";
import type { ClientProtocol } from "../pipeline/context.js";

export type Http2RequestListener = (req: Http2ServerRequest, res: Http2ServerResponse, protocol: ClientProtocol) => void;

/** Pseudo-headers a request carries besides its header lines (:method, :path, :scheme, :authority). */
const PSEUDO_HEADERS = 4;

export function createHttp2Server(http2Config: Http2Config, limits: LimitsConfig, onRequest: Http2RequestListener): Http2Server {
  const server = http2.createServer({
    settings: settingsOf(http2Config, limits),
    maxSessionMemory: http2Config.maxSessionMemory,
    // HPACK-decoded header lines per request: one over the limit so the request-target stage can
    // answer 431 as it does for HTTP/1.1, rather than nghttp2 resetting the stream without a word.
    maxHeaderListPairs: limits.maxHeaderCount + 1 + PSEUDO_HEADERS,
    // PINGs and SETTINGS the client made us owe; beyond, nghttp2 ends the connection (flood).
    maxOutstandingPings: 10,
    maxSettings: 32,
    // Malformed frames and requests (each answered with RST_STREAM) tolerated per connection before it is
    // ended as abuse; Node's default is 1,000. A client library that works never sends one.
    maxSessionInvalidFrames: 100,
    // The runtime's own rapid-reset guard (Node 22.?+/24): a backstop at twice our budget, so the
    // per-connection counter in http2-sessions.ts trips first and can name the reason.
    streamResetBurst: http2Config.resetBurst * 2,
    streamResetRate: Math.max(1, http2Config.resetRate * 2),
  } as http2.ServerOptions);
  const serve = (req: Http2ServerRequest, res: Http2ServerResponse) => {
    onRequest(req, res, (req.socket as { encrypted?: boolean }).encrypted === true ? "h2" : "h2c");
  };
  server.on("request", serve);
  // As for HTTP/1.1 (odd-requests.ts): with a listener here Node leaves "100 Continue" to the request-body
  // stage, which sends it only when the body is wanted; without one, Node sends it at once, before a 413.
  server.on("checkContinue", serve);
  return server;
}

/** Cuts a stream short (a client that stopped reading): RST_STREAM INTERNAL_ERROR says the response is incomplete. */
export function resetStream(stream: Duplex): void {
  (stream as ServerHttp2Stream).close(http2.constants.NGHTTP2_INTERNAL_ERROR);
}

/** On reload: new connections get the new stream limit and header budget. */
export function applyHttp2Settings(server: Http2Server, http2Config: Http2Config, limits: LimitsConfig): void {
  server.updateSettings(settingsOf(http2Config, limits));
}

function settingsOf(http2Config: Http2Config, limits: LimitsConfig): http2.Settings {
  return {
    maxConcurrentStreams: http2Config.maxConcurrentStreams,
    // The HPACK-decoded size of one header block: the same budget as an HTTP/1.1 head. It also bounds
    // a CONTINUATION flood (CVE-2024-27983), which nghttp2 refuses past this size.
    maxHeaderListSize: limits.maxHeaderSize,
    // No RFC 8441 extended CONNECT: browsers then open their WebSockets over HTTP/1.1, where they work.
    enableConnectProtocol: false,
  };
}

/** The first bytes of every HTTP/2 connection (RFC 9113 §3.4); how h2c with prior knowledge is told apart. */
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Reads a plain connection's first bytes and hands it on: to `h2` when they are the HTTP/2 preface, else
 * to `http1`, with the bytes put back. A client that sends nothing within `timeoutMs` is closed (no
 * server has its timeouts on it yet).
 */
export function sniffPreface(socket: Duplex, timeoutMs: number, h2: (socket: Duplex) => void, http1: (socket: Duplex) => void): void {
  let seen: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  socket.once("close", () => clearTimeout(timer));
  const onData = (chunk: Buffer) => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const compared = Math.min(seen.length, PREFACE.length);
    const isPreface = seen.subarray(0, compared).equals(PREFACE.subarray(0, compared));
    if (isPreface && seen.length < PREFACE.length) return;
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("end", onEnd);
    socket.pause();
    socket.unshift(seen);
    (isPreface ? h2 : http1)(socket);
    // node:http reads the socket's handle directly from now on; the bytes put back are still in the
    // stream's buffer and reach its parser through the 'data' listener once the stream flows again.
    if (!isPreface) socket.resume();
  };
  const onEnd = () => socket.destroy();
  socket.on("data", onData);
  socket.once("end", onEnd);
}

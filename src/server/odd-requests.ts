// Requests Node's HTTP server would otherwise answer with a bare close, a silent drop or an answer we
// did not choose. Each gets the contract's JSON answer and an access-log line:
// - CONNECT (Node destroys the socket when nobody listens for "connect"): 405, Rampart is no tunnel.
// - Upgrade other than websocket (`curl --http2 http://…` asks for h2c): served as if the header were
//   absent, which RFC 9110 §7.8 allows ("a server MAY ignore a received Upgrade header field").
// - Expect: 100-continue: Node would send "100 Continue" at once, inviting a body we may refuse; the
//   forward stage sends it only when the body is wanted (a 413 goes out without it).
// - Any other Expect value: 417 as Node would, but in JSON and logged (RFC 9110 §10.1.1).
// - Requests Node's parser refuses (400, 408, 431, 413): JSON, counted and logged.
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { rawResponse, replies, writeAnswer, type Reply } from "../pipeline/answers.js";
import { requestIdOf } from "../proxy/request-id.js";

/** What the access log learns about a request answered before the pipeline saw it. */
export interface Refusal {
  readonly socket: Duplex;
  readonly status: number;
  readonly reason: string;
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
}

export type RefusalObserver = (refusal: Refusal) => void;


/** Node parses these before a request exists; we answer with the contract's JSON, not a bare status. */
const PARSER_ERRORS: Readonly<Record<string, Reply>> = {
  HPE_HEADER_OVERFLOW: replies.headerTooLarge,
  ERR_HTTP_REQUEST_TIMEOUT: replies.requestTimeout,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: replies.bodyTooLarge,
};

/** RFC 6455 §4.1: the opening handshake is an HTTP/1.1 (or later) GET; anything else is served as a plain request. */
export function isWebSocketUpgrade(req: http.IncomingMessage): boolean {
  return req.method === "GET" && req.httpVersion === "1.1" && req.headers.upgrade?.toLowerCase() === "websocket";
}

/**
 * Node hands an upgrade request over without its parser, so a body that follows cannot be framed:
 * it would be read as the next bytes of a tunnel or of a request. Such a request is answered 400.
 */
export function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/** Writes `reply` onto a socket no response object owns, then closes it; reports it to `observe`. */
export function refuseOnSocket(socket: Duplex, reply: Reply, observe: RefusalObserver, method = "", path = ""): void {
  // No request was parsed (or none we keep), so there is no client id: every answer still carries one.
  const requestId = randomUUID();
  observe({ socket, status: reply.status, reason: reply.error, requestId, method, path });
  if (socket.writable) socket.end(rawResponse(reply, requestId, undefined, method === "HEAD"));
  else socket.destroy();
}

/** Wires the answers above onto `server`; `serve` is its normal request handler. */
export function handleOddRequests(server: http.Server, serve: http.RequestListener, observe: RefusalObserver, onClientError: (status: number) => void): void {
  server.on("connect", (req: http.IncomingMessage, socket: Duplex) => {
    socket.on("error", ignore);
    refuseOnSocket(socket, replies.methodNotAllowed, observe, "CONNECT", req.url ?? "");
  });
  server.on("checkContinue", serve);
  server.on("checkExpectation", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const requestId = requestIdOf(req);
    const socket = req.socket;
    observe({ socket, status: replies.expectationFailed.status, reason: replies.expectationFailed.error, requestId, method: req.method ?? "", path: req.url ?? "" });
    // The body that may follow is not wanted: close rather than read it.
    res.shouldKeepAlive = false;
    writeAnswer(res, replies.expectationFailed, requestId, req.method === "HEAD");
  });
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    const reply = PARSER_ERRORS[error.code ?? ""] ?? replies.badRequest;
    onClientError(reply.status);
    if (error.code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    const inFlight = (socket as Duplex & { _httpMessage?: http.ServerResponse | null })._httpMessage;
    if (inFlight != null && !inFlight.writableFinished && inFlight.req.complete) {
      // The bad bytes follow a whole request that is still being answered: that answer must not be
      // replaced by our 400 (the client would read it as the answer to the good request). Finish it, then close.
      inFlight.shouldKeepAlive = false;
      const requestId = randomUUID();
      observe({ socket, status: reply.status, reason: reply.error, requestId, method: methodOf(error), path: "" });
      return;
    }
    // The request whose bytes were being parsed (Node's own parser state; `incoming` is set from the
    // request line to the end of the body). Its answer may already be out, even finished (an early 431).
    const parsing = (socket as Duplex & { parser?: { incoming?: http.IncomingMessage | null } | null }).parser?.incoming;
    if (inFlight?.headersSent === true || (parsing?.complete === false && inFlight == null)) {
      // The bad bytes are in the body of a request whose answer has begun or ended: no second status line can follow.
      socket.destroy();
      return;
    }
    refuseOnSocket(socket, reply, observe, inFlight?.req.method ?? methodOf(error), inFlight?.req.url);
  });
}

/**
 * Serves an upgrade request that is not a WebSocket handshake as an ordinary request on the socket
 * Node handed over (its parser is gone, so the connection ends after this one answer).
 */
export function serveWithoutUpgrade(req: http.IncomingMessage, socket: Duplex, serve: http.RequestListener, observe: RefusalObserver): void {
  socket.on("error", ignore);
  if (hasBody(req)) {
    refuseOnSocket(socket, replies.badRequest, observe, req.method, req.url);
    return;
  }
  delete req.headers.upgrade;
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.once("finish", () => {
    res.detachSocket(socket as Socket);
    socket.end();
  });
  serve(req, res);
}

/** The method of the refused request, when the parser got that far: a HEAD must be answered without a body. */
function methodOf(error: NodeJS.ErrnoException & { rawPacket?: unknown }): string {
  if (!Buffer.isBuffer(error.rawPacket)) return "";
  const line = error.rawPacket.toString("latin1", 0, 16);
  const end = line.search(/[ \t]/);
  return end > 0 ? line.slice(0, end) : "";
}

function ignore(): void {}

// Requests Node's HTTP server would otherwise answer with a bare close, a silent drop or an answer we
// did not choose. Each gets the contract's JSON answer and an access-log line:
// - CONNECT (Node destroys the socket when nobody listens for "connect"): 405, Rampart is no tunnel.
// - Upgrade other than websocket (`curl --http2 http://…` asks for h2c): served as if the header were
//   absent, which RFC 9110 §7.8 allows ("a server MAY ignore a received Upgrade header field").
// - Expect: 100-continue: Node would send "100 Continue" at once, inviting a body we may refuse; the
//   forward stage sends it only when the body is wanted (a 413 goes out without it).
// - Requests Node's parser refuses (400, 408, 431, 413): JSON, counted and logged.
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Reply } from "../pipeline/reply.js";
import { rawResponse } from "../pipeline/respond.js";

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

const METHOD_NOT_ALLOWED: Reply = { status: 405, error: "method_not_allowed" };
const BAD_REQUEST: Reply = { status: 400, error: "bad_request" };

/** Node parses these before a request exists; we answer with the contract's JSON, not a bare status. */
const PARSER_ERRORS: Readonly<Record<string, Reply>> = {
  HPE_HEADER_OVERFLOW: { status: 431, error: "header_too_large" },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, error: "request_timeout" },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, error: "body_too_large" },
};

export function isWebSocketUpgrade(req: http.IncomingMessage): boolean {
  return req.method === "GET" && req.headers.upgrade?.toLowerCase() === "websocket";
}

/** Writes `reply` onto a socket no response object owns, then closes it; reports it to `observe`. */
export function refuseOnSocket(socket: Duplex, reply: Reply, observe: RefusalObserver, method = "", path = ""): void {
  // No request was parsed (or none we keep), so there is no client id: every answer still carries one.
  const requestId = randomUUID();
  observe({ socket, status: reply.status, reason: reply.error, requestId, method, path });
  if (socket.writable) socket.end(rawResponse(reply, requestId));
  else socket.destroy();
}

/** Wires the answers above onto `server`; `serve` is its normal request handler. */
export function handleOddRequests(server: http.Server, serve: http.RequestListener, observe: RefusalObserver, onClientError: (status: number) => void): void {
  server.on("connect", (req: http.IncomingMessage, socket: Duplex) => {
    socket.on("error", ignore);
    refuseOnSocket(socket, METHOD_NOT_ALLOWED, observe, "CONNECT", req.url ?? "");
  });
  server.on("checkContinue", serve);
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    const reply = PARSER_ERRORS[error.code ?? ""] ?? BAD_REQUEST;
    onClientError(reply.status);
    if (error.code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    refuseOnSocket(socket, reply, observe);
  });
}

/**
 * Serves an upgrade request that is not a WebSocket handshake as an ordinary request on the socket
 * Node handed over (its parser is gone, so the connection ends after this one answer). A body cannot
 * be read without the parser: such a request is answered 400.
 */
export function serveWithoutUpgrade(req: http.IncomingMessage, socket: Duplex, serve: http.RequestListener, observe: RefusalObserver): void {
  socket.on("error", ignore);
  const headers = req.headers;
  const length = headers["content-length"];
  if (headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0")) {
    refuseOnSocket(socket, BAD_REQUEST, observe, req.method, req.url);
    return;
  }
  delete headers.upgrade;
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.once("finish", () => {
    res.detachSocket(socket as Socket);
    socket.end();
  });
  serve(req, res);
}

function ignore(): void {}

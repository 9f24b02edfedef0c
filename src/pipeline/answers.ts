// Every answer Rampart gives by itself, defined once (the contract's "What clients see"): status, the
// stable `error` string of the JSON body ({"error":"rate_limited","requestId":"..."}) and headers such
// as Retry-After. Stages return them, GatewayError codes map onto them, connection-level refusals write
// them raw; this module also writes them, so the body has one shape everywhere (Fastify's errors.js).
// Expected outcomes ("no route", "over the limit", "banned") are returned as values; failures are typed
// GatewayErrors, and mapError() is the one place a failure becomes a status, a log line and the
// request's `failure` label; anything untyped is a bug, answered 500 with its stack logged.
import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import http2 from "node:http2";
import { CodedError } from "../observability/coded-error.js";
import type { Logger } from "../observability/logger.js";
import type { ClientResponse, RequestContext } from "./context.js";
import { bodyUnread } from "./linger.js";
import { pushOwnHeaders, setOwnHeaders } from "./own-headers.js";

export interface Reply {
  readonly status: number;
  /** Stable machine-readable reason, e.g. "no_route". */
  readonly error: string;
  /** The grpc-status a gRPC client gets instead (HTTP 200, trailers-only): the contract's table. */
  readonly grpc: GrpcStatus;
  readonly headers?: Readonly<Record<string, string | number>>;
  /** The connection ends after this answer (HTTP/1.1: `Connection: close`), whatever the client asked. */
  readonly closeAfter?: boolean;
}

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html) Rampart's own answers use. */
export const GRPC = {
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;
export type GrpcStatus = (typeof GRPC)[keyof typeof GRPC];

export const replies = {
  badRequest: { status: 400, grpc: GRPC.INTERNAL, error: "bad_request" },
  noRoute: { status: 404, grpc: GRPC.UNIMPLEMENTED, error: "no_route" },
  misdirected: { status: 421, grpc: GRPC.UNIMPLEMENTED, error: "misdirected_request" },
  bodyTooLarge: { status: 413, grpc: GRPC.RESOURCE_EXHAUSTED, error: "body_too_large" },
  bodyTimeout: { status: 408, grpc: GRPC.DEADLINE_EXCEEDED, error: "body_timeout" },
  tooManyHeaders: { status: 431, grpc: GRPC.INTERNAL, error: "too_many_headers" },
  methodNotAllowed: { status: 405, grpc: GRPC.UNIMPLEMENTED, error: "method_not_allowed" },
  expectationFailed: { status: 417, grpc: GRPC.INTERNAL, error: "expectation_failed" },
  // 400, not 505: a request line this listener cannot read is the client's fault, as HAProxy answers it.
  versionNotSupported: { status: 400, grpc: GRPC.INTERNAL, error: "unsupported_http_version" },
  // Sent with RateLimit-* and Retry-After for the policy that refused (stages/rate-limit-stage.ts).
  rateLimited: { status: 429, grpc: GRPC.RESOURCE_EXHAUSTED, error: "rate_limited" },
  tooManyInFlight: { status: 429, grpc: GRPC.RESOURCE_EXHAUSTED, error: "too_many_requests_in_flight", headers: { "retry-after": 1 } },
  // Retry-After on 503: long enough for a health check or breaker to change its mind.
  noHealthyTarget: { status: 503, grpc: GRPC.UNAVAILABLE, error: "no_healthy_target", headers: { "retry-after": 5 } },
  storeUnavailable: { status: 503, grpc: GRPC.UNAVAILABLE, error: "store_unavailable", headers: { "retry-after": 5 } },
  // 403s close the connection: a refused client gets no keep-alive to retry on. Unless the connection
  // is a trusted proxy's (the ViaProxy forms): it carries that proxy's other clients too.
  denied: { status: 403, grpc: GRPC.PERMISSION_DENIED, error: "denied", closeAfter: true },
  banned: { status: 403, grpc: GRPC.PERMISSION_DENIED, error: "banned", closeAfter: true },
  deniedViaProxy: { status: 403, grpc: GRPC.PERMISSION_DENIED, error: "denied" },
  bannedViaProxy: { status: 403, grpc: GRPC.PERMISSION_DENIED, error: "banned" },
  // A route with requireClientCert, asked without a certificate the client CA verified (tls.clientAuth).
  // The connection stays open: the client's other routes may not need one.
  clientCertRequired: { status: 403, grpc: GRPC.PERMISSION_DENIED, error: "client_cert_required" },
  headerTooLarge: { status: 431, grpc: GRPC.INTERNAL, error: "header_too_large" },
  requestTimeout: { status: 408, grpc: GRPC.DEADLINE_EXCEEDED, error: "request_timeout" },
  badGateway: { status: 502, grpc: GRPC.UNAVAILABLE, error: "bad_gateway" },
  gatewayTimeout: { status: 504, grpc: GRPC.DEADLINE_EXCEEDED, error: "gateway_timeout" },
  // Every pooled connection to the target stayed busy for the connect timeout (Envoy's pending overflow).
  upstreamBusy: { status: 503, grpc: GRPC.UNAVAILABLE, error: "upstream_busy", headers: { "retry-after": 1 } },
  internalError: { status: 500, grpc: GRPC.INTERNAL, error: "internal_error" },
  noChallenge: { status: 404, grpc: GRPC.UNIMPLEMENTED, error: "no_challenge" },

} as const satisfies Record<string, Reply>;

/** Failures on the request path, each with the answer it gets. */
export const errorCodes = {
  UPSTREAM_CONNECT_FAILED: replies.badGateway,
  UPSTREAM_CONNECT_TIMEOUT: replies.badGateway,
  UPSTREAM_RESET: replies.badGateway,
  UPSTREAM_RESPONSE_TIMEOUT: replies.gatewayTimeout,
  UPSTREAM_POOL_TIMEOUT: replies.upstreamBusy,
  BODY_TOO_LARGE: replies.bodyTooLarge,
  INTERNAL: replies.internalError,
} as const satisfies Record<string, Reply>;

export type ErrorCode = keyof typeof errorCodes;

export class GatewayError extends CodedError<ErrorCode> {}

const CONNECT_ERRORS = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EADDRNOTAVAIL"]);

/** Classifies what node:http (or http-proxy-3, for upgrades) reports about an upstream into one of our codes. */
export function upstreamErrorCode(error: unknown): ErrorCode {
  if (error instanceof GatewayError) return error.code;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && CONNECT_ERRORS.has(code)) return "UPSTREAM_CONNECT_FAILED";
  return "UPSTREAM_RESET";
}

export function mapError(ctx: RequestContext, error: unknown, logger: Logger): void {
  const code: ErrorCode = error instanceof GatewayError ? error.code : "INTERNAL";
  ctx.failure = code;
  if (code === "INTERNAL") {
    logger.error({ err: error, requestId: ctx.requestId }, "unexpected error on the request path");
  } else {
    logger.debug({ code, requestId: ctx.requestId, target: ctx.target?.key, message: (error as Error).message }, "request failed");
  }
  writeReply(ctx, errorCodes[code]);
}

/** `linger: false` closes without draining the body (a client that stopped sending has nothing to drain). */
export function writeReply(ctx: RequestContext, reply: Reply, linger = true): void {
  ctx.failure ??= reply.error;
  const body = answerBody(reply, ctx.requestId);
  const res = ctx.res;
  if (res === undefined) {
    ctx.ownAnswer = reply.error;
    writeRawReply(ctx, reply, body);
    return;
  }
  if (res.headersSent) {
    // Too late for a status: the only honest signal left is to cut the response short.
    res.destroy();
    return;
  }
  ctx.ownAnswer = reply.error;
  if (reply.closeAfter === true) endConnectionAfter(res);
  if (isGrpc(ctx.req)) {
    setOwnHeaders(res, ctx);
    writeGrpcReply(res, reply);
    return;
  }
  // HTTP/2 needs no lingering close: Node resets the stream (NO_ERROR) once the answer is out, and the
  // client stops sending that body (RFC 9113 §8.1). Decided before the head is written: it says whether
  // the connection stays open.
  if (!ctx.isHttp2 && bodyUnread(ctx.req)) {
    if (linger) ctx.linger.afterAnswer(ctx.req as IncomingMessage, res as ServerResponse);
    else (res as ServerResponse).shouldKeepAlive = false;
  }
  const length = Buffer.byteLength(body);
  // The whole head in one writeHead: a rejection should cost a fraction of a proxied request.
  const headers = ["content-type", "application/json", "content-length", String(length)];
  pushOwnHeaders(headers, ctx);
  if (reply.headers !== undefined) {
    for (const name in reply.headers) headers.push(name, String(reply.headers[name]));
  }
  writeHeaderList(res, reply.status, headers);
  if (ctx.req.method !== "HEAD") ctx.sentBytes = length;
  res.end(body);
}

/**
 * Writes a response's whole head from a flat [name, value...] list, which Node writes as given over
 * HTTP/1.1 and HTTP/2 alike (the HTTP/2 compatibility response's types name only objects).
 */
export function writeHeaderList(res: ClientResponse, status: number, headers: string[], statusMessage?: string): void {
  if ("stream" in res) (res as unknown as { writeHead(status: number, headers: string[]): void }).writeHead(status, headers);
  else if (statusMessage === undefined) res.writeHead(status, headers);
  else res.writeHead(status, statusMessage, headers);
}

/** A gRPC request (any content-type application/grpc*: +proto, +json, -web) gets a gRPC-shaped answer. */
export function isGrpc(req: { readonly headers: IncomingHttpHeaders }): boolean {
  return req.headers["content-type"]?.startsWith("application/grpc") === true;
}

/**
 * The answer a gRPC client can read: HTTP 200 with the status in `grpc-status` and no body, as one
 * HEADERS frame ending the stream ("trailers-only", https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
 * A rate-limited gRPC client then sees RESOURCE_EXHAUSTED, not a protocol error about HTTP 429.
 */
function writeGrpcReply(res: ClientResponse, reply: Reply): void {
  res.statusCode = 200;
  if (reply.headers !== undefined) {
    for (const name in reply.headers) res.setHeader(name, reply.headers[name]!);
  }
  res.setHeader("content-type", "application/grpc");
  res.setHeader("grpc-status", reply.grpc);
  // grpc-message is percent-encoded text; the stable error strings need no encoding.
  res.setHeader("grpc-message", reply.error);
  res.end();
}

/**
 * This answer is the connection's last (a 403 for a banned or denied client). HTTP/1.1: Connection:
 * close. HTTP/2: GOAWAY, letting the streams already open finish, then the connection closes.
 */
function endConnectionAfter(res: ClientResponse): void {
  if (!("stream" in res)) {
    res.shouldKeepAlive = false;
    return;
  }
  const session = res.stream.session;
  if (session === undefined || session.closed || session.destroyed) return;
  session.goaway(http2.constants.NGHTTP2_NO_ERROR);
  session.close();
}

function writeRawReply(ctx: RequestContext, reply: Reply, body: string): void {
  ctx.upgradeStatus = reply.status;
  const socket = ctx.socket;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  ctx.sentBytes = Buffer.byteLength(body);
  socket.end(rawResponse(reply, ctx.requestId, body));
}

/**
 * A whole HTTP/1.1 response, as text, for answers written straight onto a socket (refused upgrades,
 * CONNECT, requests the parser refused): always the last on its connection.
 */
export function rawResponse(reply: Reply, requestId: string, body = answerBody(reply, requestId), headOnly = false): string {
  return rawHttpResponse(reply.status, { ...reply.headers, "content-type": "application/json" }, requestId, body, headOnly);
}

/** The one writer of raw HTTP/1.1 responses: `headers` as given, then content-length, X-Request-Id and Connection: close. */
export function rawHttpResponse(status: number, headers: Readonly<Record<string, string | number>>, requestId: string, body: string, headOnly = false): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n`;
  for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
  head += `content-length: ${Buffer.byteLength(body)}\r\n`;
  // A HEAD answer carries the headers a GET would, never the body (RFC 9110 §9.3.2).
  return head + `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n` + (headOnly ? "" : body);
}

/** The JSON body every answer carries. */
export function answerBody(reply: Reply, requestId: string): string {
  return `{"error":"${reply.error}","requestId":"${requestId}"}`;
}

/** An answer on a response no pipeline context owns (plain-HTTP listener, Node's expectation hook). */
export function writeAnswer(res: ServerResponse, reply: Reply, requestId: string, headOnly = false): void {
  const body = answerBody(reply, requestId);
  res.writeHead(reply.status, { ...reply.headers, "content-type": "application/json", "content-length": Buffer.byteLength(body), "x-request-id": requestId });
  res.end(headOnly ? undefined : body);
}

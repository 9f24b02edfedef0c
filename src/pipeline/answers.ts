// Every answer Rampart gives by itself, defined once (the contract's "What clients see"): status, the
// stable `error` string of the JSON body ({"error":"rate_limited","requestId":"..."}) and headers such
// as Retry-After. Stages return them, GatewayError codes map onto them, connection-level refusals write
// them raw; this module also writes them, so the body has one shape everywhere (Fastify's errors.js).
// Expected outcomes ("no route", "over the limit", "banned") are returned as values; failures are typed
// GatewayErrors, and mapError() is the one place a failure becomes a status, a log line and the
// request's `failure` label; anything untyped is a bug, answered 500 with its stack logged.
import { STATUS_CODES, type ServerResponse } from "node:http";
import type { Logger } from "../observability/logger.js";
import type { RequestContext } from "./context.js";
import { bodyUnread } from "./linger.js";

export interface Reply {
  readonly status: number;
  /** Stable machine-readable reason, e.g. "no_route". */
  readonly error: string;
  readonly headers?: Readonly<Record<string, string | number>>;
  /** The connection ends after this answer (HTTP/1.1: `Connection: close`), whatever the client asked. */
  readonly closeAfter?: boolean;
}

export const replies = {
  badRequest: { status: 400, error: "bad_request" },
  noRoute: { status: 404, error: "no_route" },
  misdirected: { status: 421, error: "misdirected_request" },
  bodyTooLarge: { status: 413, error: "body_too_large" },
  bodyTimeout: { status: 408, error: "body_timeout" },
  tooManyHeaders: { status: 431, error: "too_many_headers" },
  methodNotAllowed: { status: 405, error: "method_not_allowed" },
  expectationFailed: { status: 417, error: "expectation_failed" },
  // 400, not 505: a request line this listener cannot read is the client's fault, as HAProxy answers it.
  versionNotSupported: { status: 400, error: "unsupported_http_version" },
  // Sent with RateLimit-* and Retry-After for the policy that refused (stages/rate-limit-stage.ts).
  rateLimited: { status: 429, error: "rate_limited" },
  tooManyInFlight: { status: 429, error: "too_many_requests_in_flight", headers: { "retry-after": 1 } },
  // Retry-After on 503: long enough for a health check or breaker to change its mind.
  noHealthyTarget: { status: 503, error: "no_healthy_target", headers: { "retry-after": 5 } },
  storeUnavailable: { status: 503, error: "store_unavailable", headers: { "retry-after": 5 } },
  // 403s close the connection: a refused client gets no keep-alive to retry on. Unless the connection
  // is a trusted proxy's (the ViaProxy forms): it carries that proxy's other clients too.
  denied: { status: 403, error: "denied", closeAfter: true },
  banned: { status: 403, error: "banned", closeAfter: true },
  deniedViaProxy: { status: 403, error: "denied" },
  bannedViaProxy: { status: 403, error: "banned" },
  headerTooLarge: { status: 431, error: "header_too_large" },
  requestTimeout: { status: 408, error: "request_timeout" },
  badGateway: { status: 502, error: "bad_gateway" },
  gatewayTimeout: { status: 504, error: "gateway_timeout" },
  // Every pooled connection to the target stayed busy for the connect timeout (Envoy's pending overflow).
  upstreamBusy: { status: 503, error: "upstream_busy", headers: { "retry-after": 1 } },
  internalError: { status: 500, error: "internal_error" },
  noChallenge: { status: 404, error: "no_challenge" },

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

export class GatewayError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "GatewayError";
    this.code = code;
  }
}

const CONNECT_ERRORS = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EADDRNOTAVAIL"]);

/** Classifies what http-proxy / node:http report about an upstream into one of our codes. */
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
    writeRawReply(ctx, reply, body);
    return;
  }
  if (res.headersSent) {
    // Too late for a status: the only honest signal left is to cut the response short.
    res.destroy();
    return;
  }
  res.statusCode = reply.status;
  if (reply.headers !== undefined) {
    for (const name in reply.headers) res.setHeader(name, reply.headers[name]!);
  }
  res.setHeader("content-type", "application/json");
  res.setHeader("content-length", Buffer.byteLength(body));
  if (reply.closeAfter === true) res.shouldKeepAlive = false;
  if (bodyUnread(ctx.req)) {
    if (linger) ctx.linger.afterAnswer(ctx.req, res);
    else res.setHeader("connection", "close");
  }
  res.end(body);
}

function writeRawReply(ctx: RequestContext, reply: Reply, body: string): void {
  ctx.upgradeStatus = reply.status;
  const socket = ctx.socket;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(rawResponse(reply, ctx.requestId, body));
}

/**
 * A whole HTTP/1.1 response, as text, for answers written straight onto a socket (refused upgrades,
 * CONNECT, requests the parser refused): always the last on its connection.
 */
export function rawResponse(reply: Reply, requestId: string, body = answerBody(reply, requestId), headOnly = false): string {
  let head = `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ""}\r\n`;
  if (reply.headers !== undefined) {
    for (const name in reply.headers) head += `${name}: ${reply.headers[name]}\r\n`;
  }
  head += `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
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

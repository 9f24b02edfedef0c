// Failures on the request path are typed errors with a stable `code`; the error mapper turns each code
// into a status, an error body, a log line and a metric. Expected outcomes ("no route", "over the
// limit", "banned") are not errors: stages return a Reply for them (see stage.ts).
import type { Reply } from "./reply.js";

export const errorCodes = {
  UPSTREAM_CONNECT_FAILED: { status: 502, error: "bad_gateway" },
  UPSTREAM_CONNECT_TIMEOUT: { status: 502, error: "bad_gateway" },
  UPSTREAM_RESET: { status: 502, error: "bad_gateway" },
  UPSTREAM_RESPONSE_TIMEOUT: { status: 504, error: "gateway_timeout" },
  // Every pooled connection to the target stayed busy for the connect timeout (Envoy's pending overflow).
  UPSTREAM_POOL_TIMEOUT: { status: 503, error: "upstream_busy", headers: { "retry-after": 1 } },
  BODY_TOO_LARGE: { status: 413, error: "body_too_large" },
  BODY_TIMEOUT: { status: 408, error: "body_timeout" },
  NO_HEALTHY_TARGET: { status: 503, error: "no_healthy_target" },
  INTERNAL: { status: 500, error: "internal_error" },
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

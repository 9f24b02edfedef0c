// What a stage answers with when the request stops at it: short JSON bodies, the same shape everywhere
// ({"error":"rate_limited","requestId":"..."}), so clients and log searches can rely on one format.

export interface Reply {
  readonly status: number;
  /** Stable machine-readable reason, e.g. "no_route". */
  readonly error: string;
  readonly headers?: Readonly<Record<string, string | number>>;
}

export const replies = {
  badRequest: { status: 400, error: "bad_request" },
  forbidden: { status: 403, error: "forbidden" },
  noRoute: { status: 404, error: "no_route" },
  misdirected: { status: 421, error: "misdirected_request" },
  bodyTooLarge: { status: 413, error: "body_too_large" },
  bodyTimeout: { status: 408, error: "body_timeout" },
  tooManyHeaders: { status: 431, error: "too_many_headers" },
  methodNotAllowed: { status: 405, error: "method_not_allowed" },
  expectationFailed: { status: 417, error: "expectation_failed" },
  // 400, not 505: a request line this listener cannot read is the client's fault, as HAProxy answers it.
  versionNotSupported: { status: 400, error: "unsupported_http_version" },
  tooManyInFlight: { status: 429, error: "too_many_requests_in_flight", headers: { "retry-after": 1 } },
  // Retry-After on 503: long enough for a health check or breaker to change its mind.
  noHealthyTarget: { status: 503, error: "no_healthy_target", headers: { "retry-after": 5 } },
  storeUnavailable: { status: 503, error: "store_unavailable", headers: { "retry-after": 5 } },
} as const satisfies Record<string, Reply>;

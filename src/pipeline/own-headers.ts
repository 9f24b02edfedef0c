// The fields Rampart adds to every answer of a request, whoever writes it: its own replies, a `respond`
// route and both forwarders. They wait on the context until then, never on the response: a response
// with fields already set makes Node merge each later field into its header map one by one (and Node
// 20 then keeps only the last of repeated ones, such as two Set-Cookie lines), where a response whose
// whole header block is written at once takes them as given.
import type { ClientResponse, RequestContext } from "./context.js";

/** An allowed request's standing under its route's rate limit (draft-ietf-httpapi-ratelimit-headers). */
export interface RateLimitStanding {
  readonly limit: number;
  readonly remaining: number;
  /** Seconds until the window resets. */
  readonly reset: number;
}

/** Appends X-Request-Id and the RateLimit-* fields to a flat [name, value...] header list. */
export function pushOwnHeaders(list: string[], ctx: RequestContext): void {
  list.push("x-request-id", ctx.requestId);
  const standing = ctx.rateLimit;
  if (standing !== undefined) list.push("ratelimit-limit", String(standing.limit), "ratelimit-remaining", String(standing.remaining), "ratelimit-reset", String(standing.reset));
}

/** Sets X-Request-Id and the RateLimit-* fields on a response written field by field. */
export function setOwnHeaders(res: ClientResponse, ctx: RequestContext): void {
  res.setHeader("x-request-id", ctx.requestId);
  const standing = ctx.rateLimit;
  if (standing === undefined) return;
  res.setHeader("ratelimit-limit", standing.limit);
  res.setHeader("ratelimit-remaining", standing.remaining);
  res.setHeader("ratelimit-reset", standing.reset);
}

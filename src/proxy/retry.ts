// When a failed attempt may be sent again, to another target. Only when the upstream cannot have acted
// on the request: idempotent methods without a body (a streamed body is consumed and cannot be
// replayed), and only failures before any response: connect errors, connect timeouts, or a pooled
// keep-alive socket that the backend closed just as we reused it (the race Node's docs describe for
// `request.reusedSocket`). Never a response timeout: the backend may still be working on it.
import type { RequestContext } from "../pipeline/context.js";
import type { ErrorCode } from "../pipeline/answers.js";
import { declaresBody } from "../pipeline/linger.js";

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

export function isRetryable(ctx: RequestContext, code: ErrorCode): boolean {
  if (ctx.isUpgrade || ctx.res!.headersSent || ctx.upstreamResponded) return false;
  if (!IDEMPOTENT.has(ctx.req.method ?? "")) return false;
  if (declaresBody(ctx.req)) return false;
  if (code === "UPSTREAM_CONNECT_FAILED" || code === "UPSTREAM_CONNECT_TIMEOUT") return true;
  return code === "UPSTREAM_RESET" && ctx.reusedSocket;
}

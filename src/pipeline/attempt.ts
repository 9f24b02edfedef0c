// Bookkeeping for one upstream attempt of a request (a retry is a second attempt): the target's
// in-flight count and the circuit breaker's outcome are each released exactly once, whether the attempt
// ends in a response, an error, a retry or a client hanging up.
import { performance } from "node:perf_hooks";
import type { RequestContext } from "./context.js";
import type { Target } from "../upstream/target.js";

export function beginAttempt(ctx: RequestContext, target: Target): void {
  ctx.target = target;
  ctx.inFlightTarget = target;
  target.inFlight++;
  ctx.reusedSocket = false;
  ctx.upstreamRequest = undefined;
  ctx.upstreamResponded = false;
  ctx.upstreamStartedAt = performance.now();
}

/** Ends the current upstream attempt's bookkeeping: in-flight count and an unsettled breaker outcome. */
export function endAttempt(ctx: RequestContext, failure?: Error): void {
  const target = ctx.inFlightTarget;
  if (target !== undefined) {
    target.inFlight--;
    ctx.inFlightTarget = undefined;
  }
  const settle = ctx.settleBreaker;
  if (settle !== undefined) {
    ctx.settleBreaker = undefined;
    settle(failure);
  }
}

/**
 * The upstream answered: a 5xx is the target's last error (for /api/upstreams and the breaker's
 * "opened" log line) and a failure for its breaker; a 4xx says the client was wrong, no reason to trip.
 */
export function recordUpstreamStatus(ctx: RequestContext, target: Target, status: number): void {
  if (status >= 500) {
    target.lastError = `status ${status}`;
    target.metrics.status5xx.inc();
  }
  const settle = ctx.settleBreaker;
  if (settle !== undefined) {
    ctx.settleBreaker = undefined;
    settle(status >= 500 ? new Error(`status ${status}`) : undefined);
  }
}

/**
 * Ends the current attempt because of the client (a body too large or too slow): no verdict on the
 * target, the upstream request destroyed, and the request body no longer fed to it.
 */
export function abandonAttempt(ctx: RequestContext): void {
  endAttempt(ctx);
  ctx.upstreamRequest?.destroy();
  ctx.req.unpipe();
}

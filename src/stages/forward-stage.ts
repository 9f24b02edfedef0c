// The last stage: rewrites the request for the upstream and hands it to the forwarder, through the
// target's circuit breaker. A failed attempt that is safe to repeat goes to another target (within the
// service's retry budget); otherwise the typed error goes to the error mapper, and the target keeps it
// as its last error for /api/upstreams.
import type { RouteStageFactory } from "./stage-factory.js";
import { mapError, GatewayError, upstreamErrorCode, replies, type ErrorCode } from "../pipeline/answers.js";
import { HANDLED, type RequestContext } from "../pipeline/context.js";
import { stripRoutePrefix } from "../routing/route.js";
import { endAttempt } from "../pipeline/attempt.js";
import { throughBreaker } from "../upstream/circuit-breaker.js";
import type { Service } from "../upstream/service.js";
import type { Target } from "../upstream/target.js";
import { prepareUpstreamRequest } from "../proxy/headers.js";
import { isRetryable } from "../proxy/retry.js";
import { forwardHttp2 } from "../proxy/http2-forwarder.js";
import { describeTlsFailure, tlsFailure } from "../upstream/tls-failure.js";

export const forwardStage: RouteStageFactory = (route, { forwarder, logger, metrics, config }) => {
  if (route.sides.length === 0) return undefined;
  // One sender per side, each with its own service: retries stay on the side that was chosen.
  const senders = route.sides.map(({ service }) => sender(service));

  function sender(service: Service) {
    // HTTP/2 services (h2c, h2: gRPC) have their own forwarder; WebSockets stay HTTP/1.1 upgrades.
    const http2Options = { hsts: config.tls.hsts };
    const forward =
      service.http2 === undefined
        ? (ctx: RequestContext, target: Target) => forwarder.web(ctx, target)
        : (ctx: RequestContext, target: Target) => forwardHttp2(ctx, target, service, route.responseHeaders, http2Options);
    const dispatch = (ctx: RequestContext, target: Target) => {
      throughBreaker(target, (settle) => {
        ctx.settleBreaker = settle;
        if (ctx.isUpgrade) forwarder.ws(ctx, target);
        else forward(ctx, target);
      });
    };

    const onFailure = (ctx: RequestContext, error: Error) => {
      // An attempt already ended (e.g. cut short for an oversized body) has nothing left to report.
      const failed = ctx.inFlightTarget;
      if (failed === undefined) return;
      const code = upstreamErrorCode(error);
      failed.lastError = `${code}: ${error.message}`;
      const tls = tlsFailure(error);
      // A TLS failure is answered like any failed attempt (502), but counted apart: a certificate or
      // configuration problem for an operator to fix, kept on the target for /api/upstreams.
      if (tls !== undefined) failed.recordTlsError(describeTlsFailure(tls));
      const kind = tls === undefined ? errorKind(code) : "tls";
      if (kind !== undefined) metrics.upstreamErrors.inc({ service: service.name, target: failed.key, kind });
      // A full pool says our clients hold its sockets, not that the target fails: no breaker verdict.
      endAttempt(ctx, code === "UPSTREAM_POOL_TIMEOUT" ? undefined : error);

      if ((ctx.tried?.length ?? 0) < service.retryAttempts && isRetryable(ctx, code)) {
        if (ctx.tried === undefined) ctx.tried = [failed];
        else ctx.tried.push(failed);
        // A stale pooled socket is no verdict on the target: with nowhere else to go, try it again.
        const next = service.pick(ctx.clientIp, ctx.tried) ?? (code === "UPSTREAM_RESET" ? failed : undefined);
        if (next !== undefined) {
          const allowed = service.retryBudget.trySpend();
          metrics.upstreamRetries.inc({ service: service.name, result: allowed ? "sent" : "over_budget" });
          if (allowed) {
            dispatch(ctx, next);
            return;
          }
        }
      }
      mapError(ctx, error instanceof GatewayError ? error : new GatewayError(code, error.message, { cause: error }), logger);
    };
    return { service, dispatch, onFailure };
  }

  return {
    name: "forward",
    run(ctx) {
      // Picked by the stage before this one, which answers 503 when there is none.
      const target = ctx.target;
      if (target === undefined) return replies.noHealthyTarget;
      const { service, dispatch, onFailure } = senders[ctx.side]!;
      prepareUpstreamRequest(ctx, route.requestHeaders);
      ctx.req.url = stripRoutePrefix(ctx.path, route.stripPrefix) + ctx.query;
      service.retryBudget.onRequest();
      ctx.service = service;
      ctx.onUpstreamFailure = onFailure;
      dispatch(ctx, target);
      return HANDLED;
    },
  };
};

/** rampart_upstream_errors_total's kind for a failure that is not TLS's; undefined for a full pool (our clients' doing, not the target's). */
function errorKind(code: ErrorCode): "connect" | "reset" | "timeout" | undefined {
  switch (code) {
    case "UPSTREAM_CONNECT_FAILED":
      return "connect";
    case "UPSTREAM_CONNECT_TIMEOUT":
    case "UPSTREAM_RESPONSE_TIMEOUT":
      return "timeout";
    case "UPSTREAM_POOL_TIMEOUT":
      return undefined;
    default:
      return "reset";
  }
}

// The last stage: rewrites the request for the upstream and hands it to the forwarder, through the
// target's circuit breaker. A failed attempt that is safe to repeat goes to another target (within the
// service's retry budget); otherwise the typed error goes to the error mapper, and the target keeps it
// as its last error for /api/upstreams.
import type { StageFactory } from "../pipeline/build-context.js";
import type { RequestContext } from "../pipeline/context.js";
import { mapError } from "../pipeline/error-mapper.js";
import { GatewayError, upstreamErrorCode } from "../pipeline/errors.js";
import { HANDLED } from "../pipeline/stage.js";
import { stripRoutePrefix } from "../routing/route.js";
import { endAttempt } from "../upstream/attempt.js";
import { throughBreaker } from "../upstream/circuit-breaker.js";
import type { Target } from "../upstream/target.js";
import { watchStreamingBody } from "./body-limit.js";
import { prepareUpstreamRequest } from "./headers.js";
import { isRetryable } from "./retry.js";

export const forwardStage: StageFactory = ({ config, forwarder, logger, metrics }) => {
  const maxBodySize = config.limits.maxBodySize;

  const dispatch = (ctx: RequestContext, target: Target) => {
    throughBreaker(target, (settle) => {
      ctx.settleBreaker = settle;
      if (ctx.isUpgrade) forwarder.ws(ctx, target);
      else forwarder.web(ctx, target);
    });
  };

  const onFailure = (ctx: RequestContext, error: Error) => {
    // An attempt already ended (e.g. cut short for an oversized body) has nothing left to report.
    if (ctx.inFlightTarget === undefined) return;
    const code = upstreamErrorCode(error);
    const failed = ctx.target!;
    failed.lastError = `${code}: ${error.message}`;
    endAttempt(ctx, error);

    const service = ctx.route!.service;
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

  return {
    name: "forward",
    run(ctx) {
      const route = ctx.route!;
      prepareUpstreamRequest(ctx);
      ctx.req.url = stripRoutePrefix(ctx.path, route.stripPrefix) + ctx.query;
      route.service.retryBudget.onRequest();
      ctx.onUpstreamFailure = onFailure;
      dispatch(ctx, ctx.target!);
      if (!ctx.isUpgrade) {
        watchStreamingBody(ctx, maxBodySize, () => {
          // The client's fault, not the target's: the attempt ends without a verdict on the backend.
          endAttempt(ctx);
          ctx.upstreamRequest?.destroy();
          ctx.res!.setHeader("connection", "close");
          mapError(ctx, new GatewayError("BODY_TOO_LARGE", `body over ${maxBodySize} bytes`), logger);
          ctx.req.destroy();
        });
      }
      return HANDLED;
    },
  };
};

// Applies the route's rate-limit policy. Allowed responses carry RateLimit-* headers too (IETF
// draft-ietf-httpapi-ratelimit-headers), so well-behaved clients can pace themselves before a 429.
import type { RouteStageFactory } from "./stage-factory.js";
import { replies } from "../pipeline/answers.js";
import type { RequestContext, StageResult } from "../pipeline/context.js";
import type { Decision } from "../guards/rate-limit.js";

export const rateLimitStage: RouteStageFactory = (route, { config, metrics }) => {
  const policy = route.rateLimit;
  if (policy === undefined) return undefined;
  const failClosed = config.store.onStoreFailure === "closed";
  const rejections = metrics.rateLimitRejections.labels(policy.name, route.name);

  const apply = (ctx: RequestContext, decision: Decision): StageResult => {
    if (decision.kind === "store-unavailable") return failClosed ? replies.storeUnavailable : undefined;
    const resetSeconds = Math.max(0, Math.ceil(decision.resetMs / 1000));
    if (decision.kind === "allowed") {
      // Written with the answer, whoever writes it (pipeline/own-headers.ts).
      ctx.rateLimit = { limit: policy.limit, remaining: decision.remaining, reset: resetSeconds };
      return undefined;
    }
    ctx.rateLimited = true;
    rejections.inc();
    const headers = { "ratelimit-limit": policy.limit, "ratelimit-remaining": 0, "ratelimit-reset": resetSeconds, "retry-after": Math.max(1, resetSeconds) };
    return { ...replies.rateLimited, headers };
  };

  return {
    name: "rate-limit",
    run(ctx) {
      if (ctx.allowlisted) return undefined;
      const decision = policy.quota.consume(policy.keyOf(ctx.clientIp, route.name, ctx.req.headers));
      // A leased quota answers from memory: no Promise, and the chain goes on in this turn.
      return decision instanceof Promise ? decision.then((settled) => apply(ctx, settled)) : apply(ctx, decision);
    },
  };
};

// Applies the route's rate-limit policy. Allowed responses carry RateLimit-* headers too (IETF
// draft-ietf-httpapi-ratelimit-headers), so well-behaved clients can pace themselves before a 429.
import type { StageFactory } from "../pipeline/build-context.js";
import type { RequestContext } from "../pipeline/context.js";
import type { Reply } from "../pipeline/reply.js";
import type { StageResult } from "../pipeline/stage.js";
import { decide, type Decision, type Policy } from "./rate-limit.js";

const STORE_DOWN: Reply = { status: 503, error: "store_unavailable", headers: { "retry-after": 5 } };

export const rateLimitStage: StageFactory = ({ config, metrics }) => {
  const failClosed = config.store.onStoreFailure === "closed";
  const rejections = new Map<string, { inc(): void }>();
  const rejectionsFor = (policy: string, route: string) => {
    const key = `${policy}\u0000${route}`;
    let counter = rejections.get(key);
    if (counter === undefined) {
      counter = metrics.rateLimitRejections.labels(policy, route);
      rejections.set(key, counter);
    }
    return counter;
  };

  const apply = (ctx: RequestContext, policy: Policy, decision: Decision): StageResult => {
    if (decision.kind === "store-unavailable") return failClosed ? STORE_DOWN : undefined;
    const resetSeconds = Math.max(0, Math.ceil(decision.resetMs / 1000));
    if (decision.kind === "allowed") {
      // Set one by one: the allowed path is every request, and needs no header object of its own.
      const res = ctx.res;
      if (res !== undefined) {
        res.setHeader("ratelimit-limit", policy.limit);
        res.setHeader("ratelimit-remaining", decision.remaining);
        res.setHeader("ratelimit-reset", resetSeconds);
      }
      return undefined;
    }
    ctx.rateLimited = true;
    rejectionsFor(policy.name, ctx.route!.name).inc();
    const headers = { "ratelimit-limit": policy.limit, "ratelimit-remaining": 0, "ratelimit-reset": resetSeconds, "retry-after": Math.max(1, resetSeconds) };
    return { status: 429, error: "rate_limited", headers };
  };

  return {
    name: "rate-limit",
    run(ctx) {
      const policy = ctx.route!.rateLimit;
      if (policy === undefined || ctx.allowlisted) return undefined;
      return decide(policy.limiter, policy.keyOf(ctx)).then((decision) => apply(ctx, policy, decision));
    },
  };
};

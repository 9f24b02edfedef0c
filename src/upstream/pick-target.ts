import type { StageFactory } from "../pipeline/build-context.js";
import type { Reply } from "../pipeline/reply.js";

// Retry-After on 503: long enough for a health check or breaker to change its mind.
const NO_TARGET: Reply = { status: 503, error: "no_healthy_target", headers: { "retry-after": 5 } };

export const pickTargetStage: StageFactory = () => ({
  name: "pick-target",
  run(ctx) {
    const target = ctx.route!.service.pick(ctx.clientIp);
    if (target === undefined) return NO_TARGET;
    ctx.target = target;
    return undefined;
  },
});

// The service's balancer over its eligible targets (healthy, breaker not open, weight above 0).
import { replies } from "../pipeline/answers.js";
import type { RouteStageFactory } from "./stage-factory.js";

export const pickTargetStage: RouteStageFactory = ({ service }) => ({
  name: "pick-target",
  run(ctx) {
    const target = service.pick(ctx.clientIp);
    if (target === undefined) return replies.noHealthyTarget;
    ctx.target = target;
    return undefined;
  },
});

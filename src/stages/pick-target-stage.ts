// The balancer of the request's side (its route's service, or the one its split chose) over that
// service's eligible targets (healthy, breaker not open, weight above 0).
import { replies } from "../pipeline/answers.js";
import type { RouteStageFactory } from "./stage-factory.js";

export const pickTargetStage: RouteStageFactory = ({ sides }) => {
  if (sides.length === 0) return undefined;
  const services = sides.map((side) => side.service);
  return {
    name: "pick-target",
    run(ctx) {
      const target = services[ctx.side]!.pick(ctx.clientIp);
      if (target === undefined) return replies.noHealthyTarget;
      ctx.target = target;
      return undefined;
    },
  };
};

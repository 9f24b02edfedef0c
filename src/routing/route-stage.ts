import type { StageFactory } from "../pipeline/build-context.js";
import { replies } from "../pipeline/reply.js";

export const routeStage: StageFactory = ({ routes }) => ({
  name: "route",
  run(ctx) {
    const route = routes.match(ctx.host, ctx.path, ctx.req.method ?? "");
    if (route === undefined) return replies.noRoute;
    ctx.route = route;
    ctx.jails = route.jails;
    route.metrics.inFlight.inc();
    return undefined;
  },
});

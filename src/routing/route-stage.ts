// Host + path prefix + method → the route (404 when none). TRACE echoes the request back, cookies and
// credentials included (cross-site tracing): it reaches a backend only on a route that names it in
// `match.methods`, otherwise 405.
import type { StageFactory } from "../pipeline/build-context.js";
import { replies } from "../pipeline/reply.js";

export const routeStage: StageFactory = ({ routes }) => ({
  name: "route",
  run(ctx) {
    const method = ctx.req.method ?? "";
    const route = routes.match(ctx.host, ctx.path, method);
    if (route === undefined) return replies.noRoute;
    if (method === "TRACE" && route.match.methods?.includes("TRACE") !== true) return replies.methodNotAllowed;
    ctx.route = route;
    ctx.jails = route.jails;
    route.metrics.inFlight.inc();
    return undefined;
  },
});

// Host + path prefix + method → the route (404 when none). TRACE echoes the request back, cookies and
// credentials included (cross-site tracing): it reaches a backend only on a route that names it in
// `match.methods`, otherwise 405. The matched route's own chain runs next (request-path.ts).
import type { PrefixStageFactory } from "./stage-factory.js";
import { replies } from "../pipeline/answers.js";

export const routeStage: PrefixStageFactory = ({ routes }) => ({
  name: "route",
  run(ctx) {
    const method = ctx.req.method ?? "";
    const entry = routes.match(ctx.host, ctx.path, method);
    if (entry === undefined) return replies.noRoute;
    if (method === "TRACE" && entry.match.methods?.includes("TRACE") !== true) return replies.methodNotAllowed;
    const route = entry.route;
    ctx.route = route;
    ctx.chain = entry.chain;
    ctx.jails = route.jails;
    route.metrics.inFlight++;
    return undefined;
  },
});

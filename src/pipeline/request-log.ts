// Runs once per request when its response closes, after the pipeline released what it held: the
// route's metrics, the jails' verdict and one access-log line.
// Clients that hang up before the response is complete are recorded as 499 (nginx's convention), so
// aborted requests are visible rather than counted as the 200 that was never delivered.
import { performance } from "node:perf_hooks";
import type { RequestContext } from "./context.js";
import type { OffenceTracker } from "../guards/jails.js";
import type { AccessLog } from "../observability/access-log.js";
import { methodLabel, type GatewayMetrics } from "../observability/metrics.js";

const CLIENT_CLOSED = 499;

export function requestObserver(metrics: GatewayMetrics, accessLog: AccessLog, enabled: () => boolean, judge: OffenceTracker) {
  const unmatched = metrics.forRoute("-");
  return (ctx: RequestContext): void => {
    const now = performance.now();
    const seconds = (now - ctx.startedAt) / 1000;
    const status = statusOf(ctx);
    const method = methodLabel(ctx.req.method);
    const route = ctx.route;
    const routeMetrics = route?.metrics ?? unmatched;
    if (route !== undefined) {
      route.metrics.inFlight--;
      route.rollout?.record(ctx.side, status, seconds);
    }
    routeMetrics.observe(method, status, seconds);
    if (ctx.ownAnswer !== undefined) routeMetrics.answered(status, ctx.ownAnswer);
    // Only requests some jail watches are judged: the rest pay nothing here. An injected abort is the
    // tester's own doing: it must not ban them.
    if (ctx.jails.length > 0 && ctx.fault !== "abort") {
      judge(ctx.jails, { clientIp: ctx.clientIp, method: ctx.req.method ?? "", path: ctx.path, status, rateLimited: ctx.rateLimited, allowlisted: ctx.allowlisted });
    }
    if (!enabled()) return;
    accessLog.write({
      requestId: ctx.requestId,
      clientIp: ctx.clientIp,
      method: ctx.req.method ?? "",
      host: ctx.host,
      path: ctx.path,
      status,
      bytes: ctx.sentBytes,
      userAgent: ctx.req.headers["user-agent"],
      attempts: ctx.target === undefined ? undefined : (ctx.tried?.length ?? 0) + 1,
      upstreamMs: ctx.target === undefined ? undefined : Math.round((now - ctx.upstreamStartedAt) * 100) / 100,
      protocol: ctx.protocol,
      durationMs: Math.round(seconds * 100_000) / 100,
      route: route?.name,
      target: ctx.target?.key,
      failure: ctx.failure,
      fault: ctx.fault,
    });
  };
}

function statusOf(ctx: RequestContext): number {
  const res = ctx.res;
  if (res === undefined) return ctx.upgradeStatus;
  return ctx.responseComplete ? res.statusCode : CLIENT_CLOSED;
}

// A route with `respond` answers by itself (Caddy's `respond` directive): the embedded config's welcome
// page, a maintenance notice, a fixed robots.txt. Its chain ends here; the route's response header
// edits, HSTS and X-Request-Id apply as they would to a proxied answer; it counts among Rampart's own
// answers (rampart_gateway_answers_total, error "respond"). Built once per route: the body is encoded
// and the headers assembled at load time.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RouteStageFactory } from "./stage-factory.js";
import { HANDLED } from "../pipeline/context.js";
import { bodyUnread } from "../pipeline/linger.js";
import { rawHttpResponse, writeHeaderList } from "../pipeline/answers.js";
import { pushOwnHeaders } from "../pipeline/own-headers.js";

export const respondStage: RouteStageFactory = (route, { config }) => {
  const respond = route.config.respond;
  if (respond === undefined) return undefined;
  const body = Buffer.from(respond.body, "utf8");
  const rawHeaders: Record<string, string> = { "content-type": respond.contentType };
  for (const [name, value] of route.responseHeaders.set) rawHeaders[name] = value;
  // The raw answer (to an upgrade) states its own length; the other gets it here.
  const headList = [...Object.entries(rawHeaders).flat(), "content-length", String(body.length)];
  const hsts = config.tls.hsts;

  return {
    name: "respond",
    run(ctx) {
      const res = ctx.res;
      if (res === undefined) {
        // An upgrade (WebSocket) asked of a route with no upstream: the answer, and the connection ends.
        ctx.upgradeStatus = respond.status;
        ctx.ownAnswer = "respond";
        if (ctx.socket.writable) {
          ctx.sentBytes = body.length;
          ctx.socket.end(rawHttpResponse(respond.status, rawHeaders, ctx.requestId, respond.body));
        } else {
          ctx.socket.destroy();
        }
        return HANDLED;
      }
      ctx.ownAnswer = "respond";
      const headers = headList.slice();
      pushOwnHeaders(headers, ctx);
      if (ctx.encrypted && hsts !== "") headers.push("strict-transport-security", hsts);
      // A body the client is still sending: drain it briefly so it reads the answer, not a reset.
      if (!ctx.isHttp2 && bodyUnread(ctx.req)) ctx.linger.afterAnswer(ctx.req as IncomingMessage, res as ServerResponse);
      writeHeaderList(res, respond.status, headers);
      if (ctx.req.method !== "HEAD") ctx.sentBytes = body.length;
      res.end(body); // Node sends no body for HEAD
      return HANDLED;
    },
  };
};

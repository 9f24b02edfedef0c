// A route with `respond` answers by itself (Caddy's `respond` directive): the embedded config's welcome
// page, a maintenance notice, a fixed robots.txt. Its chain ends here; the route's response header
// edits, HSTS and X-Request-Id apply as they would to a proxied answer; it counts among Rampart's own
// answers (rampart_gateway_answers_total, error "respond"). Built once per route: the body is encoded
// and the headers assembled at load time.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RouteStageFactory } from "./stage-factory.js";
import { HANDLED } from "../pipeline/context.js";
import { bodyUnread } from "../pipeline/linger.js";
import { rawHttpResponse } from "../pipeline/answers.js";
import { setOwnHeaders } from "../pipeline/own-headers.js";

export const respondStage: RouteStageFactory = (route, { config }) => {
  const respond = route.config.respond;
  if (respond === undefined) return undefined;
  const body = Buffer.from(respond.body, "utf8");
  const headers: Record<string, string | number> = { "content-type": respond.contentType, "content-length": body.length };
  for (const [name, value] of route.responseHeaders.set) headers[name] = value;
  const hsts = config.tls.hsts;
  // The raw answer (to an upgrade) states its own length.
  const { "content-length": _length, ...rawHeaders } = headers;

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
      res.statusCode = respond.status;
      for (const name in headers) res.setHeader(name, headers[name]!);
      setOwnHeaders(res, ctx);
      if (ctx.encrypted && hsts !== "") res.setHeader("strict-transport-security", hsts);
      // A body the client is still sending: drain it briefly so it reads the answer, not a reset.
      if (!ctx.isHttp2 && bodyUnread(ctx.req)) ctx.linger.afterAnswer(ctx.req as IncomingMessage, res as ServerResponse);
      if (ctx.req.method !== "HEAD") ctx.sentBytes = body.length;
      res.end(body); // Node sends no body for HEAD
      return HANDLED;
    },
  };
};

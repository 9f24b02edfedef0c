// Everything about the request body before it goes upstream:
// - maxBodySize: a declared Content-Length over it is refused (413) before anything goes upstream; a
//   chunked body is counted while it streams and cut off (413) once over.
// - requestBuffer: a body up to that size is read whole before a target is picked (nginx's
//   `proxy_request_buffering`, bounded in memory): the slow-POST attack (slowhttptest -B) then holds
//   a connection of ours, never an upstream socket. A larger body streams once that much arrived.
// - bodyTimeout: a body that stops moving is answered 408 and its upstream attempt, if any, aborted.
// Requests without a body, or whose body arrived with the head, pass synchronously at no cost.
// Services with protocol h2c/h2 (gRPC) stream their bodies unbuffered and untimed (see below).
import { PassThrough } from "node:stream";
import type { RouteStageFactory } from "./stage-factory.js";
import { mapError, GatewayError, replies, writeReply } from "../pipeline/answers.js";
import { bodyUnread, requestGone } from "../pipeline/linger.js";
import { HANDLED, type RequestContext, type StageResult } from "../pipeline/context.js";
import { abandonAttempt } from "../pipeline/attempt.js";

export const requestBodyStage: RouteStageFactory = (route, { config, bodies, logger }) => {
  // A route that answers by itself reads no body (the answer lingers over one, see respond-stage.ts).
  if (route.sides.length === 0) return undefined;
  const { maxBodySize, bodyTimeout } = config.limits;
  // An HTTP/2 service (gRPC) takes its request as a stream: a bidi call's messages must go upstream as
  // they come, and a quiet stream is no slow POST. Nor does it pin a pooled socket (every request is a
  // stream on one connection), which is what buffering and bodyTimeout protect. maxBodySize still counts.
  const streamed = route.sides.map((side) => side.service.http2 !== undefined);
  const { requestBuffer } = config.limits;

  const onStalled = (ctx: RequestContext) => {
    abandonAttempt(ctx);
    // No lingering for a client that stopped sending: there is nothing to drain, only a slot to free.
    writeReply(ctx, replies.bodyTimeout, false);
  };
  const onTooLarge = (ctx: RequestContext) => {
    abandonAttempt(ctx);
    // The answer lingers (pipeline/linger.ts): the client reads its 413 rather than a reset.
    mapError(ctx, new GatewayError("BODY_TOO_LARGE", `body over ${maxBodySize} bytes`), logger);
  };

  return {
    name: "request-body",
    run(ctx) {
      const req = ctx.req;
      const declared = req.headers["content-length"];
      if (declared !== undefined && Number(declared) > maxBodySize) return replies.bodyTooLarge;
      if (ctx.isUpgrade || !bodyUnread(req)) return undefined;
      // Node leaves "100 Continue" to us (server/odd-requests.ts listens for checkContinue): it goes
      // out only now that the body is wanted, so a request refused before this point never invites it.
      if (req.headers.expect !== undefined) ctx.res!.writeContinue();
      if (declared === undefined) countStreamingBody(ctx, maxBodySize, onTooLarge);
      if (streamed[ctx.side]) return undefined;
      bodies.watch(ctx, bodyTimeout, onStalled);
      return requestBuffer > 0 ? bufferBody(ctx, requestBuffer) : undefined;
    },
  };
};

/** Counts a body without Content-Length as it streams; calls onExceeded once when over `max`. */
function countStreamingBody(ctx: RequestContext, max: number, onExceeded: (ctx: RequestContext) => void): void {
  const req = ctx.req;
  let received = 0;
  const count = (chunk: Buffer) => {
    received += chunk.length;
    if (received > max) {
      req.off("data", count);
      onExceeded(ctx);
    }
  };
  req.on("data", count);
}

/**
 * Reads up to `limit` bytes of the body; resolves once the body is complete or the limit reached, with
 * ctx.body set to what goes upstream (the buffered bytes, then the rest of the request as it arrives).
 * Resolves HANDLED when the request was answered (413, 408) or abandoned meanwhile.
 */
function bufferBody(ctx: RequestContext, limit: number): Promise<StageResult> {
  const req = ctx.req;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (complete: boolean) => {
      req.off("data", collect);
      req.off("end", onEnd);
      req.off("close", onClose);
      if (ctx.res!.writableEnded || requestGone(req)) {
        resolve(HANDLED);
        return;
      }
      const body = new PassThrough();
      for (const chunk of chunks) body.write(chunk);
      if (complete) body.end();
      else req.pipe(body);
      ctx.body = body;
      resolve(undefined);
    };
    const collect = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) {
        req.pause();
        settle(false);
      }
    };
    const onEnd = () => settle(true);
    const onClose = () => settle(req.complete);
    req.on("data", collect);
    req.once("end", onEnd);
    req.once("close", onClose);
  });
}

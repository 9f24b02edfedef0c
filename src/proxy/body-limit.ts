// maxBodySize: a declared Content-Length over the limit is refused before anything goes upstream; a
// chunked body is counted while it streams and cut off (413 if nothing was answered yet) once over.
import type { StageFactory } from "../pipeline/build-context.js";
import type { RequestContext } from "../pipeline/context.js";
import { replies } from "../pipeline/reply.js";

export const bodyLimitStage: StageFactory = ({ config }) => {
  const max = config.limits.maxBodySize;
  return {
    name: "body-limit",
    run(ctx) {
      const declared = ctx.req.headers["content-length"];
      if (declared !== undefined && Number(declared) > max) {
        // The body will not be read: close the connection after answering instead of draining it.
        ctx.res?.setHeader("connection", "close");
        return replies.bodyTooLarge;
      }
      return undefined;
    },
  };
};

/** Counts a body without Content-Length as it streams; calls onExceeded once when over `max`. */
export function watchStreamingBody(ctx: RequestContext, max: number, onExceeded: () => void): void {
  const req = ctx.req;
  if (req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] === undefined) return;
  let received = 0;
  const count = (chunk: Buffer) => {
    received += chunk.length;
    if (received > max) {
      req.off("data", count);
      onExceeded();
    }
  };
  req.on("data", count);
}

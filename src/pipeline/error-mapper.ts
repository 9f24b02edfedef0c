// The one place where a failure on the request path becomes a status code, a log line and the
// request's `failure` label. Stages throw (or proxy callbacks report) typed GatewayErrors; anything
// else is a bug and is answered 500 with its stack logged, never a crashed process.
import type { Logger } from "../observability/logger.js";
import type { RequestContext } from "./context.js";
import { GatewayError, errorCodes, type ErrorCode } from "./errors.js";
import { writeReply } from "./respond.js";

export function mapError(ctx: RequestContext, error: unknown, logger: Logger): void {
  const code: ErrorCode = error instanceof GatewayError ? error.code : "INTERNAL";
  ctx.failure = code;
  if (code === "INTERNAL") {
    logger.error({ err: error, requestId: ctx.requestId }, "unexpected error on the request path");
  } else {
    logger.debug({ code, requestId: ctx.requestId, target: ctx.target?.key, message: (error as Error).message }, "request failed");
  }
  writeReply(ctx, errorCodes[code]);
}

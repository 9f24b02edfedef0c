// The last stage: rewrites the request for the upstream and hands it to the forwarder. Failures come
// back as typed errors for the error mapper; the target remembers the last one for /api/upstreams.
import type { StageFactory } from "../pipeline/build-context.js";
import type { RequestContext } from "../pipeline/context.js";
import { mapError } from "../pipeline/error-mapper.js";
import { GatewayError, upstreamErrorCode } from "../pipeline/errors.js";
import { HANDLED } from "../pipeline/stage.js";
import { stripRoutePrefix } from "../routing/route.js";
import { watchStreamingBody } from "./body-limit.js";
import { prepareUpstreamRequest } from "./headers.js";

export const forwardStage: StageFactory = ({ config, forwarder, logger }) => {
  const maxBodySize = config.limits.maxBodySize;

  const onFailure = (ctx: RequestContext, error: Error) => {
    const code = upstreamErrorCode(error);
    if (ctx.target !== undefined) ctx.target.lastError = `${code}: ${error.message}`;
    mapError(ctx, error instanceof GatewayError ? error : new GatewayError(code, error.message, { cause: error }), logger);
  };

  return {
    name: "forward",
    run(ctx) {
      const route = ctx.route!;
      const target = ctx.target!;
      prepareUpstreamRequest(ctx);
      ctx.req.url = stripRoutePrefix(ctx.path, route.stripPrefix) + ctx.query;
      if (ctx.isUpgrade) {
        forwarder.ws(ctx, target, onFailure);
        return HANDLED;
      }
      forwarder.web(ctx, target, onFailure);
      watchStreamingBody(ctx, maxBodySize, () => {
        ctx.res!.setHeader("connection", "close");
        onFailure(ctx, new GatewayError("BODY_TOO_LARGE", `body over ${maxBodySize} bytes`));
        ctx.req.destroy();
      });
      return HANDLED;
    },
  };
};

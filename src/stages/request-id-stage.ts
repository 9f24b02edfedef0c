// X-Request-Id on the request (what goes upstream); every answer carries it too (pipeline/own-headers.ts).
import { requestIdOf } from "../proxy/request-id.js";
import type { PrefixStageFactory } from "./stage-factory.js";

export const requestIdStage: PrefixStageFactory = () => ({
  name: "request-id",
  run(ctx) {
    const id = requestIdOf(ctx.req);
    ctx.requestId = id;
    ctx.req.headers["x-request-id"] = id;
    return undefined;
  },
});

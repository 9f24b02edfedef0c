// maxRequestsInFlightPerIp: a client address over its share of requests in progress is answered 429
// before anything is spent on it upstream. Allowlisted clients are exempt, as from every other limit;
// WebSocket upgrades are not counted (each is one connection, already bounded by maxConnectionsPerIp).
import type { PrefixStageFactory } from "./stage-factory.js";
import { replies } from "../pipeline/answers.js";

export const concurrencyStage: PrefixStageFactory = ({ config, guards }) => {
  const limit = config.limits.maxRequestsInFlightPerIp;
  const concurrency = guards.concurrency;
  return {
    name: "in-flight-per-ip",
    run(ctx) {
      if (ctx.allowlisted || ctx.isUpgrade) return undefined;
      if (!concurrency.tryAcquire(ctx.clientIp, limit)) return replies.tooManyInFlight;
      ctx.concurrencySlot = concurrency;
      return undefined;
    },
  };
};

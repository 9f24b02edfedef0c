// The client every guard keys on: the socket peer, or, when the peer is in trustedProxies, the first
// untrusted address of X-Forwarded-For read from the right (the left is whatever the client wrote).
import type { PrefixStageFactory } from "./stage-factory.js";
import { resolveClientIp } from "../guards/client-ip.js";

export const clientIpStage: PrefixStageFactory = ({ guards }) => {
  const trusted = guards.trustedProxies;
  return {
    name: "client-ip",
    run(ctx) {
      const header = ctx.req.headers["x-forwarded-for"];
      const forwardedFor = typeof header === "string" ? header : undefined;
      const client = resolveClientIp(ctx.req.socket.remoteAddress, forwardedFor, trusted);
      ctx.clientIp = client.ip;
      ctx.viaTrustedProxy = client.viaTrustedProxy;
      return undefined;
    },
  };
};

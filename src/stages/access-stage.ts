// Refuses denylisted and banned clients on every request. Clients whose socket address is banned never
// get this far (the connection gate closes them at accept); this catches clients known through a
// trusted proxy's X-Forwarded-For, and keep-alive connections opened before their ban.
import type { PrefixStageFactory } from "./stage-factory.js";
import { replies } from "../pipeline/answers.js";

export const accessStage: PrefixStageFactory = ({ guards }) => {
  const { allowlist, denylist, bans } = guards;
  const allJails = Object.freeze([...guards.jails.values()]);
  return {
    name: "access",
    run(ctx) {
      ctx.jails = allJails;
      const ip = ctx.clientIp;
      if (allowlist.has(ip)) {
        ctx.allowlisted = true;
        return undefined;
      }
      if (denylist.has(ip)) return ctx.viaTrustedProxy ? replies.deniedViaProxy : replies.denied;
      if (bans.find(ip) !== undefined) return ctx.viaTrustedProxy ? replies.bannedViaProxy : replies.banned;
      return undefined;
    },
  };
};

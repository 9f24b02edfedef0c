// Refuses denylisted and banned clients on every request. Clients whose socket address is banned never
// get this far (the connection gate closes them at accept); this catches clients known through a
// trusted proxy's X-Forwarded-For, and keep-alive connections opened before their ban.
import type { PrefixStageFactory } from "./stage-factory.js";
import type { Reply } from "../pipeline/reply.js";

// The connection is closed after the answer: a refused client gets no keep-alive to retry on. Unless
// the connection is a trusted proxy's: it carries that proxy's other clients too, and closing it for
// every refused client would only cost the proxy (and us) a new TLS handshake per refusal.
const DENIED: Reply = { status: 403, error: "denied", headers: { connection: "close" } };
const BANNED: Reply = { status: 403, error: "banned", headers: { connection: "close" } };
const DENIED_VIA_PROXY: Reply = { status: 403, error: "denied" };
const BANNED_VIA_PROXY: Reply = { status: 403, error: "banned" };

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
      if (denylist.has(ip)) return ctx.viaTrustedProxy ? DENIED_VIA_PROXY : DENIED;
      if (bans.find(ip) !== undefined) return ctx.viaTrustedProxy ? BANNED_VIA_PROXY : BANNED;
      return undefined;
    },
  };
};

// Which of a split route's services serves the request (DESIGN.md "Contract, second round": `split`).
// In order: the override header X-Rampart-Split, honoured only from allowlisted clients or through a
// trusted proxy (testers reach the canary on demand, nobody else picks their backend); the sticky
// cookie `rampart_split`, kept while its side's weight is above 0; otherwise the weights, walked with a
// number from the stickiness key (`ip`, `header:<name>`: a hash, as NGINX's split_clients) or a random
// one. Each side has its own balancer, health checks, breakers and retries (the stages after this one
// index them by ctx.side). Routes without a split do not run this stage.
import type { RouteStageFactory } from "./stage-factory.js";
import { hashToUnit } from "../routing/split.js";
import { seededRandom } from "../upstream/balancers/prng.js";

export const SPLIT_COOKIE = "rampart_split";
const OVERRIDE_HEADER = "x-rampart-split";

export const splitStage: RouteStageFactory = (route) => {
  const weights = route.split;
  const sticky = route.config.split?.sticky ?? "none";
  if (weights === undefined) return undefined;
  const random = seededRandom();
  const stickyHeader = sticky.startsWith("header:") ? sticky.slice("header:".length).toLowerCase() : undefined;
  const cookiePrefix = `${SPLIT_COOKIE}=`;

  return {
    name: "split",
    run(ctx) {
      const headers = ctx.req.headers;
      const override = headers[OVERRIDE_HEADER];
      if (typeof override === "string" && (ctx.allowlisted || ctx.viaTrustedProxy)) {
        const chosen = weights.indexOf(override);
        if (chosen !== -1) {
          ctx.side = chosen;
          return undefined;
        }
      }
      if (sticky === "cookie") {
        const kept = weights.indexOf(cookieValue(headers.cookie, cookiePrefix) ?? "");
        if (kept !== -1 && weights.weightOf(kept) > 0) {
          ctx.side = kept;
          return undefined;
        }
        ctx.side = weights.pick(random());
        ctx.setCookie = `${SPLIT_COOKIE}=${weights.names[ctx.side]}; Path=/; HttpOnly; SameSite=Lax`;
        return undefined;
      }
      let unit: number;
      if (sticky === "ip") unit = hashToUnit(ctx.clientIp);
      else if (stickyHeader !== undefined) {
        const value = headers[stickyHeader];
        unit = typeof value === "string" ? hashToUnit(value) : random();
      } else unit = random();
      ctx.side = weights.pick(unit);
      return undefined;
    },
  };
};

/** The value of one cookie in a Cookie header ("a=1; rampart_split=web-v2"). */
function cookieValue(header: string | undefined, prefix: string): string | undefined {
  if (header === undefined) return undefined;
  // Found in place (no split into parts per request): at the start or after "; ".
  let at = header.indexOf(prefix);
  while (at > 0 && header.charCodeAt(at - 1) !== 32 /* " " */ && header.charCodeAt(at - 1) !== 59 /* ";" */) at = header.indexOf(prefix, at + 1);
  if (at === -1) return undefined;
  const end = header.indexOf(";", at);
  return header.slice(at + prefix.length, end === -1 ? undefined : end).trim();
}

// Rate-limit policies and the one function that turns rate-limiter-flexible's outcomes into a
// decision. The library resolves when allowed, rejects with a RateLimiterRes when over the limit and
// rejects with an Error when the store fails (DESIGN.md, "Known traps"); callers only see Decision.
import type { IncomingHttpHeaders } from "node:http";
import { RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { Config, RateLimitConfig } from "../config/schema.js";
import type { LimiterFactory } from "../state/limiters.js";

export type Decision =
  | { readonly kind: "allowed"; readonly remaining: number; readonly resetMs: number }
  | { readonly kind: "limited"; readonly remaining: 0; readonly resetMs: number }
  | { readonly kind: "store-unavailable"; readonly error: unknown };

export interface Policy {
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
  /** The counter a request is charged to, from the values the policy keys on. */
  keyOf(clientIp: string, route: string, headers: IncomingHttpHeaders): string;
  readonly limiter: RateLimiterAbstract;
}

export async function decide(limiter: RateLimiterAbstract, key: string): Promise<Decision> {
  try {
    const result = await limiter.consume(key);
    return { kind: "allowed", remaining: result.remainingPoints, resetMs: result.msBeforeNext };
  } catch (outcome) {
    if (outcome instanceof RateLimiterRes) return { kind: "limited", remaining: 0, resetMs: outcome.msBeforeNext };
    return { kind: "store-unavailable", error: outcome };
  }
}

export function compilePolicies(config: Config, limiter: LimiterFactory): ReadonlyMap<string, Policy> {
  const policies = new Map<string, Policy>();
  for (const [name, policy] of Object.entries(config.rateLimits)) {
    policies.set(
      name,
      Object.freeze({
        name,
        limit: policy.limit,
        windowMs: policy.window,
        keyOf: keyFunction(policy),
        limiter: limiter({ name: `rl:${name}`, points: policy.limit, windowMs: policy.window }),
      }),
    );
  }
  return policies;
}

function keyFunction(policy: RateLimitConfig): Policy["keyOf"] {
  if (policy.key === "ip") return (clientIp) => clientIp;
  if (policy.key === "ip+route") return (clientIp, route) => `${clientIp}|${route}`;
  const header = policy.key.slice("header:".length).toLowerCase();
  // Keyed by the header (an API key, say) when present; a request without it is limited by its IP,
  // in a separate key space so a header value cannot collide with an address.
  return (clientIp, _route, headers) => {
    const value = headers[header];
    return typeof value === "string" && value !== "" ? `h:${value}` : `ip:${clientIp}`;
  };
}

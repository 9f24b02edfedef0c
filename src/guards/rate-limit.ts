// Rate-limit policies: what a request is charged to (keyOf) and the quota that answers (state/quota.ts:
// rate-limiter-flexible in one process or with Redis, points leased from the primary with workers).
import type { IncomingHttpHeaders } from "node:http";
import type { Config, RateLimitConfig } from "../config/schema.js";
import type { Quota, QuotaDecision, QuotaFactory } from "../state/quota.js";

export { decide } from "../state/quota.js";

export type Decision = QuotaDecision;

export interface Policy {
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
  /** The counter a request is charged to, from the values the policy keys on. */
  keyOf(clientIp: string, route: string, headers: IncomingHttpHeaders): string;
  readonly quota: Quota;
}

export function compilePolicies(config: Config, quota: QuotaFactory): ReadonlyMap<string, Policy> {
  const policies = new Map<string, Policy>();
  for (const [name, policy] of Object.entries(config.rateLimits)) {
    policies.set(
      name,
      Object.freeze({
        name,
        limit: policy.limit,
        windowMs: policy.window,
        keyOf: keyFunction(policy),
        quota: quota({ name: `rl:${name}`, points: policy.limit, windowMs: policy.window }),
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

// What a rate-limit policy asks of shared state: "may this key spend one point now?". One process or
// Redis answers through rate-limiter-flexible (always a Promise); node:cluster workers without Redis
// answer from a lease of points the primary handed out (leased-quota.ts), synchronously while the lease
// lasts. The library resolves when allowed, rejects with a RateLimiterRes when over the limit and rejects
// with an Error when the store fails (DESIGN.md, "Known traps"); decide() is the one place that tells
// them apart, so no caller can mistake a failing store for a limited client or the reverse.
import { RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { LimiterFactory, LimiterSpec } from "./limiters.js";

export type QuotaDecision =
  | { readonly kind: "allowed"; readonly remaining: number; readonly resetMs: number }
  | { readonly kind: "limited"; readonly remaining: 0; readonly resetMs: number }
  | { readonly kind: "store-unavailable"; readonly error: unknown };

export interface Quota {
  /** Charges one point to `key`: a plain decision when it is known in this process, else a Promise. */
  consume(key: string): QuotaDecision | Promise<QuotaDecision>;
}

export type QuotaFactory = (spec: LimiterSpec) => Quota;

export async function decide(limiter: RateLimiterAbstract, key: string): Promise<QuotaDecision> {
  try {
    const result = await limiter.consume(key);
    return { kind: "allowed", remaining: result.remainingPoints, resetMs: result.msBeforeNext };
  } catch (outcome) {
    if (outcome instanceof RateLimiterRes) return { kind: "limited", remaining: 0, resetMs: outcome.msBeforeNext };
    return { kind: "store-unavailable", error: outcome };
  }
}

/** Quotas answered by rate-limiter-flexible limiters (memory in one process, Redis): a Promise per request. */
export function limiterQuotas(limiters: LimiterFactory): QuotaFactory {
  return (spec) => {
    const limiter = limiters(spec);
    return { consume: (key) => decide(limiter, key) };
  };
}

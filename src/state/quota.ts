// What a rate-limit policy asks of shared state: "may this key spend one point now?". One process or
// Redis answers through rate-limiter-flexible (a Promise, except for a key already known to be over its
// limit: OverLimitKeys); node:cluster workers without Redis
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

/** Asks the limiter; a refusal is remembered in `overLimit` (when given) until the key's window ends. */
export async function decide(limiter: RateLimiterAbstract, key: string, overLimit?: OverLimitKeys): Promise<QuotaDecision> {
  try {
    const result = await limiter.consume(key);
    return { kind: "allowed", remaining: result.remainingPoints, resetMs: result.msBeforeNext };
  } catch (outcome) {
    if (!(outcome instanceof RateLimiterRes)) return { kind: "store-unavailable", error: outcome };
    if (overLimit !== undefined) {
      const now = Date.now();
      overLimit.add(key, now + outcome.msBeforeNext, now);
    }
    return { kind: "limited", remaining: 0, resetMs: outcome.msBeforeNext };
  }
}

/**
 * Keys known to be over their limit, with the time their window ends, answered here without asking the
 * limiter again: rate-limiter-flexible answers every consume() with a Promise (a rejected one when over
 * the limit), and the client refused most is the one that keeps asking. Its window is fixed from its
 * first point (the library counts more points but never moves the end), so nothing it asks before the
 * end can change the answer. With Redis the library's inMemoryBlockOnConsumed already spares the round
 * trip; this spares the Promise, its rejection and a turn of the pipeline too.
 */
export class OverLimitKeys {
  readonly #until = new Map<string, number>();
  #sweepAt = 1_024;

  /** The ms left of `key`'s window when it is known to be over its limit, else undefined. */
  resetMs(key: string, now: number): number | undefined {
    const until = this.#until.get(key);
    if (until === undefined) return undefined;
    if (now < until) return until - now;
    this.#until.delete(key);
    return undefined;
  }

  add(key: string, until: number, now: number): void {
    this.#until.set(key, until);
    // Ended windows go when the map has doubled since the last sweep: amortised O(1), no timer.
    if (this.#until.size < this.#sweepAt) return;
    for (const [known, end] of this.#until) if (end <= now) this.#until.delete(known);
    this.#sweepAt = Math.max(1_024, this.#until.size * 2);
  }

  get size(): number {
    return this.#until.size;
  }
}

/** A quota answered by a rate-limiter-flexible limiter (memory in one process, Redis): a Promise unless the key is known to be over. */
export function limiterQuota(limiter: RateLimiterAbstract, overLimit: OverLimitKeys): Quota {
  return {
    consume(key) {
      // No clock read or lookup while no key is over its limit (the common case).
      const resetMs = overLimit.size === 0 ? undefined : overLimit.resetMs(key, Date.now());
      if (resetMs !== undefined) return { kind: "limited", remaining: 0, resetMs };
      return decide(limiter, key, overLimit);
    },
  };
}

/** Quotas on the process's limiters; a policy kept across a reload keeps its over-limit keys with its limiter. */
export function limiterQuotas(limiters: LimiterFactory): QuotaFactory {
  const overLimit = new Map<RateLimiterAbstract, OverLimitKeys>();
  return (spec) => {
    const limiter = limiters(spec);
    let keys = overLimit.get(limiter);
    if (keys === undefined) {
      keys = new OverLimitKeys();
      overLimit.set(limiter, keys);
    }
    return limiterQuota(limiter, keys);
  };
}

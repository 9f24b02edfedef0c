// The primary's side of rate-limit quotas for node:cluster workers without Redis: the authoritative
// counter per (policy, key, window) is a rate-limiter-flexible RateLimiterMemory, as in one process, so
// windows behave alike (a fixed window from the key's first charge, whole seconds). Instead of one IPC
// round trip per request (RateLimiterCluster), a worker leases a block of points and spends it locally
// until the window ends (leased-quota.ts); lease sizes shrink as the window's budget runs out
// (lease-sizing.ts). The counter counts every point granted, so the workers together never admit more
// than the limit in a window; unused points come back only while their window is still the current one.
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { grantedOf, leaseSize } from "./lease-sizing.js";
import type { LimiterSpec } from "./limiters.js";

export interface LeaseGrant {
  /** Points the worker may spend; 0: none left in this window (answer 429 until `endsAt`). */
  readonly points: number;
  /** Wall-clock ms (Date.now, one host) when the window ends; never later than the counter's own end. */
  readonly endsAt: number;
  /** What the primary has left in the window after this grant (for RateLimit-Remaining). */
  readonly left: number;
}

/**
 * A give-back is applied only when its window is still the counter's (ends within this much of the
 * lease's end; windows are at least 1 s apart) and has at least RETURN_MARGIN_MS to go, so points can
 * never be credited to the window after the one they were leased from.
 */
const SAME_WINDOW_MS = 250;
const RETURN_MARGIN_MS = 100;

export class QuotaHost {
  readonly #workers: () => number;
  readonly #counters = new Map<string, { readonly limiter: RateLimiterMemory; tail: Promise<unknown> }>();

  /** `workers`: how many workers share each limit (lease sizes are a share of what is left per worker). */
  constructor(workers: () => number) {
    this.#workers = workers;
  }

  /** Grants up to `want` points of `key`'s current window (starting it, as a first request would). */
  lease(spec: LimiterSpec, key: string, want: number): Promise<LeaseGrant> {
    return this.#serialised(spec, async (limiter) => {
      // Read before the library reads the clock: the window's end as computed here is never later than the counter's.
      const before = Date.now();
      const current = await limiter.get(key);
      const live = current !== null && current.msBeforeNext > 0;
      const left = live ? current.remainingPoints : spec.points;
      if (live && left <= 0) return { points: 0, endsAt: before + current.msBeforeNext, left: 0 };
      const asked = leaseSize(left, this.#workers(), Math.max(1, Math.floor(want)));
      const charged = await limiter.consume(key, asked).catch((outcome: unknown) => {
        if (outcome instanceof RateLimiterRes) return outcome; // over the limit: counted, and clipped below
        throw outcome;
      });
      const points = grantedOf(asked, charged.consumedPoints, spec.points);
      return { points, endsAt: before + charged.msBeforeNext, left: Math.max(0, spec.points - charged.consumedPoints) };
    });
  }

  /** Credits back `points` a worker leased for the window ending at `endsAt` and did not spend. */
  giveBack(spec: LimiterSpec, key: string, points: number, endsAt: number): Promise<boolean> {
    return this.#serialised(spec, async (limiter) => {
      const before = Date.now();
      const current = await limiter.get(key);
      if (current === null || current.msBeforeNext < RETURN_MARGIN_MS) return false;
      if (Math.abs(before + current.msBeforeNext - endsAt) > SAME_WINDOW_MS) return false;
      const credit = Math.min(Math.max(0, Math.floor(points)), current.consumedPoints);
      if (credit > 0) await limiter.reward(key, credit);
      return credit > 0;
    });
  }

  /**
   * One operation at a time per policy: rate-limiter-flexible's API is Promise-based, so without this a
   * second lease could read the count between another's read and charge (grantedOf would still clip it).
   */
  #serialised<T>(spec: LimiterSpec, operation: (limiter: RateLimiterMemory) => Promise<T>): Promise<T> {
    const id = `${spec.name}|${spec.points}|${spec.windowMs}`;
    let counter = this.#counters.get(id);
    if (counter === undefined) {
      const duration = Math.max(1, Math.ceil(spec.windowMs / 1000));
      counter = { limiter: new RateLimiterMemory({ keyPrefix: spec.name, points: spec.points, duration }), tail: Promise.resolve() };
      this.#counters.set(id, counter);
    }
    const limiter = counter.limiter;
    const result = counter.tail.then(() => operation(limiter));
    counter.tail = result.catch(() => undefined);
    return result;
  }
}

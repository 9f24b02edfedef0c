// A worker's side of a rate-limit policy with node:cluster workers and no Redis: points leased from the
// primary's counter (quota-host.ts) are spent here without IPC, synchronously, until the lease or its
// window ends. The primary is asked only when the key's lease is empty, once for all requests waiting
// on that key (single flight); once it says the window's budget is spent, requests are refused here
// until the window ends. README "Scale-out" states what this admits and what it may leave unused.
import { nextWant } from "./lease-sizing.js";
import type { LeaseGrant } from "./quota-host.js";
import type { Quota, QuotaDecision } from "./quota.js";

/** How the worker reaches the primary's counter for one policy (IPC in a worker, a fake in tests). */
export interface LeaseChannel {
  lease(key: string, want: number): Promise<LeaseGrant>;
  /** Fire and forget: points of a lease that went idle, for the window ending at `endsAt`. */
  giveBack(key: string, points: number, endsAt: number): void;
}

export interface LeaseTiming {
  /** A lease request not answered by then fails: store.onStoreFailure decides (as with Redis down). */
  readonly timeoutMs: number;
  /** After a failed lease request, keys without points fail at once for this long instead of each waiting. */
  readonly downMs: number;
  /** How often ended windows are dropped and idle leases given back. */
  readonly sweepMs: number;
  /** A lease unused for this long (with its window at least this far from its end) is given back. */
  readonly idleMs: number;
}

export const LEASE_TIMING: LeaseTiming = { timeoutMs: 2_000, downMs: 1_000, sweepMs: 1_000, idleMs: 1_000 };

interface Lease {
  /** Points left to spend in this window. */
  points: number;
  /** Wall-clock ms when the window ends (the primary's view, never later than its counter's). */
  endsAt: number;
  /** What the primary had left after the last grant: RateLimit-Remaining adds it to `points`. */
  left: number;
  /** The primary said the window's budget is spent: refuse until `endsAt`. */
  exhausted: boolean;
  /** Size of the last grant, for the size of the next ask. */
  lastGrant: number;
  usedAt: number;
  /** The lease request in flight for this key, which every request arriving meanwhile waits for. */
  pending: Promise<void> | undefined;
}

export class LeasedQuota implements Quota {
  readonly #channel: LeaseChannel;
  readonly #timing: LeaseTiming;
  readonly #onFailure: (error: unknown) => void;
  readonly #leases = new Map<string, Lease>();
  readonly #sweeper: NodeJS.Timeout;
  #downUntil = 0;
  #lastError: unknown;

  constructor(channel: LeaseChannel, timing: LeaseTiming = LEASE_TIMING, onFailure: (error: unknown) => void = () => {}) {
    this.#channel = channel;
    this.#timing = timing;
    this.#onFailure = onFailure;
    this.#sweeper = setInterval(() => this.sweep(), timing.sweepMs);
    this.#sweeper.unref();
  }

  consume(key: string): QuotaDecision | Promise<QuotaDecision> {
    const lease = this.#leases.get(key);
    if (lease !== undefined) {
      const now = Date.now();
      if (now < lease.endsAt) {
        if (lease.points > 0) {
          lease.points--;
          lease.usedAt = now;
          return { kind: "allowed", remaining: lease.points + lease.left, resetMs: lease.endsAt - now };
        }
        if (lease.exhausted) return { kind: "limited", remaining: 0, resetMs: lease.endsAt - now };
      }
    }
    return this.#wait(key, lease);
  }

  /** Keys held (for tests and the sweep's bound). */
  get size(): number {
    return this.#leases.size;
  }

  /** Drops leases whose window ended; gives back points of leases idle for `idleMs`. Runs on a timer. */
  sweep(now = Date.now()): void {
    for (const [key, lease] of this.#leases) {
      if (lease.pending !== undefined) continue;
      if (now >= lease.endsAt) {
        this.#leases.delete(key);
      } else if (lease.points > 0 && now - lease.usedAt >= this.#timing.idleMs && lease.endsAt - now >= this.#timing.idleMs) {
        // Zeroed before it is sent: these points can no longer be spent here, whatever the primary does.
        this.#channel.giveBack(key, lease.points, lease.endsAt);
        lease.lastGrant = nextWant(lease.lastGrant, lease.points);
        lease.points = 0;
      }
    }
  }

  close(): void {
    clearInterval(this.#sweeper);
  }

  #wait(key: string, known: Lease | undefined): QuotaDecision | Promise<QuotaDecision> {
    if (Date.now() < this.#downUntil) return { kind: "store-unavailable", error: this.#lastError };
    let lease = known;
    if (lease === undefined) {
      lease = { points: 0, endsAt: 0, left: 0, exhausted: false, lastGrant: 0, usedAt: 0, pending: undefined };
      this.#leases.set(key, lease);
    }
    lease.pending ??= this.#refill(key, lease);
    // Every waiter tries the refilled lease in arrival order; those it cannot serve ask again (still one request at a time).
    return lease.pending.then(
      () => this.consume(key),
      (error: unknown): QuotaDecision => ({ kind: "store-unavailable", error }),
    );
  }

  async #refill(key: string, lease: Lease): Promise<void> {
    // Points still held belong to a window that has ended: what was spent of them sizes the next ask.
    const unused = Date.now() >= lease.endsAt ? lease.points : 0;
    try {
      const grant = await withTimeout(this.#channel.lease(key, nextWant(lease.lastGrant, unused)), this.#timing.timeoutMs);
      lease.points = grant.points;
      lease.endsAt = grant.endsAt;
      lease.left = grant.left;
      lease.exhausted = grant.points === 0;
      if (grant.points > 0) lease.lastGrant = grant.points;
    } catch (error) {
      this.#downUntil = Date.now() + this.#timing.downMs;
      this.#lastError = error;
      this.#onFailure(error);
      throw error;
    } finally {
      lease.pending = undefined;
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no quota lease from the primary within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

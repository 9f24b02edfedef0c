// How many on-demand orders may start: at most `perName` for one name and `total` for all names within
// any `window` (a sliding window: the timestamps of the orders started in the last `window` are kept,
// at most `total` of them, so memory stays bounded whatever names clients send).

export interface IssuanceLimits {
  readonly perName: number;
  readonly total: number;
  /** Milliseconds. */
  readonly window: number;
}

/** Which cap refused an order. */
export type RateCap = "per_name" | "total";

export class IssuanceRate {
  readonly #limits: IssuanceLimits;
  readonly #now: () => number;
  /** Start times of the orders in the window, oldest first. */
  readonly #started: number[] = [];
  /** The same, by name; a name leaves the map once its orders have left the window. */
  readonly #byName = new Map<string, number[]>();

  constructor(limits: IssuanceLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Records an order for `name` and returns undefined, or returns the cap that forbids one now. */
  take(name: string): RateCap | undefined {
    const now = this.#now();
    const since = now - this.#limits.window;
    dropBefore(this.#started, since);
    for (const [other, times] of this.#byName) {
      dropBefore(times, since);
      if (times.length === 0) this.#byName.delete(other);
    }
    const mine = this.#byName.get(name);
    if (mine !== undefined && mine.length >= this.#limits.perName) return "per_name";
    if (this.#started.length >= this.#limits.total) return "total";
    this.#started.push(now);
    if (mine === undefined) this.#byName.set(name, [now]);
    else mine.push(now);
    return undefined;
  }

  /** Orders counted in the current window (for tests and logs). */
  get inWindow(): number {
    dropBefore(this.#started, this.#now() - this.#limits.window);
    return this.#started.length;
  }
}

/** Removes the timestamps at or before `since` from the front of the sorted `times`. */
function dropBefore(times: number[], since: number): void {
  let expired = 0;
  while (expired < times.length && times[expired]! <= since) expired++;
  if (expired > 0) times.splice(0, expired);
}

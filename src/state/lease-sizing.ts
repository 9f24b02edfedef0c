// The arithmetic of quota leases (node:cluster workers without Redis, README "Scale-out"): how many
// points the primary hands a worker for one key, and how many a worker asks for. Pure functions, so
// the bounds the README states are the ones the unit tests check.

/**
 * A lease is at most this share of what is left divided by the number of workers: with 2 workers a lease
 * takes at most a quarter of what is left, so near the limit the points go out one at a time, and what
 * other workers may hold unused when one hears "exhausted" stays at most ⌊L / (2N)⌋ each.
 */
export const SHARE_DIVISOR = 2;

/** A worker never asks for more than this at once (its asks double while it spends whole leases). */
export const MAX_WANT = 65_536;

/** Points the primary grants out of `left` in this window: at least 1 while any is left, never more than `want` or `left`. */
export function leaseSize(left: number, workers: number, want: number): number {
  if (left <= 0) return 0;
  const share = Math.floor(left / (SHARE_DIVISOR * Math.max(1, workers)));
  return Math.min(left, Math.max(1, Math.min(want, share)));
}

/**
 * Points actually granted when `asked` were charged and the counter then read `consumedAfter`: never
 * beyond `limit` in the window, even if another charge slipped in between (then fewer, possibly none).
 */
export function grantedOf(asked: number, consumedAfter: number, limit: number): number {
  return Math.max(0, Math.min(asked, limit - (consumedAfter - asked)));
}

/**
 * What a worker asks for next: twice its last lease when it spent all of it (demand is at least that),
 * what it spent of it when the window ended with points unused, 1 for a key it has not leased yet.
 */
export function nextWant(lastGrant: number, unused: number): number {
  if (lastGrant <= 0) return 1;
  if (unused > 0) return Math.max(1, lastGrant - unused);
  return Math.min(MAX_WANT, lastGrant * 2);
}

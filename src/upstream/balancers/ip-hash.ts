// Consistent hashing on the client IP (Karger et al., "Consistent Hashing and Random Trees", STOC 1997),
// laid out the way ketama does it (https://github.com/RJ/ketama: 160 points per server on a 32-bit ring,
// weighted servers get proportionally more points). A client sticks to one target, and adding or
// removing a target moves only the clients whose ring arc it takes or gives up — about 1/n of them —
// instead of nearly all of them as `hash % n` would.
import type { Target } from "../target.js";
import type { Balancer } from "./balancer.js";

/** Ring points per unit of weight, ketama's figure: enough to keep each target's share within a few percent. */
export const POINTS_PER_WEIGHT = 160;
/**
 * Cap on the ring size (weights go up to 1,000): keeps the ring under a megabyte and its build, once per
 * config load, in milliseconds. Only a service above the cap has its points scaled down, which keeps the
 * proportions but gives up stability of the ring across weight changes for that service.
 */
export const MAX_RING_POINTS = 100_000;

/** FNV-1a, 32-bit (http://www.isthe.com/chongo/tech/comp/fnv/): cheap, allocation-free over a string's UTF-16 units. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * MurmurHash3's 32-bit finaliser (fmix32). FNV-1a alone leaves inputs that differ only in their last
 * characters (consecutive IPs, "host:port-1" vs "-2") close together in the high bits, so ring points
 * and clients would cluster; the avalanche spreads them over the whole ring.
 */
export function mix32(hash: number): number {
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/**
 * Consistent-hash balancer. The ring is built once, here, from every target of the service (not just
 * the healthy ones), so a target's points never move while it is unhealthy: when it drops out of the
 * candidates its clients walk on to the next point clockwise, and when it comes back exactly those
 * clients return. The ring reflects the weights at build time; the service builds a new balancer
 * when its config changes.
 *
 * Slow start: a recovering target at effective weight w of its configured W takes a client only when
 * a second per-(client, target) hash falls below w / W; the others walk on. As the ramp rises the
 * accepted set only grows, so a client moved onto the recovering target stays there.
 */
export function ipHashBalancer(targets: readonly Target[]): Balancer {
  const count = targets.length;
  const indexOf = new Map<Target, number>();
  const weights = new Float64Array(count);
  // Independent per-target salt for the slow-start acceptance hash.
  const salts = new Uint32Array(count);
  const points: { hash: number; target: number }[] = [];

  let totalPoints = 0;
  for (let t = 0; t < count; t++) {
    const weight = targets[t]!.weight;
    weights[t] = weight > 0 ? weight : 0;
    totalPoints += Math.round(POINTS_PER_WEIGHT * weights[t]!);
  }
  const scale = totalPoints > MAX_RING_POINTS ? MAX_RING_POINTS / totalPoints : 1;

  const seen = new Map<string, number>();
  for (let t = 0; t < count; t++) {
    const target = targets[t]!;
    // The same Target object listed twice is one target: its points all belong to its first slot.
    if (!indexOf.has(target)) indexOf.set(target, t);
    const slot = indexOf.get(target)!;
    // Points are named after the address, not the position in the list, so reordering the targets or
    // adding one leaves every existing point where it was. A duplicate address gets its own names.
    const duplicate = seen.get(target.key) ?? 0;
    seen.set(target.key, duplicate + 1);
    const name = duplicate === 0 ? target.key : `${target.key}#${duplicate}`;
    salts[t] = mix32(fnv1a32(name) ^ 0x9e3779b9);
    const weight = weights[t]!;
    if (weight === 0) continue;
    const n = Math.max(1, Math.round(POINTS_PER_WEIGHT * weight * scale));
    for (let i = 0; i < n; i++) points.push({ hash: mix32(fnv1a32(`${name}-${i}`)), target: slot });
  }
  // Ties (astronomically rare) break by target index so the ring does not depend on sort stability.
  points.sort((a, b) => a.hash - b.hash || a.target - b.target);
  const ring = new Uint32Array(points.length);
  const owner = new Uint32Array(points.length);
  for (let i = 0; i < points.length; i++) {
    ring[i] = points[i]!.hash;
    owner[i] = points[i]!.target;
  }

  // Candidate membership without allocating: a pick stamps its candidates' slots with a fresh epoch
  // (accepted, or seen but declined by slow start), and the walk tests the stamp.
  const accepted = new Uint32Array(count);
  let epoch = 0;

  /** First ring index at or after `hash`, wrapping to 0 past the last point. */
  const seek = (hash: number): number => {
    let low = 0;
    let high = ring.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (ring[middle]! < hash) low = middle + 1;
      else high = middle;
    }
    return low === ring.length ? 0 : low;
  };

  /** Owner of the first point clockwise from `start` whose target is stamped with `epoch`, or -1. */
  const walk = (start: number): number => {
    for (let step = 0, i = start; step < ring.length; step++) {
      const t = owner[i]!;
      if (accepted[t] === epoch) return t;
      if (++i === ring.length) i = 0;
    }
    return -1;
  };

  return {
    pick(candidates, { clientIp, now }) {
      const hash = mix32(fnv1a32(clientIp));
      if (++epoch === 0xffffffff) {
        accepted.fill(0);
        epoch = 1;
      }
      let stamped = 0;
      let declined = 0;
      for (let i = 0; i < candidates.length; i++) {
        const candidate = candidates[i]!;
        const t = indexOf.get(candidate);
        if (t === undefined) continue;
        stamped++;
        const full = weights[t]!;
        const effective = candidate.effectiveWeight(now);
        if (full > 0 && effective >= full) {
          accepted[t] = epoch;
          continue;
        }
        // Slow start (or a weight of 0): accept this client with probability effective / full, decided
        // by a hash of (client, target) so the answer is the same on every request.
        const share = full > 0 && effective > 0 ? effective / full : 0;
        if (mix32(hash ^ salts[t]!) < share * 0x100000000) accepted[t] = epoch;
        else declined++;
      }

      if (ring.length > 0 && stamped > 0) {
        const start = seek(hash);
        if (declined === stamped) {
          // Every candidate declined this client (all in slow start, or all weightless): serve it anyway,
          // from its ordinary place on the ring among the candidates.
          for (let i = 0; i < candidates.length; i++) {
            const t = indexOf.get(candidates[i]!);
            if (t !== undefined) accepted[t] = epoch;
          }
        }
        const t = walk(start);
        if (t >= 0) return targets[t]!;
      }
      // Candidates the ring does not know (or weightless ones with no points): still stable per client.
      return candidates[hash % candidates.length]!;
    },
  };
}

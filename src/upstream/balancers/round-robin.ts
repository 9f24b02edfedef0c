// Smooth weighted round-robin, nginx's algorithm ("Upstream: smooth weighted round-robin balancing",
// https://github.com/nginx/nginx/commit/52327e0627f49dbda1e8db695e63a4b0af4448b1). Every pick, each
// candidate's `current` grows by its weight; the largest `current` wins and gives back the total. With
// weights 5:1:1 this yields a a b a c a a: the heavy target's picks are spread through the cycle instead
// of arriving as a burst of five, and over any full cycle every target gets exactly its weight's share.
import type { Target } from "../target.js";
import type { Balancer } from "./balancer.js";

/**
 * Round-robin over `effectiveWeight(now)`, so weights give exact canary splits and slow start ramps a
 * recovered target in smoothly.
 *
 * A target that is not among the candidates (unhealthy, breaker open, already tried by this request)
 * keeps its `current` frozen until it returns, as nginx does for peers it skips. The sum of all
 * `current` values stays 0, and a frozen value is bounded by about one cycle's total weight, so a
 * returning target gets at most one pick's head start or delay: no burst. Resetting instead would let
 * every retry (which excludes the target just tried) hand that target back the share it was just charged.
 */
export function roundRobinBalancer(targets: readonly Target[]): Balancer {
  // `current` per target in a Float64Array indexed through a Map: updating it allocates nothing
  // (a Map<Target, number> would box every non-integer value it stores).
  const indexOf = new Map<Target, number>();
  let current = new Float64Array(Math.max(1, targets.length));
  for (const target of targets) if (!indexOf.has(target)) indexOf.set(target, indexOf.size);

  /** Index of a candidate, registering one the factory was not given (defensive; never on the common path). */
  const slot = (target: Target): number => {
    const known = indexOf.get(target);
    if (known !== undefined) return known;
    const index = indexOf.size;
    indexOf.set(target, index);
    if (index >= current.length) {
      const grown = new Float64Array(current.length * 2);
      grown.set(current);
      current = grown;
    }
    return index;
  };

  return {
    pick(candidates, { now }) {
      if (candidates.length === 1) return candidates[0]!;
      let total = 0;
      let best = -1;
      let bestIndex = 0;
      for (let i = 0; i < candidates.length; i++) {
        const index = slot(candidates[i]!);
        // A weight of 0 (or a NaN from a broken clock) adds nothing and can never win while others can.
        const raw = candidates[i]!.effectiveWeight(now);
        const weight = raw > 0 ? raw : 0;
        if (weight === 0) continue;
        const value = (current[index]! += weight);
        total += weight;
        // Strict ">" keeps the first of equal values, which is what makes 5:1:1 come out as nginx's sequence.
        if (best < 0 || value > current[bestIndex]!) {
          best = i;
          bestIndex = index;
        }
      }
      if (total === 0) {
        // Every candidate weighs 0: rather than refuse, rotate through them evenly (weight 1 each).
        for (let i = 0; i < candidates.length; i++) {
          const index = slot(candidates[i]!);
          const value = (current[index]! += 1);
          if (best < 0 || value > current[bestIndex]!) {
            best = i;
            bestIndex = index;
          }
        }
        total = candidates.length;
      }
      current[bestIndex]! -= total;
      return candidates[best]!;
    },
  };
}

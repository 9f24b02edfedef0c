// Weighted random: each pick independent, probability proportional to `effectiveWeight(now)`. No state
// to share or reset, which makes it the baseline the other strategies are measured against.
import type { Target } from "../target.js";
import type { Balancer } from "./balancer.js";
import { seededRandom, type RandomSource } from "./prng.js";

/**
 * Weighted random over the candidates. `random` (values in [0, 1); by default a generator seeded from
 * the OS, see prng.ts for why not Math.random) is injectable so tests can seed it and never flake.
 * When every weight is equal — including all 0, where refusing would turn a corner case into a 503 —
 * the pick is uniform and skips the second pass. Nothing is allocated per pick.
 */
export function randomBalancer(targets: readonly Target[], random: RandomSource = seededRandom()): Balancer {
  // Each pick's weights, read once in the first pass and reused by the sampling walks: one
  // effectiveWeight() call per candidate, and no boxed doubles. Grown (rarely) to the largest candidate set.
  let weights = new Float64Array(Math.max(4, targets.length));
  return {
    pick(candidates, { now }) {
      const n = candidates.length;
      if (n === 1) return candidates[0]!;
      if (n > weights.length) weights = new Float64Array(n * 2);
      let total = 0;
      let first = 0;
      let equal = true;
      for (let i = 0; i < n; i++) {
        const raw = candidates[i]!.effectiveWeight(now);
        // 0, negative or NaN weighs nothing and is never picked while another candidate weighs something.
        const weight = raw > 0 ? raw : 0;
        weights[i] = weight;
        total += weight;
        if (i === 0) first = weight;
        else if (weight !== first) equal = false;
      }
      if (equal) {
        const index = Math.floor(random() * n);
        return candidates[index < n ? index : n - 1]!;
      }
      // Walk to the slice of the cumulative weight holding the point. Unequal weights mean total > 0, so
      // some candidate is weighted; float rounding past the end lands on the last weighted one.
      let point = random() * total;
      let chosen = 0;
      for (let i = 0; i < n; i++) {
        const weight = weights[i]!;
        if (weight === 0) continue;
        chosen = i;
        if (point < weight) break;
        point -= weight;
      }
      return candidates[chosen]!;
    },
  };
}

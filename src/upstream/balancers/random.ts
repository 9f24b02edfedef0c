// Weighted random: each pick independent, probability proportional to `effectiveWeight(now)`. No state
// to share or reset, which makes it the baseline the other strategies are measured against.
import type { Target } from "../target.js";
import type { Balancer } from "./balancer.js";
import { seededRandom, type RandomSource } from "./prng.js";
import { PickWeights } from "./weights.js";

/**
 * Weighted random over the candidates. `random` (values in [0, 1); by default a generator seeded from
 * the OS, see prng.ts for why not Math.random) is injectable so tests can seed it and never flake.
 * When every weight is equal — including all 0, where refusing would turn a corner case into a 503 —
 * the pick is uniform and skips the second pass. Nothing is allocated per pick.
 */
export function randomBalancer(targets: readonly Target[], random: RandomSource = seededRandom()): Balancer {
  const weights = new PickWeights(targets.length);
  return {
    pick(candidates, { now }) {
      const n = candidates.length;
      if (n === 1) return candidates[0]!;
      weights.read(candidates, now);
      if (weights.equal) {
        const index = Math.floor(random() * n);
        return candidates[index < n ? index : n - 1]!;
      }
      // Unequal weights mean total > 0, so some candidate is weighted.
      return candidates[weights.sample(random() * weights.total, n)]!;
    },
  };
}

// Least requests by the power of two choices (Mitzenmacher, "The Power of Two Choices in Randomized Load
// Balancing", 2001), as Envoy's default least-request balancer does:
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/load_balancers#weighted-least-request
// Sample two distinct candidates at random and send the request to the less loaded one. Nearly as good
// as scanning for the global minimum, and — unlike a full scan — it does not herd every request onto
// the one target that happens to look idle (one that just came back, or one failing fast with cheap
// errors): the single busiest target is never picked, the rest share by load.
import type { Target } from "../target.js";
import type { Balancer } from "./balancer.js";
import { seededRandom, type RandomSource } from "./prng.js";
import { PickWeights } from "./weights.js";

/**
 * P2C over in-flight requests. With equal weights the two samples are uniform and the one with fewer
 * in-flight requests wins (Envoy's path for equal weights). With unequal weights (a canary, or a target
 * in slow start) the two distinct samples are drawn in proportion to `effectiveWeight(now)` and compared
 * by load per unit of weight, inFlight / weight: a target of weight 3 is "as busy" as one of weight 1
 * only when it holds three times the requests. That is Envoy's
 * `weight / (active_requests + 1) ^ active_request_bias` with bias 1, minus the +1: at zero load the two
 * samples tie and the first (weight-drawn) one wins, so an idle service still splits by weight instead
 * of sending everything to the heaviest target.
 *
 * `random` (values in [0, 1); by default a generator seeded from the OS, see prng.ts for why not
 * Math.random) is injectable so tests can seed it. Nothing is allocated per pick.
 */
export function leastRequestsBalancer(targets: readonly Target[], random: RandomSource = seededRandom()): Balancer {
  const weights = new PickWeights(targets.length);
  return {
    pick(candidates, { now }) {
      const n = candidates.length;
      if (n === 1) return candidates[0]!;
      weights.read(candidates, now);

      if (weights.equal) {
        // Two distinct uniform indices without rejection sampling: draw the second from the n - 1 other
        // slots and step over the first. Equal weights (all 0 included) reduce to comparing inFlight.
        let a = Math.floor(random() * n);
        if (a >= n) a = n - 1;
        let b = Math.floor(random() * (n - 1));
        if (b >= n - 1) b = n - 2;
        if (b >= a) b++;
        const left = candidates[a]!;
        const right = candidates[b]!;
        return right.inFlight < left.inFlight ? right : left;
      }

      // First sample by weight (unequal weights mean total > 0), then the second among the others.
      const values = weights.values;
      const a = weights.sample(random() * weights.total, n);
      const left = candidates[a]!;
      const leftWeight = values[a]!;
      const rest = weights.total - leftWeight;
      // Only one candidate carries weight: the others are not to be picked while it can be.
      if (!(rest > 0)) return left;
      const b = weights.sample(random() * rest, n, a);
      if (b < 0) return left;
      const right = candidates[b]!;
      const rightWeight = values[b]!;
      // right.inFlight / rightWeight < left.inFlight / leftWeight, cross-multiplied (both weights > 0).
      return right.inFlight * leftWeight < left.inFlight * rightWeight ? right : left;
    },
  };
}

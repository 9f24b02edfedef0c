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
        // 0, negative or NaN weighs nothing and is never sampled while another candidate weighs something.
        const weight = raw > 0 ? raw : 0;
        weights[i] = weight;
        total += weight;
        if (i === 0) first = weight;
        else if (weight !== first) equal = false;
      }

      if (equal) {
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

      // First sample: the slice of the cumulative weight holding a random point (unequal weights mean
      // total > 0; float rounding past the end lands on the last weighted candidate).
      let point = random() * total;
      let a = 0;
      let leftWeight = 0;
      for (let i = 0; i < n; i++) {
        const weight = weights[i]!;
        if (weight === 0) continue;
        a = i;
        leftWeight = weight;
        if (point < weight) break;
        point -= weight;
      }
      const left = candidates[a]!;
      const rest = total - leftWeight;
      // Only one candidate carries weight: the others are not to be picked while it can be.
      if (!(rest > 0)) return left;

      // Second sample, the same way over the weight of everyone but the first.
      point = random() * rest;
      let b = -1;
      let rightWeight = 0;
      for (let i = 0; i < n; i++) {
        if (i === a) continue;
        const weight = weights[i]!;
        if (weight === 0) continue;
        b = i;
        rightWeight = weight;
        if (point < weight) break;
        point -= weight;
      }
      if (b < 0) return left;
      const right = candidates[b]!;
      // right.inFlight / rightWeight < left.inFlight / leftWeight, cross-multiplied (both weights > 0).
      return right.inFlight * leftWeight < left.inFlight * rightWeight ? right : left;
    },
  };
}

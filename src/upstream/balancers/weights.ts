// The weights of one pick, read once per candidate into a reusable buffer (no boxed doubles, nothing
// allocated per pick), shared by the strategies that sample by weight (random, least-requests).
import type { Target } from "../target.js";

export class PickWeights {
  values = new Float64Array(4);
  total = 0;
  /** Every candidate weighs the same (all 0 included): sampling can be uniform. */
  equal = true;

  constructor(size: number) {
    this.values = new Float64Array(Math.max(4, size));
  }

  read(candidates: readonly Target[], now: number): void {
    const n = candidates.length;
    // Grown (rarely) to the largest candidate set.
    if (n > this.values.length) this.values = new Float64Array(n * 2);
    const values = this.values;
    let total = 0;
    let first = 0;
    let equal = true;
    for (let i = 0; i < n; i++) {
      const raw = candidates[i]!.effectiveWeight(now);
      // 0, negative or NaN weighs nothing and is never sampled while another candidate weighs something.
      const weight = raw > 0 ? raw : 0;
      values[i] = weight;
      total += weight;
      if (i === 0) first = weight;
      else if (weight !== first) equal = false;
    }
    this.total = total;
    this.equal = equal;
  }

  /**
   * The index whose slice of the cumulative weight holds `point` (in [0, total - skipWeight)), skipping
   * index `skip`; float rounding past the end lands on the last weighted candidate; -1 when none weighs.
   */
  sample(point: number, n: number, skip = -1): number {
    const values = this.values;
    let chosen = -1;
    for (let i = 0; i < n; i++) {
      if (i === skip) continue;
      const weight = values[i]!;
      if (weight === 0) continue;
      chosen = i;
      if (point < weight) break;
      point -= weight;
    }
    return chosen;
  }
}

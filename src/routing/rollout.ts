// A progressive rollout's decision for one interval, as a pure function of the rollout's config, its
// record and the interval's figures for `to` (Flagger's and Argo Rollouts' analysis, in the gateway):
// fewer than minRequests responses: inconclusive; a success rate (non-5xx, Rampart's own 5xx for `to`
// included) at least minSuccessRate and a p99 at most maxP99Latency: a step of stepWeight up to
// maxWeight, then promotion (`to` takes everything); otherwise a failed interval, and after
// failureThreshold of them a rollback (`to` takes nothing) that stays until an operator acts.
import type { RolloutConfig } from "../config/schema.js";
import type { RolloutRecord } from "../state/rollout-store.js";

export type DecisionResult = "step" | "inconclusive" | "failed" | "promoted" | "rolled_back";

/** Upper bounds (ms) of the latency buckets every instance counts `to`'s responses into. */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze([5, 10, 25, 50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 10_000, 30_000, Infinity]);

/** Counts as stored: [responses, non-5xx responses, one count per latency bucket...]. */
export const COUNTS_LENGTH = 2 + LATENCY_BOUNDS_MS.length;

export interface IntervalFigures {
  readonly requests: number;
  readonly successRate: number;
  /** The upper bound of the bucket holding the 99th percentile (ms); 0 without requests. */
  readonly p99Ms: number;
}

export function figuresOf(counts: readonly number[]): IntervalFigures {
  const requests = counts[0] ?? 0;
  const successes = counts[1] ?? 0;
  let p99Ms = 0;
  if (requests > 0) {
    const rank = Math.ceil(requests * 0.99);
    let seen = 0;
    for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) {
      seen += counts[2 + i] ?? 0;
      if (seen >= rank) {
        p99Ms = LATENCY_BOUNDS_MS[i]!;
        break;
      }
    }
  }
  return { requests, successRate: requests === 0 ? 100 : (100 * successes) / requests, p99Ms };
}

export function decide(config: RolloutConfig, record: RolloutRecord, figures: IntervalFigures, now: Date): { result: DecisionResult; record: RolloutRecord } {
  const text = `${figures.requests} responses, ${figures.successRate.toFixed(2)}% successful, p99 ≤ ${figures.p99Ms} ms`;
  const since = now.toISOString();
  if (figures.requests < config.minRequests) {
    return { result: "inconclusive", record: { ...record, reason: `inconclusive: ${text} (fewer than ${config.minRequests})` } };
  }
  const healthy = figures.successRate >= config.minSuccessRate && figures.p99Ms <= config.maxP99Latency;
  if (healthy) {
    if (record.weight >= config.maxWeight) {
      return { result: "promoted", record: { ...record, weight: 100, state: "promoted", since, failures: 0, reason: `promoted at ${record.weight}%: ${text}` } };
    }
    const weight = Math.min(record.weight + config.stepWeight, config.maxWeight);
    return { result: "step", record: { ...record, weight, reason: `step to ${weight}%: ${text}` } };
  }
  const failures = record.failures + 1;
  const why = `${text} (needs ≥ ${config.minSuccessRate}% and p99 ≤ ${config.maxP99Latency} ms)`;
  if (failures >= config.failureThreshold) {
    return { result: "rolled_back", record: { ...record, weight: 0, state: "rolled-back", since, failures, reason: `rolled back after ${failures} failed intervals: ${why}` } };
  }
  return { result: "failed", record: { ...record, failures, reason: `failed interval ${failures} of ${config.failureThreshold}: ${why}` } };
}

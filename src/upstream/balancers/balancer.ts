// One interface for every load-balancing strategy (one file each, chosen by `balancer:` in a service).
// A balancer only chooses among the candidates it is given: eligibility (health, breaker, exclusions of
// already-tried targets, panic mode) is decided by the service before it asks.
import type { Target } from "../target.js";

export interface PickContext {
  /** The resolved client IP (ip-hash keys on it). */
  readonly clientIp: string;
  /** Date.now() in ms, for slow-start weights; passed in so a pick reads the clock once. */
  readonly now: number;
}

export interface Balancer {
  /**
   * Chooses one of `candidates` (never empty, every one eligible). Use `target.effectiveWeight(now)`
   * as the weight so slow start ramps traffic. Must not allocate on the common path.
   */
  pick(candidates: readonly Target[], context: PickContext): Target;
}

/** Built once per service config; `targets` is every target of the service, for strategies that precompute (ip-hash's ring). */
export type BalancerFactory = (targets: readonly Target[]) => Balancer;

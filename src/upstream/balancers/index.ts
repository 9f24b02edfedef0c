// The `balancer:` setting of a service, mapped to its strategy. One file per strategy keeps each small
// enough to read against the algorithm it cites; this map is the only place that knows them all.
import type { ServiceConfig } from "../../config/schema.js";
import type { Target } from "../target.js";
import type { Balancer, BalancerFactory } from "./balancer.js";
import { ipHashBalancer } from "./ip-hash.js";
import { leastRequestsBalancer } from "./least-requests.js";
import { randomBalancer } from "./random.js";
import { roundRobinBalancer } from "./round-robin.js";

export type { Balancer, BalancerFactory, PickContext } from "./balancer.js";
export { ipHashBalancer } from "./ip-hash.js";
export { leastRequestsBalancer } from "./least-requests.js";
export { randomBalancer } from "./random.js";
export { roundRobinBalancer } from "./round-robin.js";

/** The names `balancer:` accepts; checked against the config schema so neither can drift from the other. */
export type BalancerKind = ServiceConfig["balancer"];

export const BALANCERS = {
  "round-robin": roundRobinBalancer,
  "least-requests": leastRequestsBalancer,
  "ip-hash": ipHashBalancer,
  random: randomBalancer,
} as const satisfies Record<BalancerKind, BalancerFactory>;

/** A fresh balancer of `kind` over `targets` (every target of the service; candidates are chosen per pick). */
export function createBalancer(kind: BalancerKind, targets: readonly Target[]): Balancer {
  return BALANCERS[kind](targets);
}

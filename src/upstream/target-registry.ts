// Targets keyed by (service, address), so their runtime state (health, breaker, in-flight, slow start)
// survives a config reload that keeps them, and is never shared between two services that merely
// point at the same address (the mistake of Caddy #7870).
import type { GatewayMetrics } from "../observability/metrics.js";
import { Target } from "./target.js";

/** rampart_upstream_errors_total's kinds (DESIGN.md, "Contract, second round"). */
const ERROR_KINDS = ["connect", "reset", "timeout", "tls", "status_5xx"] as const;

export class TargetRegistry {
  readonly #metrics: GatewayMetrics;
  readonly #targets = new Map<string, Target>();

  constructor(metrics: GatewayMetrics) {
    this.#metrics = metrics;
  }

  /** The target for this service and URL: the existing one, with its state, or a new healthy one. */
  acquire(service: string, url: string): Target {
    const key = `${service}\u0000${new URL(url).origin}`;
    let target = this.#targets.get(key);
    if (target === undefined) {
      const address = new URL(url);
      const label = `${address.hostname}:${address.port || (address.protocol === "https:" ? 443 : 80)}`;
      const m = this.#metrics;
      target = new Target(service, url, {
        upstreamDuration: m.upstreamDuration.create({ service, target: label }),
        healthy: m.upstreamHealthy.labels(service, label),
        breakerState: m.breakerState.labels(service, label),
        status5xx: m.upstreamErrors.labels(service, label, "status_5xx"),
      });
      // Every kind starts at 0, so rate() and increase() see a target's first error (a series born at 1 hides it).
      for (const kind of ERROR_KINDS) m.upstreamErrors.inc({ service, target: label, kind }, 0);
      this.#targets.set(key, target);
    }
    return target;
  }

  /** Forgets every target not in `active` (removed by a reload): its breaker stops and its series go. */
  retainOnly(active: ReadonlySet<Target>): void {
    for (const [key, target] of this.#targets) {
      if (active.has(target)) continue;
      this.#targets.delete(key);
      target.breaker?.shutdown();
      const labels = { service: target.service, target: target.key };
      this.#metrics.upstreamHealthy.remove(labels);
      this.#metrics.breakerState.remove(labels);
      for (const kind of ERROR_KINDS) this.#metrics.upstreamErrors.remove({ ...labels, kind });
    }
  }

  all(): Target[] {
    return [...this.#targets.values()];
  }
}

// Counters that never fall when a worker goes: Prometheus reads a counter that drops as a reset and the
// increase across it as new traffic, so a worker replaced by a rolling restart (or a crash) would show up
// as a spike of requests and errors, and fire error-budget alerts. The primary keeps each worker's last
// metrics; when a worker exits, its counters and histograms are folded into a running total that every
// later /metrics answer adds to the live workers' (gauges go with their worker).
import { AggregatorRegistry, type Registry } from "prom-client";

export type MetricsSnapshot = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;

export class CounterTotals<Key> {
  readonly #lastSeen = new Map<Key, MetricsSnapshot>();
  #retired: MetricsSnapshot = [];

  /** The latest metrics a worker reported. */
  seen(worker: Key, snapshot: MetricsSnapshot): void {
    this.#lastSeen.set(worker, snapshot);
  }

  /** The worker is gone: what it counted stays in the totals. */
  async retire(worker: Key): Promise<void> {
    const last = this.#lastSeen.get(worker);
    this.#lastSeen.delete(worker);
    if (last === undefined) return;
    this.#retired = await AggregatorRegistry.aggregate([this.#retired, cumulativeOf(last)]).getMetricsAsJSON();
  }

  /**
   * The answering workers' snapshots, plus the counts of workers that did not answer but have not exited
   * (one draining during a rolling restart) and of those that exited: ready to aggregate.
   */
  withOthers(answered: ReadonlyMap<Key, MetricsSnapshot>): MetricsSnapshot[] {
    const snapshots = [...answered.values()];
    for (const [worker, last] of this.#lastSeen) {
      if (!answered.has(worker)) snapshots.push(cumulativeOf(last));
    }
    if (this.#retired.length > 0) snapshots.push(this.#retired);
    return snapshots;
  }
}

/** Counters and histograms only: a gone worker's gauges (in flight, healthy) say nothing about now. */
function cumulativeOf(snapshot: MetricsSnapshot): MetricsSnapshot {
  // (prom-client declares `type` as an enum; its JSON holds the strings.)
  return snapshot.filter((metric) => String(metric.type) === "counter" || String(metric.type) === "histogram");
}

// Histograms (and the request counter that comes with one) counted in plain numbers on the request path
// and turned into prom-client's metric shape only when scraped. A prom-client child's inc() and
// observe() validate and hash their labels on every call (~3 µs per request on this path); a series
// here is found once per label set, then costs two additions and a bucket scan.
// Both metric objects implement what prom-client's Registry (and the cluster's AggregatorRegistry) reads
// from a metric: name, help, type, aggregator and get(), in the same value shape as its Counter and
// Histogram, so the exposition text and the cross-worker sums are prom-client's own.
import type { Registry } from "prom-client";

type Labels = Readonly<Record<string, string>>;

/** What prom-client's Registry and AggregatorRegistry read from a metric's get(). */
interface ExportedValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName?: string;
}
interface Exported {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "histogram";
  readonly aggregator: "sum";
  readonly values: readonly ExportedValue[];
}

export interface MetricName {
  readonly name: string;
  readonly help: string;
}

export class Series {
  count = 0;
  sum = 0;
  /** Observations per bucket (not cumulative): index i counts values in (bounds[i-1], bounds[i]]. */
  readonly buckets: Float64Array;
  readonly #bounds: readonly number[];

  constructor(
    readonly labels: Labels,
    bounds: readonly number[],
  ) {
    this.#bounds = bounds;
    this.buckets = new Float64Array(bounds.length);
  }

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]!) {
        this.buckets[i]!++;
        return;
      }
    }
  }
}

export class SeriesHistogram {
  readonly #bounds: readonly number[];
  readonly #series: Series[] = [];
  readonly #byKey = new Map<string, Series>();

  /** `counter`: also export each series' count as this counter (rampart_requests_total). */
  constructor(registry: Registry, histogram: MetricName, bounds: readonly number[], counter?: MetricName) {
    this.#bounds = bounds;
    const series = this.#series;
    register(registry, { ...histogram, type: "histogram", aggregator: "sum", get: () => Promise.resolve(histogramValues(histogram, series, bounds)) });
    if (counter !== undefined) register(registry, { ...counter, type: "counter", aggregator: "sum", get: () => Promise.resolve(counterValues(counter, series)) });
  }

  /** The series for these labels, created on first use (one per label set, as prom-client's labels()). */
  create(labels: Labels): Series {
    const key = JSON.stringify(labels);
    let series = this.#byKey.get(key);
    if (series === undefined) {
      series = new Series(labels, this.#bounds);
      this.#byKey.set(key, series);
      this.#series.push(series);
    }
    return series;
  }
}

/** The Registry only reads these members of a metric; prom-client's types ask for a whole Metric class. */
function register(registry: Registry, metric: Omit<Exported, "values"> & { get(): Promise<Exported> }): void {
  registry.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
}

function counterValues(counter: MetricName, series: readonly Series[]): Exported {
  const values = series.map((each) => ({ labels: { ...each.labels }, value: each.count }));
  return { ...counter, type: "counter", aggregator: "sum", values };
}

function histogramValues(histogram: MetricName, series: readonly Series[], bounds: readonly number[]): Exported {
  const bucket = `${histogram.name}_bucket`;
  const values: ExportedValue[] = [];
  for (const each of series) {
    let cumulative = 0;
    for (let i = 0; i < bounds.length; i++) {
      cumulative += each.buckets[i]!;
      values.push({ labels: { le: bounds[i]!, ...each.labels }, value: cumulative, metricName: bucket });
    }
    values.push({ labels: { le: "+Inf", ...each.labels }, value: each.count, metricName: bucket });
    values.push({ labels: { ...each.labels }, value: each.sum, metricName: `${histogram.name}_sum` });
    values.push({ labels: { ...each.labels }, value: each.count, metricName: `${histogram.name}_count` });
  }
  return { ...histogram, type: "histogram", aggregator: "sum", values };
}

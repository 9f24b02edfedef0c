// rampart_requests_total and rampart_request_duration_seconds, counted in plain numbers on the request
// path and turned into prom-client's metric shape only when scraped. A prom-client child's inc() and
// observe() validate and hash their labels on every call (~3 µs per request on this path); a series
// here is found once per route, method and status, then costs two additions and a bucket scan.
// Both objects implement what prom-client's Registry (and the cluster's AggregatorRegistry) reads from a
// metric: name, help, type, aggregator and get(), in the same value shape as its Counter and Histogram.
import type { Registry } from "prom-client";

const TOTAL = { name: "rampart_requests_total", help: "Requests answered, by route, method and status code." };
const DURATION = {
  name: "rampart_request_duration_seconds",
  help: "Time from request start to the end of the response, by route, method and status code.",
};
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

interface SeriesLabels {
  readonly route: string;
  readonly method: string;
  readonly code: string;
}

export class RequestSeries {
  count = 0;
  sum = 0;
  /** Observations per bucket (not cumulative): index i counts values in (bounds[i-1], bounds[i]]. */
  readonly buckets: Float64Array;

  constructor(
    readonly labels: SeriesLabels,
    private readonly bounds: readonly number[],
  ) {
    this.buckets = new Float64Array(bounds.length);
  }

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]!) {
        this.buckets[i]!++;
        return;
      }
    }
  }
}

export class RequestSeriesSet {
  readonly #series: RequestSeries[] = [];

  constructor(
    registry: Registry,
    private readonly bounds: readonly number[],
  ) {
    const series = this.#series;
    register(registry, { ...TOTAL, type: "counter", aggregator: "sum", get: () => Promise.resolve(counterValues(series)) });
    register(registry, { ...DURATION, type: "histogram", aggregator: "sum", get: () => Promise.resolve(histogramValues(series, bounds)) });
  }

  create(route: string, method: string, code: number): RequestSeries {
    const series = new RequestSeries({ route, method, code: String(code) }, this.bounds);
    this.#series.push(series);
    return series;
  }
}

/** The Registry only reads these members of a metric; prom-client's types ask for a whole Metric class. */
function register(registry: Registry, metric: Omit<Exported, "values"> & { get(): Promise<Exported> }): void {
  registry.registerMetric(metric as unknown as Parameters<Registry["registerMetric"]>[0]);
}

function counterValues(series: readonly RequestSeries[]): Exported {
  const values = series.map((each) => ({ labels: { ...each.labels }, value: each.count }));
  return { ...TOTAL, type: "counter", aggregator: "sum", values };
}

function histogramValues(series: readonly RequestSeries[], bounds: readonly number[]): Exported {
  const bucket = `${DURATION.name}_bucket`;
  const values: ExportedValue[] = [];
  for (const each of series) {
    let cumulative = 0;
    for (let i = 0; i < bounds.length; i++) {
      cumulative += each.buckets[i]!;
      values.push({ labels: { le: bounds[i]!, ...each.labels }, value: cumulative, metricName: bucket });
    }
    values.push({ labels: { le: "+Inf", ...each.labels }, value: each.count, metricName: bucket });
    values.push({ labels: { ...each.labels }, value: each.sum, metricName: `${DURATION.name}_sum` });
    values.push({ labels: { ...each.labels }, value: each.count, metricName: `${DURATION.name}_count` });
  }
  return { ...DURATION, type: "histogram", aggregator: "sum", values };
}

// The request series are counted in plain numbers and exported in prom-client's shape: the text a
// Prometheus server scrapes, and the JSON the cluster primary adds up across workers, must read exactly
// as prom-client's own Counter and Histogram would.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AggregatorRegistry, Registry } from "prom-client";
import { SeriesHistogram } from "../../../src/observability/series-histogram.js";

const BOUNDS = [0.01, 0.1, 1];
const DURATION = { name: "rampart_request_duration_seconds", help: "duration" };
const TOTAL = { name: "rampart_requests_total", help: "requests" };

function sample(text: string, line: string): number | undefined {
  const found = text.split("\n").find((each) => each.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe("SeriesHistogram", () => {
  test("exports cumulative buckets, +Inf, sum and count per route, method and code, and the request counter", async () => {
    const registry = new Registry();
    const set = new SeriesHistogram(registry, DURATION, BOUNDS, TOTAL);
    const ok = set.create({ route: "app", method: "GET", code: "200" });
    for (const seconds of [0.005, 0.05, 0.05, 0.5, 5]) ok.observe(seconds);
    set.create({ route: "app", method: "POST", code: "502" }).observe(0.2);
    assert.equal(set.create({ route: "app", method: "GET", code: "200" }), ok, "one series per label set");

    const text = await registry.metrics();
    assert.match(text, /# TYPE rampart_requests_total counter/);
    assert.match(text, /# TYPE rampart_request_duration_seconds histogram/);
    assert.equal(sample(text, 'rampart_requests_total{route="app",method="GET",code="200"}'), 5);
    assert.equal(sample(text, 'rampart_requests_total{route="app",method="POST",code="502"}'), 1);
    const bucket = (le: string) => sample(text, `rampart_request_duration_seconds_bucket{le="${le}",route="app",method="GET",code="200"}`);
    assert.deepEqual(["0.01", "0.1", "1", "+Inf"].map(bucket), [1, 3, 4, 5]);
    assert.equal(sample(text, 'rampart_request_duration_seconds_count{route="app",method="GET",code="200"}'), 5);
    assert.ok(Math.abs(sample(text, 'rampart_request_duration_seconds_sum{route="app",method="GET",code="200"}')! - 5.605) < 1e-9);
  });

  test("the cluster primary's AggregatorRegistry adds two workers' series up", async () => {
    const workers = [new Registry(), new Registry()];
    workers.forEach((registry, index) => {
      const series = new SeriesHistogram(registry, DURATION, BOUNDS, TOTAL).create({ route: "app", method: "GET", code: "200" });
      for (let i = 0; i <= index; i++) series.observe(0.05);
    });
    const merged = AggregatorRegistry.aggregate(await Promise.all(workers.map((registry) => registry.getMetricsAsJSON())));
    const text = await merged.metrics();
    assert.equal(sample(text, 'rampart_requests_total{route="app",method="GET",code="200"}'), 3);
    assert.equal(sample(text, 'rampart_request_duration_seconds_bucket{le="0.1",route="app",method="GET",code="200"}'), 3);
    assert.equal(sample(text, 'rampart_request_duration_seconds_bucket{le="0.01",route="app",method="GET",code="200"}'), 0);
  });
});

// deploy/grafana/rampart.json imports into Grafana as it is: a current schema, a Prometheus data-source
// variable every panel uses (no data-source UID from someone's Grafana baked in), a multi-value route
// variable, panels laid out on the 24-column grid without overlapping, and the signals the issue asks
// for. That each query parses as PromQL is checked with promtool in
// test/unit/config/slo-promtool.test.ts; that the metrics exist, against a running gateway in
// test/unit/observability/monitoring-metrics.test.ts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { dashboardQueries, metricNames, root } from "../observability/monitoring-files.js";

interface Target {
  readonly expr: string;
  readonly refId: string;
  readonly datasource?: { readonly type: string; readonly uid: string };
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: { readonly h: number; readonly w: number; readonly x: number; readonly y: number };
  readonly datasource?: { readonly type: string; readonly uid: string };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Variable {
  readonly name: string;
  readonly type: string;
  readonly query: unknown;
  readonly datasource?: { readonly uid: string };
  readonly multi?: boolean;
  readonly includeAll?: boolean;
}

const dashboard = JSON.parse(readFileSync(join(root, "deploy/grafana/rampart.json"), "utf8")) as {
  uid: string;
  title: string;
  schemaVersion: number;
  id: number | null;
  panels: Panel[];
  templating: { list: Variable[] };
};
const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
const DATASOURCE = { type: "prometheus", uid: "${datasource}" };

describe("deploy/grafana/rampart.json", () => {
  test("a current schema, a stable uid, no instance-specific id", () => {
    assert.ok(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41, `schemaVersion ${dashboard.schemaVersion}`);
    assert.equal(dashboard.uid, "rampart");
    assert.equal(dashboard.title, "Rampart");
    assert.equal(dashboard.id, null);
  });

  test("a Prometheus data-source variable, used by every panel and query, and a multi-value route variable", () => {
    const [datasource, route] = ["datasource", "route"].map((name) => dashboard.templating.list.find((v) => v.name === name));
    assert.equal(datasource?.type, "datasource");
    assert.equal(datasource?.query, "prometheus");
    assert.equal(route?.type, "query");
    assert.equal(route?.datasource?.uid, "${datasource}");
    assert.match(JSON.stringify(route?.query), /label_values\(rampart_requests_total, route\)/);
    assert.ok(route?.multi && route.includeAll);
    for (const panel of panels.filter((p) => p.type !== "row")) {
      assert.deepEqual(panel.datasource, DATASOURCE, `panel "${panel.title}"`);
      assert.ok((panel.targets ?? []).length > 0, `panel "${panel.title}" has a query`);
      for (const target of panel.targets ?? []) assert.deepEqual(target.datasource, DATASOURCE, `panel "${panel.title}" ${target.refId}`);
    }
    // A multi-value variable expands to a|b: only a regex matcher takes it.
    for (const expr of dashboardQueries().filter((e) => e.includes("$route"))) assert.doesNotMatch(expr, /route="\$route"|route!?=\$route/, expr);
  });

  test("panel ids are unique and panels tile the 24-column grid without overlapping", () => {
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    const cells = new Map<string, string>();
    for (const panel of panels) {
      const { h, w, x, y } = panel.gridPos;
      assert.ok(w > 0 && h > 0 && x >= 0 && x + w <= 24, `panel "${panel.title}" fits the grid`);
      for (let row = y; row < y + h; row++) {
        for (let col = x; col < x + w; col++) {
          const other = cells.get(`${row},${col}`);
          assert.equal(other, undefined, `panels "${panel.title}" and "${other}" overlap`);
          cells.set(`${row},${col}`, panel.title);
        }
      }
    }
  });

  test("golden signals per route, upstreams, protection, certificates, store, reloads, workers, HTTP/2, releases", () => {
    const queries = dashboardQueries();
    const metrics = new Set(queries.flatMap(metricNames));
    for (const name of [
      "rampart_requests_total",
      "rampart_request_duration_seconds_bucket",
      "rampart_requests_in_flight",
      "rampart_upstream_healthy",
      "rampart_circuit_breaker_state",
      "rampart_bans_active",
      "rampart_bans_total",
      "rampart_ratelimit_rejections_total",
      "rampart_certificate_expiry_timestamp_seconds",
      "rampart_store_up",
      "rampart_config_reloads_total",
      "rampart_workers_ready",
      "rampart_http2_goaway_total",
      "rampart_route_split_weight",
      "rampart_rollout_state",
    ]) {
      assert.ok(metrics.has(name), `the dashboard shows ${name}`);
    }
    for (const quantile of ["0.5", "0.99"]) {
      assert.ok(
        queries.some((q) => q.startsWith(`histogram_quantile(${quantile}, sum by (route, le) (rate(rampart_request_duration_seconds_bucket{route=~"$route"}`)),
        `p${Number(quantile) * 100} latency per route`,
      );
    }
    assert.ok(queries.some((q) => /code=~"5\.\."/.test(q) && q.includes("sum by (route)")), "5xx ratio per route");
  });
});

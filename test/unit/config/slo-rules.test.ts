// `rampart rules` (src/config/slo-rules.ts): the structure of the Prometheus rule file it prints,
// the Workbook's burn-rate factors, the latency threshold's bucket, and the `slo` config key it reads.
// promtool's own verdicts on these files are in slo-promtool.test.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { ConfigError, loadConfigText } from "../../../src/config/load.js";
import type { Config } from "../../../src/config/schema.js";
import {
  BURN_RATE_WINDOWS,
  GATEWAY_THRESHOLDS,
  LATENCY_BUCKETS,
  burnRateFactor,
  gatewayAlertGroup,
  latencyBucket,
  prometheusRules,
  sloRuleGroups,
} from "../../../src/config/slo-rules.js";

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

const DAY = 86_400_000;

function config(routes: string): Config {
  return loadConfigText(`services:\n  app: { targets: [{ url: "http://127.0.0.1:3001" }] }\nroutes:\n${routes}`, "slo.yaml", {});
}

const THREE_ROUTES = config(`
  - name: api
    match: { pathPrefix: /api }
    service: app
    slo: { availability: 99.9, latency: { threshold: 300ms, objective: 99 }, window: 30d }
  - name: static
    match: { pathPrefix: /static }
    service: app
  - name: web
    service: app
    slo: { availability: 99.5 }
`);

function rulesOf(text: string): RuleFile {
  return parse(text) as RuleFile;
}

function alert(file: RuleFile, group: string, name: string): Rule {
  const found = file.groups.find((g) => g.name === group)?.rules.find((rule) => rule.alert === name);
  assert.ok(found, `${group} has alert ${name}`);
  return found;
}

describe("prometheusRules", () => {
  test("one group per route with an slo, in config order, then the gateway's own alerts", () => {
    const file = rulesOf(prometheusRules(THREE_ROUTES));
    assert.deepEqual(
      file.groups.map((g) => g.name),
      ["rampart-slo-api", "rampart-slo-web", "rampart-gateway"],
    );
    assert.deepEqual(rulesOf(prometheusRules(THREE_ROUTES, { gateway: false })).groups.map((g) => g.name), ["rampart-slo-api", "rampart-slo-web"]);
    assert.deepEqual(rulesOf(prometheusRules(THREE_ROUTES, { slo: false })).groups.map((g) => g.name), ["rampart-gateway"]);
    assert.deepEqual(rulesOf(prometheusRules(config("  - { name: plain, service: app }\n"))).groups.map((g) => g.name), ["rampart-gateway"]);
  });

  test("every rule is well formed: valid names, an expression, alerts with severity, summary and description", () => {
    const file = rulesOf(prometheusRules(THREE_ROUTES));
    for (const group of file.groups) {
      assert.ok(group.rules.length > 0, group.name);
      const alerts = new Set<string>();
      for (const rule of group.rules) {
        assert.ok((rule.record === undefined) !== (rule.alert === undefined), `${group.name}: exactly one of record and alert`);
        assert.ok(typeof rule.expr === "string" && rule.expr.length > 0);
        if (rule.record !== undefined) {
          assert.match(rule.record, /^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$/, "level:metric:operations");
        } else {
          assert.match(rule.alert!, /^Rampart[A-Za-z]+$/);
          assert.ok(!alerts.has(rule.alert!), `${rule.alert} once per group`);
          alerts.add(rule.alert!);
          assert.match(rule.labels?.severity ?? "", /^(critical|warning)$/, `${rule.alert} severity`);
          assert.ok(rule.annotations?.summary && rule.annotations.description, `${rule.alert} annotations`);
        }
      }
    }
  });

  test("an SLO route records its request rate and both SLIs over every alert window, for that route only", () => {
    const api = rulesOf(prometheusRules(THREE_ROUTES)).groups[0]!;
    const records = api.rules.filter((rule) => rule.record !== undefined);
    const names = records.map((rule) => rule.record);
    assert.ok(names.includes("route:rampart_requests:rate5m"));
    for (const window of ["5m", "30m", "1h", "6h", "3d"]) {
      assert.ok(names.includes(`route:rampart_requests_errors:ratio_rate${window}`), `error ratio over ${window}`);
      assert.ok(names.includes(`route:rampart_requests_slow:ratio_rate${window}`), `slow ratio over ${window}`);
    }
    for (const rule of records) {
      if (rule.record === "route:rampart_slo_objective:ratio") continue;
      assert.equal(rule.labels?.route, "api");
      for (const selector of rule.expr.match(/\{[^}]*\}/g) ?? []) assert.match(selector, /route="api"/, `${rule.record}: ${selector}`);
    }
    const errors = records.find((rule) => rule.record === "route:rampart_requests_errors:ratio_rate1h")!;
    // 5xx over every answer; `code` is what the client got, so Rampart's own 502/503/504 count too.
    assert.match(errors.expr, /rampart_requests_total\{route="api",code=~"5\.\."\}\[1h\]/);
    assert.match(errors.expr, /\/\s*sum by \(route\) \(rate\(rampart_requests_total\{route="api"\}\[1h\]\)\)/);
    const objectives = records.filter((rule) => rule.record === "route:rampart_slo_objective:ratio");
    assert.deepEqual(
      objectives.map((rule) => [rule.expr, rule.labels]),
      [
        ["vector(0.999)", { route: "api", slo: "availability" }],
        ["vector(0.99)", { route: "api", slo: "latency" }],
      ],
    );
  });

  test("the latency SLI reads the bucket at the threshold, rounded up to a histogram bound", () => {
    const api = rulesOf(prometheusRules(THREE_ROUTES)).groups[0]!;
    const slow = api.rules.find((rule) => rule.record === "route:rampart_requests_slow:ratio_rate5m")!;
    assert.match(slow.expr, /rampart_request_duration_seconds_bucket\{route="api",le="0\.5"\}\[5m\]/, "300ms is counted at 0.5s");
    assert.match(slow.expr, /rampart_request_duration_seconds_count\{route="api"\}\[5m\]/);
    assert.match(prometheusRules(THREE_ROUTES), /counted at 0\.5s \(rounded up to the histogram bucket le="0\.5"\)/, "the file says the threshold was rounded");

    const exact = rulesOf(prometheusRules(config("  - { name: r, service: app, slo: { latency: { threshold: 1s, objective: 95 } } }\n"), { gateway: false }));
    const exactSlow = exact.groups[0]!.rules.find((rule) => rule.record === "route:rampart_requests_slow:ratio_rate1h")!;
    // Prometheus 3 stores integer bounds as "1.0", Prometheus 2 as "1".
    assert.match(exactSlow.expr, /le=~"1\(\\\\\.0\)\?"/);
    assert.doesNotMatch(prometheusRules(config("  - { name: r, service: app, slo: { latency: { threshold: 1s, objective: 95 } } }\n")), /rounded up/);
  });

  test("latencyBucket picks the smallest bound at or above the threshold and refuses what no bucket measures", () => {
    assert.deepEqual(
      [1, 2, 5, 100, 250, 251, 300, 999, 1_000, 1_001, 7_000, 59_999, 60_000].map(latencyBucket),
      [0.001, 0.005, 0.005, 0.1, 0.25, 0.5, 0.5, 1, 1, 2.5, 10, 60, 60],
    );
    assert.throws(() => latencyBucket(60_001), /buckets end at 60s/);
    assert.throws(() => latencyBucket(0));
    assert.deepEqual([...LATENCY_BUCKETS].sort((a, b) => a - b), [...LATENCY_BUCKETS], "ascending");
  });

  test("burn-rate factors are the Workbook's for a 30d window: 14.4 over 1h and 5m, 6 over 6h and 30m, 1 over 3d and 6h", () => {
    assert.deepEqual(
      BURN_RATE_WINDOWS.map((w) => [w.long, w.short, burnRateFactor(w.budgetSpent, w.long, 30 * DAY), w.action]),
      [
        ["1h", "5m", 14.4, "page"],
        ["6h", "30m", 6, "page"],
        ["3d", "6h", 1, "ticket"],
      ],
    );
    // The same share of the budget for another SLO window.
    assert.deepEqual(
      BURN_RATE_WINDOWS.map((w) => burnRateFactor(w.budgetSpent, w.long, 7 * DAY)),
      [3.36, 1.4, 0.233333333333],
    );

    const file = rulesOf(prometheusRules(THREE_ROUTES));
    const expected: [string, string, string, string, string][] = [
      ["RampartAvailabilityFastBurn", "1h", "5m", "14.4 * 0.001", "critical"],
      ["RampartAvailabilitySlowBurn", "6h", "30m", "6 * 0.001", "critical"],
      ["RampartAvailabilityTicketBurn", "3d", "6h", "1 * 0.001", "warning"],
    ];
    for (const [name, long, short, threshold, severity] of expected) {
      const rule = alert(file, "rampart-slo-api", name);
      const escaped = threshold.replace(/[.*]/g, (c) => `\\${c}`);
      assert.match(rule.expr, new RegExp(`route:rampart_requests_errors:ratio_rate${long}\\{route="api"\\} > \\(${escaped}\\)\\s+and\\s+route:rampart_requests_errors:ratio_rate${short}\\{route="api"\\} > \\(${escaped}\\)`));
      assert.equal(rule.labels?.severity, severity);
      assert.equal(rule.labels?.route, "api");
      assert.equal(rule.labels?.slo, "availability");
    }
    assert.match(alert(file, "rampart-slo-api", "RampartLatencyFastBurn").expr, /route:rampart_requests_slow:ratio_rate1h\{route="api"\} > \(14\.4 \* 0\.01\)/);
    assert.match(alert(file, "rampart-slo-web", "RampartAvailabilitySlowBurn").expr, /ratio_rate6h\{route="web"\} > \(6 \* 0\.005\)/);

    const weekly = rulesOf(prometheusRules(config("  - { name: r, service: app, slo: { availability: 99, window: 7d } }\n")));
    assert.match(alert(weekly, "rampart-slo-r", "RampartAvailabilityFastBurn").expr, /> \(3\.36 \* 0\.01\)/);

    // 14.4 x 10% is more than every request: the file says that alert cannot fire.
    const loose = prometheusRules(config("  - { name: r, service: app, slo: { availability: 90 } }\n"));
    assert.match(loose, /# note: with this availability objective RampartAvailabilityFastBurn would need more than 100% bad requests/);
    assert.doesNotMatch(loose, /SlowBurn would need/);
  });

  test("a route's SLO parts are independent: availability only, latency only", () => {
    const web = rulesOf(prometheusRules(THREE_ROUTES)).groups[1]!;
    assert.equal(web.name, "rampart-slo-web");
    assert.ok(web.rules.every((rule) => !rule.record?.includes("slow") && !rule.alert?.includes("Latency")));
    assert.equal(web.rules.filter((rule) => rule.alert !== undefined).length, 3);

    const latencyOnly = sloRuleGroups(config("  - { name: r, service: app, slo: { latency: { threshold: 250ms, objective: 99.5 } } }\n"))[0]!;
    const alerts = latencyOnly.rules.flatMap((rule) => ("alert" in rule ? [rule.alert] : []));
    assert.deepEqual(alerts, ["RampartLatencyFastBurn", "RampartLatencySlowBurn", "RampartLatencyTicketBurn"]);
  });

  test("the gateway's own alerts watch certificates, ACME, targets, breakers, the store, reloads, bans, 5xx and the event loop", () => {
    const group = gatewayAlertGroup();
    const byName = new Map(group.rules.flatMap((rule) => ("alert" in rule ? [[rule.alert, rule] as const] : [])));
    const expect = (name: string, expr: RegExp, severity: string, hold?: string) => {
      const rule = byName.get(name);
      assert.ok(rule, name);
      assert.match(rule.expr, expr, name);
      assert.equal(rule.labels.severity, severity, name);
      assert.equal(rule.for, hold, `${name} for`);
    };
    expect("RampartCertificateExpiringSoon", /rampart_certificate_expiry_timestamp_seconds\) - time\(\) < 14 \* 86400/, "warning", "15m");
    expect("RampartCertificateExpiryCritical", /rampart_certificate_expiry_timestamp_seconds\) - time\(\) < 7 \* 86400/, "critical", "15m");
    expect("RampartAcmeOrderFailing", /increase\(rampart_acme_orders_total\{result="failure"\}\[1h\]\)\) > 0/, "warning");
    expect("RampartServiceNoHealthyTarget", /max without \(target\) \(rampart_upstream_healthy\) == 0/, "critical", "1m");
    expect("RampartCircuitBreakerOpen", /^rampart_circuit_breaker_state == 2$/, "warning", "5m");
    expect("RampartStoreDown", /^rampart_store_up == 0$/, "critical", "1m");
    expect("RampartConfigReloadFailed", /increase\(rampart_config_reloads_total\{result="failure"\}\[15m\]\)\) > 0/, "warning");
    expect("RampartBanSpike", new RegExp(`increase\\(rampart_bans_total\\[10m\\]\\)\\) > ${GATEWAY_THRESHOLDS.banSpike}`), "warning");
    expect("RampartRouteHighErrorRatio", /code=~"5\.\."[\s\S]*> 0\.05$/, "warning", "10m");
    expect("RampartEventLoopLag", /^rampart_event_loop_lag_seconds > 0\.5$/, "warning", "5m");
    assert.equal(byName.size, 10);
  });

  test("the header names the config file and the output is stable", () => {
    const text = prometheusRules(THREE_ROUTES, { source: "config/gateway.yaml" });
    assert.match(text.split("\n")[0]!, /^# Prometheus rules for Rampart, written by `rampart rules` from config\/gateway\.yaml/);
    assert.equal(prometheusRules(THREE_ROUTES, { source: "config/gateway.yaml" }), text);
    assert.ok(text.endsWith("\n"));
  });
});

describe("the slo config key", () => {
  const load = (slo: string) => config(`  - { name: r, service: app, slo: ${slo} }\n`);
  const problems = (slo: string) => {
    try {
      load(slo);
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.problems.map((p) => `${p.path}: ${p.message}`).join("\n");
    }
    return "";
  };

  test("window defaults to 30d, the latency threshold is a duration, parts are optional", () => {
    assert.deepEqual(load("{ availability: 99.9 }").routes[0]!.slo, { availability: 99.9, window: 30 * DAY });
    assert.deepEqual(load("{ latency: { threshold: 300ms, objective: 99 }, window: 7d }").routes[0]!.slo, {
      latency: { threshold: 300, objective: 99 },
      window: 7 * DAY,
    });
    assert.equal(config("  - { name: r, service: app }\n").routes[0]!.slo, undefined);
  });

  test("objectives are percentages strictly between 0 and 100, thresholds up to the largest bucket, no unknown keys", () => {
    assert.match(problems("{ availability: 100 }"), /routes\[0\]\.slo\.availability: a percentage above 0 and below 100/);
    assert.match(problems("{ availability: 0 }"), /slo\.availability/);
    assert.match(problems("{ latency: { threshold: 300ms, objective: 100 } }"), /slo\.latency\.objective/);
    assert.match(problems("{ latency: { threshold: 2m, objective: 99 } }"), /slo\.latency\.threshold: .*at most 60s/);
    assert.match(problems("{ latency: { threshold: 300, objective: 99 } }"), /slo\.latency\.threshold: expected a duration/);
    assert.match(problems("{ latency: { objective: 99 } }"), /slo\.latency\.threshold/);
    assert.match(problems("{ availabilty: 99.9 }"), /availabilty/);
    assert.match(problems("{ window: 30d }"), /an slo needs availability, latency or both/);
  });
});

// The rule files Rampart ships and generates, checked by Prometheus's own tool: `promtool check rules`
// (syntax, PromQL, duplicate rules), `promtool test rules` on deploy/prometheus/tests/*.yaml (synthetic
// series under which each alert fires, and others under which it does not), `promtool check config` on
// the example Prometheus config, and the Grafana dashboard's queries parsed as PromQL.
//
// promtool comes with Debian's `prometheus` package (CI installs it). Without it the promtool tests are
// skipped with that message; the test that the shipped files are current runs either way.
//
// After changing src/config/slo-rules.ts or deploy/config/gateway.yaml, rewrite the shipped rule
// files with: RAMPART_UPDATE_RULES=1 node --test dist/test/unit/config/slo-promtool.test.js
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { stringify } from "yaml";
import { loadConfigFile, loadConfigText } from "../../../src/config/load.js";
import { prometheusRules } from "../../../src/config/slo-rules.js";
import { dashboardQueries, root } from "../observability/monitoring-files.js";

const prometheusDir = join(root, "deploy/prometheus");
const ALERTS_FILE = join(prometheusDir, "rampart-alerts.yaml");
const SLO_EXAMPLE_FILE = join(prometheusDir, "rampart-slo.example.yaml");
const SLO_EXAMPLE_CONFIG = "deploy/config/gateway.yaml";

const promtoolFound = spawnSync("promtool", ["--version"], { encoding: "utf8" }).status === 0;
const skip = promtoolFound ? false : "promtool is not installed (Debian: apt-get install prometheus); CI installs it";

const scratch = mkdtempSync(join(tmpdir(), "rampart-promtool-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function promtool(...args: string[]): string {
  const run = spawnSync("promtool", args, { encoding: "utf8", cwd: root, timeout: 100_000 });
  const output = `${run.stdout}${run.stderr}`;
  assert.equal(run.status, 0, `promtool ${args.join(" ")} failed:\n${output}`);
  return output;
}

/** What the shipped files must hold, from the code and the example config as they are now. */
function expectedFiles(): [string, string][] {
  const exampleConfig = loadConfigFile(join(root, SLO_EXAMPLE_CONFIG), { RAMPART_ADMIN_TOKEN: "example" });
  return [
    [ALERTS_FILE, prometheusRules(loadConfigText("{}", "empty.yaml", {}), { slo: false })],
    [SLO_EXAMPLE_FILE, prometheusRules(exampleConfig, { gateway: false, source: SLO_EXAMPLE_CONFIG })],
  ];
}

describe("shipped Prometheus rules", () => {
  test("deploy/prometheus/ holds exactly what `rampart rules` writes now", () => {
    for (const [file, text] of expectedFiles()) {
      if (process.env.RAMPART_UPDATE_RULES === "1") writeFileSync(file, text);
      assert.equal(
        readFileSync(file, "utf8"),
        text,
        `${file} is out of date: RAMPART_UPDATE_RULES=1 node --test dist/test/unit/config/slo-promtool.test.js`,
      );
    }
  });

  test("promtool check rules accepts the shipped files", { skip }, () => {
    const output = promtool("check", "rules", ALERTS_FILE, SLO_EXAMPLE_FILE);
    assert.match(output, /SUCCESS: 10 rules found/);
  });

  test("promtool check rules accepts generated files for every kind of SLO", { skip }, () => {
    const config = loadConfigText(
      `services:
  app: { targets: [{ url: "http://127.0.0.1:3001" }] }
routes:
  - { name: both, match: { pathPrefix: /a }, service: app, slo: { availability: 99.95, latency: { threshold: 250ms, objective: 99.9 } } }
  - { name: availability.only, match: { pathPrefix: /b }, service: app, slo: { availability: 99, window: 7d } }
  - { name: latency-only, match: { pathPrefix: /c }, service: app, slo: { latency: { threshold: 2s, objective: 95 }, window: 28d } }
  - { name: rounded_up, match: { pathPrefix: /d }, service: app, slo: { latency: { threshold: 45s, objective: 90 } } }
  - { name: no-slo, service: app }
`,
      "generated.yaml",
      {},
    );
    const file = join(scratch, "generated.yaml");
    writeFileSync(file, prometheusRules(config));
    const output = promtool("check", "rules", file);
    // both: 1 + 5 + 1 + 3 + 5 + 1 + 3; availability.only and latency-only and rounded_up: 1 + 5 + 1 + 3 each; gateway: 10.
    assert.match(output, /SUCCESS: 59 rules found/);
  });

  test("promtool test rules: each alert fires on its synthetic series and stays quiet on healthy ones", { skip, timeout: 110_000 }, () => {
    const tests = readdirSync(join(prometheusDir, "tests"))
      .filter((name) => name.endsWith(".yaml"))
      .map((name) => join(prometheusDir, "tests", name));
    assert.ok(tests.length >= 2, "deploy/prometheus/tests/ has the gateway and SLO test files");
    const output = promtool("test", "rules", ...tests);
    assert.equal(output.match(/SUCCESS/g)?.length, tests.length, output);

    // Every alert of the shipped files is expected to fire somewhere in those tests.
    const shipped = [ALERTS_FILE, SLO_EXAMPLE_FILE].map((file) => readFileSync(file, "utf8")).join("\n");
    const alerts = new Set([...shipped.matchAll(/- alert: (\w+)/g)].map((match) => match[1]!));
    const testText = tests.map((file) => readFileSync(file, "utf8")).join("\n");
    for (const name of alerts) {
      const firing = new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels`);
      const quiet = new RegExp(`alertname: ${name}\\n(?!\\s+exp_alerts:\\n\\s+- )`);
      assert.match(testText, firing, `${name} fires in some test case`);
      assert.match(testText, quiet, `${name} is shown not to fire in some test case`);
    }
  });

  test("the latency SLI matches integer bucket bounds as Prometheus 2 (le=\"1\") and 3 (le=\"1.0\") store them", { skip }, () => {
    const config = loadConfigText(
      `services: { app: { targets: [{ url: "http://127.0.0.1:3001" }] } }\nroutes: [{ name: r, service: app, slo: { latency: { threshold: 1s, objective: 99 } } }]\n`,
      "one-second.yaml",
      {},
    );
    writeFileSync(join(scratch, "one-second.rules.yaml"), prometheusRules(config, { gateway: false }));
    const testCase = (le: string) => ({
      name: `le="${le}"`,
      interval: "1m",
      input_series: [
        { series: `rampart_request_duration_seconds_count{route="r",method="GET",code="200"}`, values: "0+100x20" },
        { series: `rampart_request_duration_seconds_bucket{route="r",method="GET",code="200",le="${le}"}`, values: "0+90x20" },
      ],
      promql_expr_test: [{ expr: `round(route:rampart_requests_slow:ratio_rate5m * 100)`, eval_time: "15m", exp_samples: [{ labels: `{route="r"}`, value: 10 }] }],
    });
    const file = join(scratch, "one-second.test.yaml");
    writeFileSync(file, stringify({ rule_files: ["one-second.rules.yaml"], evaluation_interval: "1m", tests: [testCase("1"), testCase("1.0")] }));
    promtool("test", "rules", file);
  });

  test("promtool check config accepts deploy/prometheus/prometheus.yaml and the rule files it names", { skip }, () => {
    const output = promtool("check", "config", join(prometheusDir, "prometheus.yaml"));
    assert.match(output, /SUCCESS: 2 rule files found/);
  });

  test("every query of the Grafana dashboard is valid PromQL", { skip }, () => {
    const queries = dashboardQueries();
    assert.ok(queries.length >= 30, `the dashboard has its queries (${queries.length})`);
    // Grafana's variables replaced by what Prometheus would receive, each query as a recording rule.
    const rules = queries.map((expr, index) => ({
      record: `dashboard:query_${index}:check`,
      expr: expr.replaceAll("$__rate_interval", "1m").replaceAll("$__range", "1h").replaceAll("$route", ".*"),
    }));
    assert.ok(rules.every((rule) => !rule.expr.includes("$")), "no Grafana variable is left");
    const file = join(scratch, "dashboard-queries.yaml");
    writeFileSync(file, stringify({ groups: [{ name: "dashboard", rules }] }));
    assert.match(promtool("check", "rules", file), new RegExp(`SUCCESS: ${rules.length} rules found`));
  });
});

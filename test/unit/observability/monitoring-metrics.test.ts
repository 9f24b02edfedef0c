// Every metric the shipped alert rules, the SLO rules and the Grafana dashboard read is one a running
// gateway exports: a renamed metric would otherwise leave an alert that can never fire and a panel that
// says "No data". The gateway here has a route with an SLO, a health-checked service with a breaker, a
// split with a rollout, a fault, a rate limit and a jail, and is driven through the events that create
// most series (traffic, a 429, a manual ban, a breaker opening, a retry, an HTTP/2 GOAWAY, a malformed
// request). The few series that need what a test process cannot give (an ACME server, the cluster
// primary) are listed below by name with the reason; nothing else may be missing.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { LATENCY_BUCKETS, prometheusRules } from "../../../src/config/slo-rules.js";
import { addBan } from "../../helpers/admin-api.js";
import { freePort, startBackend, type Backend } from "../../helpers/backend.js";
import { rawRequest, request } from "../../helpers/client.js";
import { startGateway, type TestGateway } from "../../helpers/gateway.js";
import { closedWithGoaway, h2Connect, h2Request } from "../../helpers/http2.js";
import { dashboardQueries, metricNames, root, ruleExpressions } from "./monitoring-files.js";

/** Declared by the gateway (# TYPE) but with no sample until something this test cannot cause. */
const DECLARED_WITHOUT_SAMPLES: Readonly<Record<string, string>> = {
  rampart_acme_orders_total: "counts ACME orders; its series start when tls.acme.enabled, which needs an ACME server (test/integration ACME tests run pebble)",
};

/** Exported by another process than the one a single-process gateway runs in. */
const OTHER_PROCESS: Readonly<Record<string, string>> = {
  rampart_workers_ready: "exported by the cluster primary only (workers > 1); test/helpers/cluster.ts starts one",
  rampart_worker_restarts_total: "exported by the cluster primary only (workers > 1); test/helpers/cluster.ts starts one",
};

interface Exposition {
  /** Names of the samples present (rampart_x_bucket, rampart_x_count, ...). */
  readonly samples: Set<string>;
  /** name → type from the # TYPE lines (histograms under their base name). */
  readonly types: Map<string, string>;
  readonly text: string;
}

function parseExposition(text: string): Exposition {
  const samples = new Set<string>();
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    else if (line !== "" && !line.startsWith("#")) samples.add(/^[A-Za-z_:][A-Za-z0-9_:]*/.exec(line)![0]);
  }
  return { samples, types, text };
}

function declared(exposition: Exposition, name: string): boolean {
  const base = name.replace(/_(bucket|count|sum)$/, "");
  return exposition.types.has(name) || (base !== name && exposition.types.get(base) === "histogram");
}

/** The metric names the shipped files read, each with where it is read. */
function usedNames(): { names: Map<string, string[]>; recorded: Set<string>; recordedUsed: Map<string, string[]> } {
  const readShipped = (file: string) => readFileSync(join(root, "deploy/prometheus", file), "utf8");
  const rules = ruleExpressions(readShipped("rampart-alerts.yaml"), readShipped("rampart-slo.example.yaml"));
  const names = new Map<string, string[]>();
  const recordedUsed = new Map<string, string[]>();
  const note = (where: string, expr: string) => {
    for (const name of metricNames(expr)) {
      const map = name.includes(":") ? recordedUsed : names;
      map.set(name, [...(map.get(name) ?? []), where]);
    }
  };
  for (const expr of rules.exprs) note("deploy/prometheus", expr);
  for (const expr of dashboardQueries()) note("deploy/grafana/rampart.json", expr);
  return { names, recorded: rules.recorded, recordedUsed };
}

describe("the monitoring files read only metrics a gateway exports", () => {
  let backend: Backend;
  let flaky: Backend;
  let gw: TestGateway;
  let exposition: Exposition;

  before(async () => {
    backend = await startBackend();
    flaky = await startBackend((_req, res) => res.writeHead(500, { "content-type": "text/plain" }).end("broken"));
    const dead = await freePort();
    gw = await startGateway({
      http2: { maxRequestsPerConnection: 1 },
      services: {
        app: { targets: [{ url: backend.url }], healthCheck: { path: "/health", interval: "1s" }, circuitBreaker: {}, retry: { attempts: 2 } },
        canary: { targets: [{ url: backend.url }] },
        flaky: { targets: [{ url: flaky.url }], circuitBreaker: { volumeThreshold: 1, errorThresholdPercentage: 1, resetTimeout: "1m" } },
        // Round robin over a port nobody listens on and a live backend: one of two requests retries.
        halfdead: { targets: [{ url: `http://127.0.0.1:${dead}` }, { url: backend.url }], retry: { attempts: 2 } },
      },
      rateLimits: { tight: { limit: 3, window: "1m" } },
      jails: { scanners: { when: { path: "^/\\.env" }, maxRetry: 1 } },
      routes: [
        { name: "app", match: { pathPrefix: "/" }, service: "app", rateLimit: "tight", slo: { availability: 99.9, latency: { threshold: "300ms", objective: 99 } } },
        {
          name: "web",
          match: { pathPrefix: "/web" },
          split: { services: { app: 90, canary: 10 } },
          rollout: { from: "app", to: "canary", interval: "1s", minRequests: 0 },
        },
        { name: "flaky", match: { pathPrefix: "/flaky" }, service: "flaky" },
        { name: "retry", match: { pathPrefix: "/retry" }, service: "halfdead" },
        { name: "chaos", match: { pathPrefix: "/chaos" }, service: "app", fault: { abort: { percent: 100, status: 503 } } },
      ],
    });
    const get = (path: string) => request({ port: gw.httpsPort, tls: true, path });
    for (let i = 0; i < 5; i++) await get("/"); // the last two are rate limited
    for (const path of ["/web", "/chaos", "/retry", "/retry", "/flaky", "/flaky", "/flaky"]) await get(path);
    await addBan(gw.adminPort, "192.0.2.7", "1h", "monitoring test");
    const session = await h2Connect(gw.httpsPort);
    await h2Request(session, { ":path": "/web" });
    await closedWithGoaway(session); // maxRequestsPerConnection: 1
    await rawRequest(gw.httpPort, "NOT HTTP\r\n\r\n", 1_000); // 400 from the parser

    // Rollout decisions come once per interval (1s).
    const deadline = Date.now() + 10_000;
    do {
      exposition = parseExposition((await request({ port: gw.adminPort, path: "/metrics" })).body);
      if (exposition.samples.has("rampart_rollout_decisions_total")) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    } while (Date.now() < deadline);
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
    await flaky?.close();
  });

  test("every metric name in the rules and the dashboard is exported (or listed above with its reason)", () => {
    const { names } = usedNames();
    assert.ok(names.size >= 30, `the files read ${names.size} metrics`);
    const missing: string[] = [];
    for (const [name, where] of names) {
      if (exposition.samples.has(name)) continue;
      if (name in DECLARED_WITHOUT_SAMPLES && declared(exposition, name)) continue;
      if (name in OTHER_PROCESS) continue;
      missing.push(`${name} (read by ${[...new Set(where)].join(", ")})${declared(exposition, name) ? " is declared but has no sample" : " is not exported"}`);
    }
    assert.deepEqual(missing, [], `metrics the monitoring files read but a running gateway does not export:\n${missing.join("\n")}`);
  });

  test("the exceptions are read by the files, declared where they should be, and still absent", () => {
    const { names } = usedNames();
    for (const name of [...Object.keys(DECLARED_WITHOUT_SAMPLES), ...Object.keys(OTHER_PROCESS)]) {
      assert.ok(names.has(name), `${name} is listed as an exception but no rule or panel reads it: drop it from the list`);
      assert.ok(!exposition.samples.has(name), `${name} is exported now: drop it from the exceptions`);
    }
    for (const name of Object.keys(DECLARED_WITHOUT_SAMPLES)) assert.ok(declared(exposition, name), `${name} is declared (# TYPE) by the gateway`);
  });

  test("every recorded series the rules and the dashboard read is defined by the rules", () => {
    const { recorded, recordedUsed } = usedNames();
    for (const [name, where] of recordedUsed) {
      assert.ok(recorded.has(name), `${name} (read by ${[...new Set(where)].join(", ")}) is no rule's record`);
    }
    assert.ok(recordedUsed.size > 0);
  });

  test("the latency buckets the SLO rules rely on are the ones the gateway exports", () => {
    const bounds = new Set([...exposition.text.matchAll(/^rampart_request_duration_seconds_bucket\{le="([^"]+)",route="app"/gm)].map((match) => match[1]!));
    assert.deepEqual([...bounds], [...LATENCY_BUCKETS.map(String), "+Inf"]);
  });

  test("rules generated from the running gateway's config read the same metrics", async () => {
    const { loadConfigFile } = await import("../../../src/config/load.js");
    const generated = ruleExpressions(prometheusRules(loadConfigFile(gw.configFile)));
    for (const name of generated.exprs.flatMap(metricNames)) {
      if (name.includes(":")) assert.ok(generated.recorded.has(name), name);
      else assert.ok(exposition.samples.has(name) || name in DECLARED_WITHOUT_SAMPLES, `${name} is exported`);
    }
  });
});

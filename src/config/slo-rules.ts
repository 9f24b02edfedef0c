// Prometheus rules from the configuration (DESIGN.md, "Contract, second round"; `rampart rules`): for every
// route with an `slo`, recording rules for its request rate and its SLIs and multi-window multi-burn-rate
// alerts (Google SRE Workbook, "Alerting on SLOs", ch. 5); plus the gateway's own alerts, which need no
// config and are shipped as deploy/prometheus/rampart-alerts.yaml. Pure: config in, YAML text out.
//
// The SLIs, over `rampart_requests_total{route,method,code}` and `rampart_request_duration_seconds`:
// - availability: the share of requests answered 5xx. `code` is the status the client received, so
//   Rampart's own answers (502 no healthy target or upstream refused, 503 breaker open or store closed,
//   504 upstream timeout) count with the upstream's 5xx: both spend the route's error budget. Every sum
//   below keeps only `route`, so an extra label (which instance, or who produced the answer) changes
//   nothing.
// - latency: the share of requests slower than the threshold, read from the histogram bucket at the
//   threshold. Only bucket bounds can be read, so a threshold between two bounds is rounded UP to the
//   next one (300ms is counted at le="0.5"): the SLI is then at most as strict as asked, never stricter,
//   and the rules file says so next to the group. Thresholds above the largest bound (60s) are refused.
import { Document, isMap, isSeq, type YAMLMap } from "yaml";
import type { Config, RouteConfig } from "./schema.js";

/**
 * Bucket bounds of rampart_request_duration_seconds, in seconds (metrics.ts, DURATION_BUCKETS; the test
 * test/unit/observability/monitoring-metrics.test.ts checks a running gateway exports exactly these).
 */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The Workbook's alert windows for a 30-day SLO: page when 2% of the budget burns within an hour (burn
 * rate 14.4) or 5% within six hours (6), open a ticket when 10% burns within three days (1). Each long
 * window is paired with a short one (1/12 of it) so an alert stops soon after the burning does.
 */
export const BURN_RATE_WINDOWS = [
  { name: "Fast", long: "1h", short: "5m", budgetSpent: 0.02, severity: "critical", action: "page" },
  { name: "Slow", long: "6h", short: "30m", budgetSpent: 0.05, severity: "critical", action: "page" },
  { name: "Ticket", long: "3d", short: "6h", budgetSpent: 0.1, severity: "warning", action: "ticket" },
] as const;

/** Every window an SLI is recorded over. */
export const SLI_WINDOWS = ["5m", "30m", "1h", "6h", "3d"] as const;

const HOUR_MS = 3_600_000;
const WINDOW_MS: Readonly<Record<string, number>> = { "5m": HOUR_MS / 12, "30m": HOUR_MS / 2, "1h": HOUR_MS, "6h": 6 * HOUR_MS, "3d": 72 * HOUR_MS };

/**
 * The burn rate at which `budgetSpent` of the budget of an SLO over `sloWindowMs` is gone within
 * `longWindow`: 14.4, 6 and 1 for the default 30d. Another SLO window scales them as the Workbook derives
 * them (7d: 3.36, 1.4, 0.23), so each alert still means the same share of the budget.
 */
export function burnRateFactor(budgetSpent: number, longWindow: string, sloWindowMs: number): number {
  const longMs = WINDOW_MS[longWindow];
  if (longMs === undefined) throw new Error(`unknown alert window ${longWindow}`);
  return round((budgetSpent * sloWindowMs) / longMs);
}

/** The bucket bound (seconds) a latency threshold is counted at: the smallest bound at or above it. */
export function latencyBucket(thresholdMs: number): number {
  const bound = LATENCY_BUCKETS.find((seconds) => seconds * 1_000 >= thresholdMs - 1e-9);
  if (bound === undefined || !(thresholdMs > 0)) {
    throw new Error(`a latency threshold of ${thresholdMs}ms cannot be measured: the histogram's buckets end at ${LATENCY_BUCKETS.at(-1)}s`);
  }
  return bound;
}

/** Thresholds of the gateway's own alerts (deploy/prometheus/rampart-alerts.yaml: tune them in your copy). */
export const GATEWAY_THRESHOLDS = {
  certificateWarningDays: 14,
  certificateCriticalDays: 7,
  /** Bans issued by one jail within 10 minutes, summed over the fleet. */
  banSpike: 50,
  /** Share of a route's requests answered 5xx, over 5 minutes, held for 10 minutes. */
  errorRatio: 0.05,
  /** rampart_event_loop_lag_seconds (p99 over 5 s), held for 5 minutes; /readyz fails at 2s by default. */
  eventLoopLagSeconds: 0.5,
} as const;

export interface RecordingRule {
  readonly record: string;
  readonly expr: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface AlertingRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly (RecordingRule | AlertingRule)[];
  /** Written as a YAML comment above the group. */
  readonly comment?: string;
}

export interface PrometheusRulesOptions {
  /** The rule groups of routes with an `slo` (default true). */
  readonly slo?: boolean;
  /** The gateway's own alerts, as in deploy/prometheus/rampart-alerts.yaml (default true). */
  readonly gateway?: boolean;
  /** The config file the rules come from, named in the file's header comment. */
  readonly source?: string;
}

/**
 * `rampart rules`: a Prometheus rule file (YAML text, `groups:`) with one group per route that declares an
 * `slo` (`rampart-slo-<route>`) followed by the gateway's own alerts (`rampart-gateway`). Either part can be
 * left out, e.g. `{ gateway: false }` when rampart-alerts.yaml is already loaded (loading both would
 * fire the gateway alerts twice).
 */
export function prometheusRules(config: Config, options: PrometheusRulesOptions = {}): string {
  const groups = [...(options.slo === false ? [] : sloRuleGroups(config)), ...(options.gateway === false ? [] : [gatewayAlertGroup()])];
  return renderRuleGroups(groups, options.source);
}

/** One group per route with an `slo`, in config order. */
export function sloRuleGroups(config: Pick<Config, "routes">): RuleGroup[] {
  return config.routes.flatMap((route) => (route.slo === undefined ? [] : [sloGroup(route.name, route.slo)]));
}

type Slo = NonNullable<RouteConfig["slo"]>;

// Recorded series: level:metric:operations (Prometheus naming practice). Each carries its route as a static
// label too, which the result has anyway: without it `promtool check rules` reports the same rule in every
// route's group as a duplicate.
export const RECORDED = {
  requestRate: "route:rampart_requests:rate5m",
  errorRatio: (window: string) => `route:rampart_requests_errors:ratio_rate${window}`,
  slowRatio: (window: string) => `route:rampart_requests_slow:ratio_rate${window}`,
  objective: "route:rampart_slo_objective:ratio",
} as const;

function sloGroup(route: string, slo: Slo): RuleGroup {
  const selector = `route="${route}"`;
  const window = formatDuration(slo.window);
  const rules: (RecordingRule | AlertingRule)[] = [
    { record: RECORDED.requestRate, expr: `sum by (route) (rate(rampart_requests_total{${selector}}[5m]))`, labels: { route } },
  ];
  const notes = [`route ${route}, SLO window ${window}:`];

  if (slo.availability !== undefined) {
    const budget = round((100 - slo.availability) / 100);
    notes.push(`availability ${slo.availability}% (error budget ${budget} of requests may be answered 5xx)`);
    for (const w of SLI_WINDOWS) {
      rules.push({
        record: RECORDED.errorRatio(w),
        expr: `sum by (route) (rate(rampart_requests_total{${selector},code=~"5.."}[${w}]))\n/\nsum by (route) (rate(rampart_requests_total{${selector}}[${w}]))`,
        labels: { route },
      });
    }
    rules.push({ record: RECORDED.objective, expr: `vector(${round(slo.availability / 100)})`, labels: { route, slo: "availability" } });
    rules.push(...burnAlerts(route, "availability", RECORDED.errorRatio, budget, slo.window, `answered 5xx`));
    notes.push(...unreachable("availability", budget, slo.window));
  }

  if (slo.latency !== undefined) {
    const bucket = latencyBucket(slo.latency.threshold);
    const threshold = formatDuration(slo.latency.threshold);
    const budget = round((100 - slo.latency.objective) / 100);
    const rounded = bucket * 1_000 === slo.latency.threshold ? "" : ` (rounded up to the histogram bucket le="${bucket}")`;
    notes.push(`latency ${slo.latency.objective}% of requests within ${threshold}, counted at ${bucket}s${rounded}`);
    const fast = `le=${leMatcher(bucket)}`;
    for (const w of SLI_WINDOWS) {
      rules.push({
        record: RECORDED.slowRatio(w),
        expr:
          `1 - (\n  sum by (route) (rate(rampart_request_duration_seconds_bucket{${selector},${fast}}[${w}]))\n  /\n` +
          `  sum by (route) (rate(rampart_request_duration_seconds_count{${selector}}[${w}]))\n)`,
        labels: { route },
      });
    }
    rules.push({ record: RECORDED.objective, expr: `vector(${round(slo.latency.objective / 100)})`, labels: { route, slo: "latency" } });
    rules.push(...burnAlerts(route, "latency", RECORDED.slowRatio, budget, slo.window, `slower than ${threshold}`));
    notes.push(...unreachable("latency", budget, slo.window));
  }

  return { name: `rampart-slo-${route}`, rules, comment: notes.join("\n") };
}

/** A low objective leaves a budget so large that a burn-rate threshold exceeds 100% of requests. */
function unreachable(slo: string, budget: number, windowMs: number): string[] {
  return BURN_RATE_WINDOWS.filter((w) => burnRateFactor(w.budgetSpent, w.long, windowMs) * budget >= 1).map(
    (w) => `note: with this ${slo} objective Rampart${slo === "availability" ? "Availability" : "Latency"}${w.name}Burn would need more than 100% bad requests and cannot fire`,
  );
}

function burnAlerts(route: string, slo: "availability" | "latency", series: (window: string) => string, budget: number, windowMs: number, bad: string): AlertingRule[] {
  const kind = slo === "availability" ? "Availability" : "Latency";
  return BURN_RATE_WINDOWS.map((w) => {
    const factor = burnRateFactor(w.budgetSpent, w.long, windowMs);
    const above = (window: string) => `${series(window)}{route="${route}"} > (${factor} * ${budget})`;
    return {
      alert: `Rampart${kind}${w.name}Burn`,
      expr: `${above(w.long)}\nand\n${above(w.short)}`,
      labels: { severity: w.severity, action: w.action, slo, route },
      annotations: {
        summary: `Route ${route} is burning its ${slo} error budget at over ${factor}x the sustainable rate`,
        description:
          `Over the last ${w.long} (and still over the last ${w.short}) {{ $value | humanizePercentage }} of route ${route}'s requests were ${bad}; ` +
          `at this rate ${Math.round(w.budgetSpent * 100)}% of the ${formatDuration(windowMs)} error budget (${budget}) is gone within ${w.long}.`,
      },
    };
  });
}

/** The gateway's own alerts: none depend on the config, so the same group is shipped as a file. */
export function gatewayAlertGroup(): RuleGroup {
  const t = GATEWAY_THRESHOLDS;
  const expiry = (days: number, severity: string, name: string): AlertingRule => ({
    alert: name,
    expr: `min by (domain) (rampart_certificate_expiry_timestamp_seconds) - time() < ${days} * 86400`,
    for: "15m",
    labels: { severity },
    annotations: {
      summary: `Certificate for {{ $labels.domain }} expires in less than ${days} days`,
      description: `The certificate Rampart serves for {{ $labels.domain }} expires in {{ $value | humanizeDuration }}. ACME renews tls.acme.renewBefore (30d) ahead: check rampart_acme_orders_total and GET /api/certificates; static certificates must be replaced by hand.`,
    },
  });
  const rules: AlertingRule[] = [
    expiry(t.certificateWarningDays, "warning", "RampartCertificateExpiringSoon"),
    expiry(t.certificateCriticalDays, "critical", "RampartCertificateExpiryCritical"),
    {
      alert: "RampartAcmeOrderFailing",
      expr: `sum without (result) (increase(rampart_acme_orders_total{result="failure"}[1h])) > 0`,
      labels: { severity: "warning" },
      annotations: {
        summary: "ACME orders are failing on {{ $labels.instance }}",
        description: "{{ $value | humanize }} ACME orders (issuance or renewal) failed in the last hour. The gateway log names the error; renewals keep retrying.",
      },
    },
    {
      alert: "RampartServiceNoHealthyTarget",
      expr: `max without (target) (rampart_upstream_healthy) == 0`,
      for: "1m",
      labels: { severity: "critical" },
      annotations: {
        summary: "Service {{ $labels.service }} has no healthy target on {{ $labels.instance }}",
        description: "Every target of service {{ $labels.service }} fails its health check: its routes answer 502/503. GET /api/upstreams shows each target's last error.",
      },
    },
    {
      alert: "RampartCircuitBreakerOpen",
      expr: `rampart_circuit_breaker_state == 2`,
      for: "5m",
      labels: { severity: "warning" },
      annotations: {
        summary: "Circuit breaker open for {{ $labels.service }} {{ $labels.target }}",
        description: "The breaker of target {{ $labels.target }} (service {{ $labels.service }}) has been open for 5 minutes: the target keeps failing the requests let through.",
      },
    },
    {
      alert: "RampartStoreDown",
      expr: `rampart_store_up == 0`,
      for: "1m",
      labels: { severity: "critical" },
      annotations: {
        summary: "Rampart cannot reach its {{ $labels.kind }} store on {{ $labels.instance }}",
        description: "Shared state (rate-limit counters, bans, certificates) is unavailable: with onStoreFailure: open the instance limits per process, with closed it answers 503.",
      },
    },
    {
      alert: "RampartConfigReloadFailed",
      expr: `sum without (result) (increase(rampart_config_reloads_total{result="failure"}[15m])) > 0`,
      labels: { severity: "warning" },
      annotations: {
        summary: "A configuration reload failed on {{ $labels.instance }}",
        description: "The new config file was refused and the previous one is still in force. `rampart validate` lists the problems.",
      },
    },
    {
      alert: "RampartBanSpike",
      expr: `sum by (jail) (increase(rampart_bans_total[10m])) > ${t.banSpike}`,
      labels: { severity: "warning" },
      annotations: {
        summary: "Jail {{ $labels.jail }} banned {{ $value | humanize }} clients in 10 minutes",
        description: `More than ${t.banSpike} bans within 10 minutes: an attack, or a jail catching legitimate clients (a shared NAT, a broken client release). GET /api/bans lists them.`,
      },
    },
    {
      alert: "RampartRouteHighErrorRatio",
      expr: `sum by (route) (rate(rampart_requests_total{code=~"5.."}[5m]))\n/\nsum by (route) (rate(rampart_requests_total[5m]))\n> ${t.errorRatio}`,
      for: "10m",
      labels: { severity: "warning" },
      annotations: {
        summary: "Route {{ $labels.route }} answers {{ $value | humanizePercentage }} of its requests with 5xx",
        description: `More than ${t.errorRatio * 100}% of route {{ $labels.route }}'s requests were answered 5xx for 10 minutes (upstream errors and Rampart's own 502/503/504).`,
      },
    },
    {
      alert: "RampartEventLoopLag",
      expr: `rampart_event_loop_lag_seconds > ${t.eventLoopLagSeconds}`,
      for: "5m",
      labels: { severity: "warning" },
      annotations: {
        summary: "Rampart's event loop lags {{ $value | humanizeDuration }} on {{ $labels.instance }}",
        description: "Every request waits this long before it is handled: the process is CPU-bound (add workers or instances). /readyz fails above readiness.eventLoopLag.",
      },
    },
  ];
  return { name: "rampart-gateway", rules, comment: "The gateway's own alerts (no config needed)." };
}

/** A rule file: `groups:` with each group's comment above it. */
export function renderRuleGroups(groups: readonly RuleGroup[], source?: string): string {
  const plain = groups.map(({ name, rules }) => ({ name, rules: rules.map((rule) => ({ ...rule })) }));
  const doc = new Document({ groups: plain });
  const from = source === undefined ? "" : ` from ${source}`;
  doc.commentBefore = ` Prometheus rules for Rampart, written by \`rampart rules\`${from} (src/config/slo-rules.ts).`;
  const seq = isMap(doc.contents) ? doc.contents.get("groups", true) : undefined;
  if (isSeq(seq)) {
    seq.items.forEach((item, index) => {
      const comment = groups[index]?.comment;
      if (comment !== undefined && isMap(item)) (item as YAMLMap).commentBefore = comment.split("\n").map((line) => ` ${line}`).join("\n");
    });
  }
  return doc.toString({ lineWidth: 0, blockQuote: "literal" });
}

/** `le` as Prometheus stores it: 2.x keeps the exposition text ("1"), 3.x normalises integers ("1.0"). */
function leMatcher(bound: number): string {
  return Number.isInteger(bound) ? `~"${bound}(\\\\.0)?"` : `"${bound}"`;
}

const UNITS: readonly [string, number][] = [
  ["d", 24 * HOUR_MS],
  ["h", HOUR_MS],
  ["m", 60_000],
  ["s", 1_000],
  ["ms", 1],
];

function formatDuration(ms: number): string {
  for (const [unit, size] of UNITS) if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** Decimal noise out: (100 - 99.9) / 100 is 0.0009999999999999432 in binary floating point. */
function round(value: number): number {
  return Number(value.toPrecision(12));
}

// GET /api/status: everything the status page (GET /) shows, in one JSON document. Read from the running
// gateway (routes, services and targets, bans, certificates, rollouts, config history) and from its
// metrics registry (request counts and latency per route and target, rate-limit rejections, bans issued,
// store up). "Recent" figures are per-second rates over the last RECENT_WINDOW_MS, computed from counter
// samples taken when the status is asked for: nothing runs while nobody looks.
// With workers, every worker answers for itself and the primary merges the answers (fleetStatus).
import type { Registry } from "prom-client";
import type { Config } from "../config/schema.js";
import type { BanManager } from "../guards/bans.js";
import type { RolloutManager } from "../routing/rollout-manager.js";
import type { RolloutRecord } from "../state/rollout-store.js";
import type { CertificateInfo, CertificateResolver } from "../tls/certificate-resolver.js";
import type { Service } from "../upstream/service.js";
import type { ConfigStatus } from "./config-history.js";
import type { AdminReply } from "./admin-server.js";
import { mergeTls, tlsErrorsOf, type TargetTlsErrors } from "./upstreams-view.js";

/** Per-second rates over the report's recent window; null until a second sample exists. */
export interface Recent {
  readonly requestsPerSecond: number;
  /** 5xx answers per second (routes), upstream errors per second (targets, when counted). */
  readonly errorsPerSecond: number | null;
  readonly meanLatencyMs: number | null;
}

export interface RouteStatus {
  readonly name: string;
  readonly host: string | null;
  readonly pathPrefix: string;
  readonly methods: readonly string[] | null;
  /** The route's one service, or null for a split. */
  readonly service: string | null;
  /** The status a route with `respond` answers with by itself (no service). */
  readonly respond: number | null;
  /** A split's sides with their live weights (a rollout moves them) and the config's. */
  readonly split: readonly { readonly service: string; readonly weight: number; readonly configured: number }[] | null;
  readonly sticky: string | null;
  readonly rollout: RolloutRecord | null;
  readonly rateLimit: string | null;
  readonly jails: readonly string[];
  readonly faults: boolean;
  readonly inFlight: number;
  readonly requestsTotal: number;
  readonly recent: Recent | null;
}

export interface TargetStatus {
  readonly target: string;
  readonly url: string;
  readonly weight: number;
  readonly healthy: boolean;
  readonly breaker: "closed" | "half-open" | "open";
  readonly inFlight: number;
  readonly lastError: string | null;
  /** TLS failures towards the target, from requests and health probes (services with `tls`, https targets). */
  readonly tls: TargetTlsErrors;
  readonly recent: Recent | null;
  /** With workers: how many reported this target and how many of them see it healthy. */
  readonly workers?: { readonly reporting: number; readonly healthy: number };
}

export interface ServiceStatus {
  readonly name: string;
  readonly protocol: string;
  readonly balancer: string;
  /** Active health checks: an HTTP GET of `path`, or the gRPC health protocol; null when off. */
  readonly healthCheck: { readonly kind: "http" | "grpc"; readonly path: string | null; readonly intervalMs: number } | null;
  readonly circuitBreaker: boolean;
  readonly targets: readonly TargetStatus[];
}

export interface BanRow {
  readonly ip: string;
  readonly jail: string;
  readonly until: string;
  readonly reason: string;
}

export interface WorkerStatus {
  readonly index: number;
  readonly pid: number | null;
  readonly state: "ready" | "starting" | "down" | "given-up";
  /** Crashes within the primary's crash-loop window (the last minute). */
  readonly recentCrashes: number;
}

export interface StatusReport {
  readonly generatedAt: string;
  /** version: from rampart_build_info (null when the registry has none). */
  readonly instance: { readonly pid: number; readonly worker: number | null; readonly uptimeSeconds: number; readonly node: string; readonly version: string | null };
  /** How many seconds the `recent` rates cover (0: no earlier sample yet, every `recent` is null). */
  readonly recentWindowSeconds: number;
  readonly config: ConfigStatus;
  readonly routes: readonly RouteStatus[];
  readonly services: readonly ServiceStatus[];
  /** The newest MAX_LISTED_BANS bans, newest first; `active` counts them all. */
  readonly bans: { readonly active: number; readonly truncated: boolean; readonly list: readonly BanRow[] };
  readonly certificates: readonly CertificateInfo[];
  readonly rateLimits: readonly {
    readonly policy: string;
    readonly route: string;
    readonly limit: number | null;
    readonly windowMs: number | null;
    readonly key: string | null;
    readonly rejectionsTotal: number;
    readonly rejectionsPerSecond: number | null;
  }[];
  readonly jails: readonly {
    readonly name: string;
    /** Null for "manual" (the admin API), which is no configured jail. */
    readonly maxRetry: number | null;
    readonly findTimeMs: number | null;
    readonly banTimeMs: number | null;
    readonly bansTotal: number;
    readonly bansPerSecond: number | null;
  }[];
  readonly store: { readonly kind: string; readonly up: boolean | null; readonly onStoreFailure: string };
  /** Null without a cluster primary (one process serves everything). */
  readonly workers: readonly WorkerStatus[] | null;
}

/** What the status reads; the Gateway has all of it (AdminSubject in admin-api.ts extends this). */
export interface StatusSubject {
  readonly generation: { readonly services: ReadonlyMap<string, Service>; readonly config: Config };
  readonly certificates: Pick<CertificateResolver, "list">;
  readonly bans: BanManager;
  readonly rollouts: Pick<RolloutManager, "list">;
  readonly metrics: { readonly registry: Registry };
  readonly configHistory: { status(): ConfigStatus };
}

export const RECENT_WINDOW_MS = 10_000;
/** Samples closer together than this are not kept (several tabs polling add nothing). */
const SAMPLE_SPACING_MS = 500;
export const MAX_LISTED_BANS = 200;

type Counters = Map<string, number>;
interface Sample {
  readonly at: number;
  readonly counters: Counters;
}
interface MetricValue {
  readonly labels: Readonly<Record<string, string | number | undefined>>;
  readonly value: number;
  readonly metricName?: string;
}

/** The GET /api/status handler for one gateway, with its own counter samples. */
export function statusHandler(subject: StatusSubject): () => Promise<AdminReply> {
  const samples: Sample[] = [];
  return async () => {
    const now = Date.now();
    const read = await readMetrics(subject.metrics.registry);
    // The oldest sample within the window is the base the rates are measured from.
    while (samples.length > 0 && samples[0]!.at < now - RECENT_WINDOW_MS) samples.shift();
    const base = samples[0];
    if (samples.length === 0 || now - samples[samples.length - 1]!.at >= SAMPLE_SPACING_MS) samples.push({ at: now, counters: read.counters });
    const windowMs = base === undefined ? 0 : now - base.at;
    const rate = (key: string): number | null => {
      if (base === undefined || windowMs <= 0) return null;
      // A series not there yet has counted nothing.
      const current = read.counters.get(key) ?? 0;
      // A series that restarted (a target removed and added back) counts from 0.
      const delta = current - (base.counters.get(key) ?? 0);
      return (delta >= 0 ? delta : current) / (windowMs / 1000);
    };
    return { status: 200, body: buildReport(subject, read, rate, windowMs, now) };
  };
}

/** `errorsCounted`: false for targets while the registry has no rampart_upstream_errors_total. */
function recentOf(rate: (key: string) => number | null, prefix: string, errorsCounted: boolean): Recent | null {
  const requests = rate(`${prefix}:n`);
  if (requests === null) return null;
  const seconds = rate(`${prefix}:s`);
  return {
    requestsPerSecond: round(requests),
    errorsPerSecond: errorsCounted ? nullableRound(rate(`${prefix}:e`)) : null,
    meanLatencyMs: requests > 0 && seconds !== null ? round((seconds / requests) * 1000) : null,
  };
}

function buildReport(subject: StatusSubject, read: MetricsRead, rate: (key: string) => number | null, windowMs: number, now: number): StatusReport {
  const config = subject.generation.config;
  const rollouts = new Map(subject.rollouts.list().map((record) => [record.route, record]));
  const routes = config.routes.map((route): RouteStatus => {
    const live = read.splitWeights.get(route.name);
    const split = route.split === undefined ? null : Object.entries(route.split.services).map(([service, configured]) => ({ service, weight: live?.get(service) ?? configured, configured }));
    return {
      name: route.name,
      host: route.match.host ?? null,
      pathPrefix: route.match.pathPrefix,
      methods: route.match.methods ?? null,
      service: route.service ?? null,
      respond: route.respond?.status ?? null,
      split,
      sticky: route.split?.sticky ?? null,
      rollout: rollouts.get(route.name) ?? null,
      rateLimit: route.rateLimit ?? null,
      jails: route.jails ?? [],
      faults: route.fault !== undefined,
      inFlight: read.inFlight.get(route.name) ?? 0,
      requestsTotal: read.counters.get(routeKey(route.name) + ":n") ?? 0,
      recent: recentOf(rate, routeKey(route.name), true),
    };
  });
  const services = [...subject.generation.services.values()].map((service): ServiceStatus => {
    const check = service.config.healthCheck;
    return {
      name: service.name,
      protocol: service.config.protocol ?? "http1",
      balancer: service.config.balancer,
      healthCheck: check === undefined ? null : check.grpc === true ? { kind: "grpc", path: null, intervalMs: check.interval } : { kind: "http", path: check.path, intervalMs: check.interval },
      circuitBreaker: service.config.circuitBreaker !== undefined,
      targets: service.targets.map((target) => ({
        target: target.key,
        url: target.url.origin,
        weight: target.weight,
        healthy: target.healthy,
        breaker: target.breakerState,
        inFlight: target.inFlight,
        lastError: target.lastError ?? null,
        tls: tlsErrorsOf(target),
        recent: recentOf(rate, targetKey(service.name, target.key), read.upstreamErrorsCounted),
      })),
    };
  });
  const bans = subject.bans.list.list(now);
  const newest = bans.slice(-MAX_LISTED_BANS).reverse();
  const policyRoutes = config.routes.flatMap((route) => (route.rateLimit === undefined ? [] : [[route.rateLimit, route.name] as const]));
  const rejectionKeys = new Map(policyRoutes.map(([policy, route]) => [limitKey(policy, route), [policy, route] as const]));
  for (const [key, labels] of read.rejectionLabels) rejectionKeys.set(key, labels);
  const jailNames = new Set([...Object.keys(config.jails), ...read.jailNames]);
  return {
    generatedAt: new Date(now).toISOString(),
    instance: { pid: process.pid, worker: workerIndex(), uptimeSeconds: Math.round(process.uptime()), node: process.version, version: read.version },
    recentWindowSeconds: round(windowMs / 1000),
    config: subject.configHistory.status(),
    routes,
    services,
    bans: {
      active: bans.length,
      truncated: bans.length > newest.length,
      list: newest.map((ban) => ({ ip: ban.ip, jail: ban.jail, until: new Date(ban.until).toISOString(), reason: ban.reason })),
    },
    certificates: subject.certificates.list(),
    rateLimits: [...rejectionKeys].map(([key, [policy, route]]) => {
      const policyConfig = config.rateLimits[policy];
      return {
        policy,
        route,
        limit: policyConfig?.limit ?? null,
        windowMs: policyConfig?.window ?? null,
        key: policyConfig?.key ?? null,
        rejectionsTotal: read.counters.get(key) ?? 0,
        rejectionsPerSecond: nullableRound(rate(key)),
      };
    }),
    jails: [...jailNames].map((name) => {
      const jail = Object.hasOwn(config.jails, name) ? config.jails[name] : undefined;
      return {
        name,
        maxRetry: jail?.maxRetry ?? null,
        findTimeMs: jail?.findTime ?? null,
        banTimeMs: jail?.banTime ?? null,
        bansTotal: read.counters.get(jailKey(name)) ?? 0,
        bansPerSecond: nullableRound(rate(jailKey(name))),
      };
    }),
    store: { kind: config.store.kind, up: read.storeUp, onStoreFailure: config.store.onStoreFailure },
    workers: null,
  };
}

function workerIndex(): number | null {
  const index = Number.parseInt(process.env.RAMPART_WORKER ?? "", 10);
  return Number.isInteger(index) ? index : null;
}

const routeKey = (route: string) => `route\u0000${route}`;
const targetKey = (service: string, target: string) => `target\u0000${service}\u0000${target}`;
const limitKey = (policy: string, route: string) => `limit\u0000${policy}\u0000${route}`;
const jailKey = (jail: string) => `jail\u0000${jail}`;

interface MetricsRead {
  /** Counter values keyed by routeKey/targetKey + ":n" (count), ":s" (seconds), ":e" (errors), limitKey, jailKey. */
  readonly counters: Counters;
  readonly inFlight: Map<string, number>;
  readonly splitWeights: Map<string, Map<string, number>>;
  readonly rejectionLabels: Map<string, readonly [string, string]>;
  readonly jailNames: string[];
  readonly storeUp: boolean | null;
  readonly version: string | null;
  readonly upstreamErrorsCounted: boolean;
}

async function values(registry: Registry, name: string): Promise<readonly MetricValue[]> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return [];
  return (await metric.get()).values as readonly MetricValue[];
}

const label = (value: MetricValue, name: string) => String(value.labels[name] ?? "");

async function readMetrics(registry: Registry): Promise<MetricsRead> {
  const [requests, durations, inFlightValues, upstream, upstreamErrors, splits, rejections, bansIssued, store, build] = await Promise.all([
    values(registry, "rampart_requests_total"),
    values(registry, "rampart_request_duration_seconds"),
    values(registry, "rampart_requests_in_flight"),
    values(registry, "rampart_upstream_request_duration_seconds"),
    values(registry, "rampart_upstream_errors_total"),
    values(registry, "rampart_route_split_weight"),
    values(registry, "rampart_ratelimit_rejections_total"),
    values(registry, "rampart_bans_total"),
    values(registry, "rampart_store_up"),
    values(registry, "rampart_build_info"),
  ]);
  const counters: Counters = new Map();
  const add = (key: string, value: number) => counters.set(key, (counters.get(key) ?? 0) + value);
  for (const value of requests) {
    const key = routeKey(label(value, "route"));
    add(`${key}:n`, value.value);
    add(`${key}:e`, Number(label(value, "code")) >= 500 ? value.value : 0);
  }
  for (const value of durations) if (value.metricName?.endsWith("_sum") === true) add(`${routeKey(label(value, "route"))}:s`, value.value);
  for (const value of upstream) {
    const key = targetKey(label(value, "service"), label(value, "target"));
    if (value.metricName?.endsWith("_sum") === true) add(`${key}:s`, value.value);
    else if (value.metricName?.endsWith("_count") === true) add(`${key}:n`, value.value);
  }
  // Counted per target and kind once the gateway exports it; without it targets have no error rate.
  for (const value of upstreamErrors) add(`${targetKey(label(value, "service"), label(value, "target"))}:e`, value.value);
  const rejectionLabels = new Map<string, readonly [string, string]>();
  for (const value of rejections) {
    const key = limitKey(label(value, "policy"), label(value, "route"));
    rejectionLabels.set(key, [label(value, "policy"), label(value, "route")]);
    add(key, value.value);
  }
  const jailNames: string[] = [];
  for (const value of bansIssued) {
    jailNames.push(label(value, "jail"));
    add(jailKey(label(value, "jail")), value.value);
  }
  const splitWeights = new Map<string, Map<string, number>>();
  for (const value of splits) {
    const route = label(value, "route");
    const sides = splitWeights.get(route) ?? new Map<string, number>();
    sides.set(label(value, "service"), value.value);
    splitWeights.set(route, sides);
  }
  return {
    counters,
    inFlight: new Map(inFlightValues.map((value) => [label(value, "route"), value.value])),
    splitWeights,
    rejectionLabels,
    jailNames,
    storeUp: store.length === 0 ? null : store.every((value) => value.value === 1),
    version: build[0] === undefined ? null : label(build[0], "version"),
    upstreamErrorsCounted: registry.getSingleMetric("rampart_upstream_errors_total") !== undefined,
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function nullableRound(value: number | null): number | null {
  return value === null ? null : round(value);
}

// ---- With workers: the primary merges every worker's report. ----

/** What only the primary knows: itself, its workers and the reloads it ran. */
export interface PrimaryView {
  readonly pid: number;
  readonly uptimeSeconds: number;
  readonly config: ConfigStatus;
  readonly workers: readonly WorkerStatus[];
}

/** Each worker's GET /api/status answer, waited for at most `timeoutMs` (a stuck worker is left out). */
export async function fleetStatus(answers: readonly Promise<AdminReply>[], primary: PrimaryView, timeoutMs = 2_000): Promise<AdminReply> {
  const settled = await Promise.all(
    answers.map((answer) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, timeoutMs, undefined)));
      return Promise.race([answer.catch(() => undefined), late]).finally(() => clearTimeout(timer));
    }),
  );
  const reports = settled.flatMap((reply) => (reply !== undefined && reply.status === 200 ? [reply.body as StatusReport] : []));
  if (reports.length === 0) return { status: 503, body: { error: "no_worker_ready" } };
  return { status: 200, body: mergeStatusReports(reports, primary) };
}

const SEVERITY = { closed: 0, "half-open": 1, open: 2 } as const;

/**
 * One report for the fleet: per-target health as the upstreams view reads it (healthy only if every
 * worker sees it healthy, the worst breaker, in-flight summed), rates and counts summed; what is shared
 * (bans, certificates, rollouts) from the first worker; config and workers from the primary.
 */
export function mergeStatusReports(reports: readonly StatusReport[], primary: PrimaryView): StatusReport {
  const first = reports[0]!;
  const routes = first.routes.map((route) => {
    const same = reports.map((report) => report.routes.find((each) => each.name === route.name)).filter((each) => each !== undefined);
    return {
      ...route,
      inFlight: sum(same.map((each) => each.inFlight)),
      requestsTotal: sum(same.map((each) => each.requestsTotal)),
      recent: mergeRecent(same.map((each) => each.recent)),
    };
  });
  const services = first.services.map((service) => ({
    ...service,
    targets: service.targets.map((target): TargetStatus => {
      const same = reports
        .map((report) => report.services.find((each) => each.name === service.name)?.targets.find((each) => each.target === target.target))
        .filter((each) => each !== undefined);
      return {
        ...target,
        healthy: same.every((each) => each.healthy),
        breaker: same.reduce<TargetStatus["breaker"]>((worst, each) => (SEVERITY[each.breaker] > SEVERITY[worst] ? each.breaker : worst), "closed"),
        inFlight: sum(same.map((each) => each.inFlight)),
        lastError: same.find((each) => each.lastError !== null)?.lastError ?? null,
        tls: same.map((each) => each.tls).reduce(mergeTls),
        recent: mergeRecent(same.map((each) => each.recent)),
        workers: { reporting: same.length, healthy: same.filter((each) => each.healthy).length },
      };
    }),
  }));
  const sumBy = <T>(pick: (report: StatusReport) => readonly T[], key: (row: T) => string, total: (row: T) => number, perSecond: (row: T) => number | null) => {
    const totals = new Map<string, { total: number; perSecond: number | null }>();
    for (const report of reports) {
      for (const row of pick(report)) {
        const seen = totals.get(key(row)) ?? { total: 0, perSecond: null };
        const rate = perSecond(row);
        totals.set(key(row), { total: seen.total + total(row), perSecond: rate === null ? seen.perSecond : round((seen.perSecond ?? 0) + rate) });
      }
    }
    return totals;
  };
  const rejections = sumBy((report) => report.rateLimits, (row) => `${row.policy}\u0000${row.route}`, (row) => row.rejectionsTotal, (row) => row.rejectionsPerSecond);
  const bansIssued = sumBy((report) => report.jails, (row) => row.name, (row) => row.bansTotal, (row) => row.bansPerSecond);
  const ups = reports.map((report) => report.store.up).filter((up) => up !== null);
  return {
    ...first,
    instance: { ...first.instance, pid: primary.pid, worker: null, uptimeSeconds: primary.uptimeSeconds },
    recentWindowSeconds: Math.max(...reports.map((report) => report.recentWindowSeconds)),
    config: primary.config,
    routes,
    services,
    rateLimits: first.rateLimits.map((row) => {
      const merged = rejections.get(`${row.policy}\u0000${row.route}`);
      return { ...row, rejectionsTotal: merged?.total ?? 0, rejectionsPerSecond: merged?.perSecond ?? null };
    }),
    jails: first.jails.map((row) => {
      const merged = bansIssued.get(row.name);
      return { ...row, bansTotal: merged?.total ?? 0, bansPerSecond: merged?.perSecond ?? null };
    }),
    store: { ...first.store, up: ups.length === 0 ? null : ups.every((up) => up) },
    workers: primary.workers,
  };
}

function mergeRecent(recents: readonly (Recent | null)[]): Recent | null {
  const known = recents.filter((recent) => recent !== null);
  if (known.length === 0) return null;
  const requests = sum(known.map((recent) => recent.requestsPerSecond));
  const errors = known.some((recent) => recent.errorsPerSecond !== null) ? sum(known.map((recent) => recent.errorsPerSecond ?? 0)) : null;
  // Mean latency weighted by each worker's request rate.
  const weighted = known.filter((recent) => recent.meanLatencyMs !== null && recent.requestsPerSecond > 0);
  const weight = sum(weighted.map((recent) => recent.requestsPerSecond));
  return {
    requestsPerSecond: round(requests),
    errorsPerSecond: errors === null ? null : round(errors),
    meanLatencyMs: weight > 0 ? round(sum(weighted.map((recent) => recent.meanLatencyMs! * recent.requestsPerSecond)) / weight) : null,
  };
}

function sum(numbers: readonly number[]): number {
  return numbers.reduce((total, value) => total + value, 0);
}

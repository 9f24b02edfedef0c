// The contract's metrics (DESIGN.md, "Metrics"), one registry per gateway so tests can run several
// gateways in one process. What every request touches (its duration and count, the upstream duration,
// requests in flight) is counted in plain numbers and read at scrape (series-histogram.ts); the rest
// are prom-client's own metrics. Labels stay bounded: route names, known methods, status codes; never a
// raw path or an IP.
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { SeriesHistogram, type Series } from "./series-histogram.js";

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"]);

/** Methods outside the standard set are folded into one label value, so a client cannot mint series. */
export function methodLabel(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : "OTHER";
}

export class GatewayMetrics {
  readonly registry = new Registry();

  /** Where rampart_upstream_sockets reads the pools from at scrape. */
  trackPools(pools: () => Iterable<{ readonly name: string; readonly inUse: number; readonly idle: number }>): void {
    this.#pools = pools;
  }

  /** Where rampart_route_split_weight reads the weights from at scrape. */
  trackSplits(splits: () => Iterable<[string, { readonly weights: { readonly names: readonly string[]; weightOf(index: number): number } }]>): void {
    this.#splits = splits;
  }

  /** rampart_request_duration_seconds, with rampart_requests_total as its count (series-histogram.ts). */
  readonly requestDuration = new SeriesHistogram(
    this.registry,
    { name: "rampart_request_duration_seconds", help: "Time from request start to the end of the response, by route, method and status code." },
    DURATION_BUCKETS,
    { name: "rampart_requests_total", help: "Requests answered, by route, method and status code." },
  );
  // Which answers Rampart wrote itself: a 502/503/504 (or 429, 403, 404) of its own, as opposed to the
  // upstream's status passed through. rampart_requests_total counts both; the difference is the upstream's.
  readonly gatewayAnswers = new Counter({
    name: "rampart_gateway_answers_total",
    help: "Answers Rampart wrote itself rather than passing the upstream's on, by route, status code and error (the body's error string).",
    labelNames: ["route", "code", "error"] as const,
    registers: [this.registry],
  });
  readonly requestsInFlight = new Gauge({
    name: "rampart_requests_in_flight",
    help: "Requests being answered now, by route.",
    labelNames: ["route"] as const,
    registers: [this.registry],
    // Counted in plain numbers per route (RouteMetrics.inFlight) and read at scrape: a labelled
    // inc() and dec() per request would hash the labels twice.
    collect: () => {
      for (const [route, metrics] of this.#routes) this.requestsInFlight.set({ route }, metrics.inFlight);
    },
  });
  readonly upstreamDuration = new SeriesHistogram(
    this.registry,
    { name: "rampart_upstream_request_duration_seconds", help: "Time from sending a request upstream to the end of its response, by service and target." },
    DURATION_BUCKETS,
  );
  readonly upstreamHealthy = new Gauge({
    name: "rampart_upstream_healthy",
    help: "1 while a target passes its active health checks (or has none), else 0.",
    labelNames: ["service", "target"] as const,
    aggregator: "min",
    registers: [this.registry],
  });
  readonly breakerState = new Gauge({
    name: "rampart_circuit_breaker_state",
    help: "Circuit breaker state per target: 0 closed, 1 half-open, 2 open.",
    labelNames: ["service", "target"] as const,
    aggregator: "max",
    registers: [this.registry],
  });
  readonly breakerTransitions = new Counter({
    name: "rampart_circuit_breaker_transitions_total",
    help: "Circuit breaker state changes per target, by the state entered.",
    labelNames: ["service", "target", "state"] as const,
    registers: [this.registry],
  });
  readonly upstreamRetries = new Counter({
    name: "rampart_upstream_retries_total",
    help: "Requests sent again to another target after a connect failure, by service and outcome of the budget check.",
    labelNames: ["service", "result"] as const,
    registers: [this.registry],
  });
  readonly connectionsTotal = new Counter({
    name: "rampart_connections_total",
    help: "Client connections handed to a protocol server after the connection gate, by listener and protocol (http/1.1, h2, h2c).",
    labelNames: ["listener", "protocol"] as const,
    registers: [this.registry],
  });
  readonly tlsHandshakes = new Counter({
    name: "rampart_tls_handshakes_total",
    help: "TLS handshakes on the HTTPS listener, by result (ok, failed: no shared protocol or cipher, bad SNI, timeout, reset).",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  /** Read at scrape from the services' pools (set by trackPools). */
  readonly upstreamSockets = new Gauge({
    name: "rampart_upstream_sockets",
    help: "Upstream connections of each service's pool, by state (in_use, idle); HTTP/2 services count their one connection per target as in use.",
    labelNames: ["service", "state"] as const,
    registers: [this.registry],
    collect: () => {
      this.upstreamSockets.reset();
      for (const { name, inUse, idle } of this.#pools?.() ?? []) {
        this.upstreamSockets.set({ service: name, state: "in_use" }, inUse);
        this.upstreamSockets.set({ service: name, state: "idle" }, idle);
      }
    },
  });
  #pools: (() => Iterable<{ readonly name: string; readonly inUse: number; readonly idle: number }>) | undefined;
  readonly connectionsOpen = new Gauge({
    name: "rampart_connections_open",
    help: "Client connections open now (admitted by the connection gate), by listener.",
    labelNames: ["listener"] as const,
    registers: [this.registry],
  });
  readonly http2Goaway = new Counter({
    name: "rampart_http2_goaway_total",
    help: "HTTP/2 connections the gateway ended with GOAWAY, by reason (rapid_reset, flood, max_requests, idle, shutdown, protocol_error).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  /** Read at scrape from the live split weights (set by trackSplits). */
  readonly splitWeight = new Gauge({
    name: "rampart_route_split_weight",
    help: "Weight of each service in a route's split, as traffic is divided now (a rollout moves it).",
    labelNames: ["route", "service"] as const,
    registers: [this.registry],
    collect: () => {
      this.splitWeight.reset();
      for (const [route, { weights }] of this.#splits?.() ?? []) {
        weights.names.forEach((service, index) => this.splitWeight.set({ route, service }, weights.weightOf(index)));
      }
    },
  });
  #splits: (() => Iterable<[string, { readonly weights: { readonly names: readonly string[]; weightOf(index: number): number } }]>) | undefined;
  readonly rolloutState = new Gauge({
    name: "rampart_rollout_state",
    help: "1 for the state each route's rollout is in (progressing, paused, promoted, rolled-back), else 0.",
    labelNames: ["route", "state"] as const,
    registers: [this.registry],
  });
  readonly rolloutDecisions = new Counter({
    name: "rampart_rollout_decisions_total",
    help: "Rollout interval decisions taken by this instance, by route and result (step, inconclusive, failed, promoted, rolled_back).",
    labelNames: ["route", "result"] as const,
    registers: [this.registry],
  });
  readonly faultsInjected = new Counter({
    name: "rampart_faults_injected_total",
    help: "Faults a route's `fault` injected, by kind (delay, abort; overflow: requests let through past maxActive).",
    labelNames: ["route", "kind"] as const,
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({
    name: "rampart_upstream_errors_total",
    help: "Failed upstream attempts and 5xx answers, by service, target and kind (connect, reset, timeout, tls, status_5xx).",
    labelNames: ["service", "target", "kind"] as const,
    registers: [this.registry],
  });
  readonly bansActive = new Gauge({
    name: "rampart_bans_active",
    help: "Bans in force in this instance's ban list.",
    aggregator: "max",
    registers: [this.registry],
  });
  readonly bansTotal = new Counter({
    name: "rampart_bans_total",
    help: "Bans issued, by jail (\"manual\" for the admin API).",
    labelNames: ["jail"] as const,
    registers: [this.registry],
  });
  readonly rateLimitRejections = new Counter({
    name: "rampart_ratelimit_rejections_total",
    help: "Requests answered 429, by rate-limit policy and route.",
    labelNames: ["policy", "route"] as const,
    registers: [this.registry],
  });
  readonly storeUp = new Gauge({
    name: "rampart_store_up",
    help: "1 while the shared-state store is reachable, by kind (memory, redis).",
    labelNames: ["kind"] as const,
    aggregator: "min",
    registers: [this.registry],
  });
  readonly certificateExpiry = new Gauge({
    name: "rampart_certificate_expiry_timestamp_seconds",
    help: "notAfter of the certificate served for each name, in Unix seconds.",
    labelNames: ["domain"] as const,
    aggregator: "min",
    registers: [this.registry],
  });
  readonly acmeOrders = new Counter({
    name: "rampart_acme_orders_total",
    help: "ACME orders (issuance and renewal), by result.",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly onDemandDecisions = new Counter({
    name: "rampart_on_demand_decisions_total",
    help: "On-demand TLS decisions for names no certificate served, by result (allowed, denied, ask_error, rate_limited, refused_name, stored).",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly connectionsRejected = new Counter({
    name: "rampart_connections_rejected_total",
    help: "Connections closed at accept, by reason (banned, denied, connection_limit).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly configReloads: Counter<"result">;
  readonly lastReloadSuccess: Gauge;
  readonly clientErrors = new Counter({
    name: "rampart_client_errors_total",
    help: "Requests refused before routing because they were malformed, too large or too slow, by status code.",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });
  readonly clientTimeouts = new Counter({
    name: "rampart_client_timeouts_total",
    help: "Clients cut off for being too slow: send (a response not read for limits.sendTimeout), body (a request body stalled for limits.bodyTimeout).",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly lingeringCloses = new Counter({
    name: "rampart_lingering_closes_total",
    help: "Connections closed after an early answer while the client was still sending, by outcome (drained, time_limit, byte_limit).",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly eventLoopLag = new Gauge({
    name: "rampart_event_loop_lag_seconds",
    help: "p99 delay of the event loop over the last 5 s; /readyz turns 503 above readiness.eventLoopLag.",
    aggregator: "max",
    registers: [this.registry],
  });

  readonly #routes = new Map<string, RouteMetrics>();
  // Gauges above carry an aggregator for node:cluster's AggregatorRegistry: counters and in-flight
  // counts add up across workers; per-worker views of one state report the worst (health: min,
  // breaker: max) and shared facts (bans, expiry) are the same everywhere.

  /**
   * `countReloads: false` in a node:cluster worker: the primary counts reloads (it also sees the invalid
   * files that never reach a worker), so the workers' registries leave the counter out.
   */
  constructor(options: { defaultMetrics?: boolean; countReloads?: boolean; version?: string } = {}) {
    this.configReloads = new Counter({
      name: "rampart_config_reloads_total",
      help: "Configuration reloads after the initial load, by result (success, failure).",
      labelNames: ["result"] as const,
      registers: options.countReloads === false ? [] : [this.registry],
    });
    this.lastReloadSuccess = new Gauge({
      name: "rampart_config_last_reload_success_timestamp_seconds",
      help: "When the configuration was last loaded successfully (start or reload), Unix seconds.",
      registers: options.countReloads === false ? [] : [this.registry],
    });
    this.lastReloadSuccess.setToCurrentTime();
    new Gauge({
      name: "rampart_build_info",
      help: "1, labelled with the Rampart version and the Node.js version it runs on.",
      labelNames: ["version", "node"] as const,
      aggregator: "first",
      registers: [this.registry],
    }).set({ version: options.version ?? "unknown", node: process.version }, 1);
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    // Series that exist from the start, so dashboards and alerts see 0 rather than "no data".
    for (const reason of ["banned", "denied", "connection_limit"]) this.connectionsRejected.inc({ reason }, 0);
    for (const result of ["success", "failure"]) this.configReloads.inc({ result }, 0);
    for (const kind of ["send", "body"]) this.clientTimeouts.inc({ kind }, 0);
    for (const result of ["ok", "failed"]) this.tlsHandshakes.inc({ result }, 0);
    for (const outcome of ["drained", "time_limit", "byte_limit"]) this.lingeringCloses.inc({ outcome }, 0);
  }

  /** Cached per route name: survives reloads so counters keep their children. */
  forRoute(route: string): RouteMetrics {
    let metrics = this.#routes.get(route);
    if (metrics === undefined) {
      metrics = new RouteMetrics(this, route);
      this.#routes.set(route, metrics);
    }
    return metrics;
  }
}

export class RouteMetrics {
  /** Requests of this route being answered now (rampart_requests_in_flight, read at scrape). */
  inFlight = 0;
  /** Keyed by method + status code, e.g. "GET200". */
  readonly #done = new Map<string, Series>();
  /** Keyed by status code + error, e.g. "502upstream_unreachable". */
  readonly #answered = new Map<string, Counter.Internal>();
  readonly #metrics: GatewayMetrics;
  readonly #route: string;

  constructor(metrics: GatewayMetrics, route: string) {
    this.#metrics = metrics;
    this.#route = route;
  }

  observe(method: string, code: number, seconds: number): void {
    const key = method + code;
    let series = this.#done.get(key);
    if (series === undefined) {
      series = this.#metrics.requestDuration.create({ route: this.#route, method, code: String(code) });
      this.#done.set(key, series);
    }
    series.observe(seconds);
  }

  /** One answer Rampart wrote itself (`error`: the reply's error string). */
  answered(code: number, error: string): void {
    const key = code + error;
    let child = this.#answered.get(key);
    if (child === undefined) {
      child = this.#metrics.gatewayAnswers.labels(this.#route, String(code), error);
      this.#answered.set(key, child);
    }
    child.inc();
  }
}

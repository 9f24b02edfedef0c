// A named group of targets with its own keep-alive connection pool, balancer, health checker and retry
// budget. Without a keep-alive agent Node opens (and closes) one upstream connection per request: the
// agent is what makes forwarding cheap (DESIGN.md, "Known traps").
import http, { type ClientRequest, type RequestOptions } from "node:http";
import https from "node:https";
import type { ServiceConfig } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import { createBalancer } from "./balancers/index.js";
import type { Balancer } from "./balancers/balancer.js";
import { configureBreaker } from "./circuit-breaker.js";
import { HealthChecker } from "./health-check.js";
import { Http2Pool } from "./http2-pool.js";
import { RetryBudget } from "./retry-budget.js";
import { socketHost, type Target } from "./target.js";
import type { TargetRegistry } from "./target-registry.js";
import type { UpstreamTls } from "./upstream-tls.js";

/** Where the forwarder sends a request for one target, prepared once: nothing is parsed per request. */
export interface Endpoint {
  readonly request: (options: RequestOptions) => ClientRequest;
  /** Without IPv6 brackets, as `http.request` takes it. */
  readonly hostname: string;
  readonly port: number;
  /** The Host a request that names none is sent with ("host:port", port only when not the default). */
  readonly host: string;
}

export class Service {
  readonly targets: readonly Target[];
  readonly agent: http.Agent;
  readonly #endpoints = new Map<Target, Endpoint>();
  /**
   * For WebSocket upgrades to https:// targets of a service with `tls`: no keep-alive (an upgraded
   * socket leaves its agent for good), only the TLS settings. Undefined otherwise: Node's defaults.
   */
  readonly upgradeAgent: https.Agent | undefined;
  /** For `protocol: h2c | h2`: one HTTP/2 connection per target instead of the agent's sockets. */
  readonly http2: Http2Pool | undefined;
  readonly connectTimeout: number;
  readonly responseTimeout: number;
  readonly retryAttempts: number;
  readonly retryBudget: RetryBudget;
  readonly #balancer: Balancer;
  readonly #healthChecker: HealthChecker | undefined;
  readonly #panicShare: number;
  /** Reused by every pick (pick is synchronous), so choosing a target allocates nothing. */
  readonly #pickContext = { clientIp: "", now: 0 };
  /** performance.now() when a response from this service last completed (set by the forwarder). */
  lastResponseAt = 0;
  /** When each request waiting in the agent's queue (every socket to its target busy) was first seen. */
  readonly #queuedSince = new WeakMap<ClientRequest, number>();
  /** When the queue was last seen going from empty to non-empty; 0 while it is empty. */
  #queueSeenAt = 0;

  constructor(
    readonly name: string,
    readonly config: ServiceConfig,
    registry: TargetRegistry,
    metrics: GatewayMetrics,
    logger: Logger,
    /** `config.tls` with its files loaded (upstream/upstream-tls.ts); undefined without a `tls` block. */
    readonly tls?: UpstreamTls,
  ) {
    this.targets = config.targets.map((targetConfig) => {
      const target = registry.acquire(name, targetConfig.url);
      target.weight = targetConfig.weight;
      target.slowStart = config.slowStart;
      configureBreaker(target, config.circuitBreaker, metrics, logger);
      // Without active checks nothing would ever mark it healthy again: it is healthy by definition.
      if (config.healthCheck === undefined && !target.healthy) {
        target.healthy = true;
        target.metrics.healthy.set(1);
      }
      return target;
    });
    const secure = this.targets.some((target) => target.url.protocol === "https:");
    const agentOptions: http.AgentOptions = {
      keepAlive: true,
      maxSockets: config.keepAlive.maxSockets,
      maxFreeSockets: config.keepAlive.maxFreeSockets,
      timeout: config.keepAlive.idleTimeout,
      // LIFO keeps the pool small and warm: the most recently used socket is the least likely to
      // have been closed by the backend's own idle timeout.
      scheduling: "lifo",
      // CA, name to verify, client certificate: resolved at load, so a request costs nothing more.
      ...tls?.options,
    };
    this.agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    // Kept by the service, not by the target: targets outlive reloads, and a rebuilt service (new TLS
    // files, a new pool size) must send every target's next request through its own new agent.
    for (const target of this.targets) this.#endpoints.set(target, endpointOf(target.url));
    this.upgradeAgent = secure && tls !== undefined ? new https.Agent({ keepAlive: false, ...tls.options }) : undefined;
    this.http2 = config.protocol === "http1" ? undefined : new Http2Pool(name, logger, tls);
    this.connectTimeout = config.timeouts.connect;
    this.responseTimeout = config.timeouts.response;
    this.retryAttempts = config.retry?.attempts ?? 0;
    this.retryBudget = new RetryBudget((config.retry?.budget ?? 0) / 100);
    this.#balancer = createBalancer(config.balancer, this.targets);
    this.#healthChecker = config.healthCheck && new HealthChecker(name, config.healthCheck, this.targets, logger, { tls });
    this.#panicShare = config.panicThreshold / 100;
  }

  /**
   * The target for a request, or undefined when none is eligible (503). `exclude` lists targets this
   * request already tried. The common case (every target eligible, nothing excluded) allocates nothing.
   */
  pick(clientIp: string, exclude?: readonly Target[]): Target | undefined {
    const targets = this.targets;
    let eligible = 0;
    for (const target of targets) if (target.isEligible() && !exclude?.includes(target)) eligible++;
    const context = this.#pickContext;
    context.clientIp = clientIp;
    context.now = Date.now();
    if (eligible === targets.length) return this.#balancer.pick(targets, context);

    let candidates: Target[];
    if (eligible < targets.length * this.#panicShare) {
      // Panic: too few targets look healthy to carry the load, so trust none of the verdicts and spread
      // over every target whose breaker is not open.
      candidates = targets.filter((target) => target.weight > 0 && target.breakerState !== "open" && !exclude?.includes(target));
    } else {
      candidates = targets.filter((target) => target.isEligible() && !exclude?.includes(target));
    }
    return candidates.length === 0 ? undefined : this.#balancer.pick(candidates, context);
  }

  /**
   * Called about once a second. A request waiting for a pooled socket longer than the connect timeout
   * is handed to `expire` (which fails it): a queue that nobody bounds turns a saturated pool into
   * requests that hang forever.
   */
  sweepQueue(now: number, expire: (request: ClientRequest) => void): void {
    let queued = 0;
    const requests = this.agent.requests;
    for (const name in requests) {
      for (const request of requests[name] ?? []) {
        if (request.destroyed) continue;
        queued++;
        const since = this.#queuedSince.get(request);
        if (since === undefined) this.#queuedSince.set(request, now);
        else if (now - since >= this.connectTimeout) expire(request);
      }
    }
    if (queued === 0) this.#queueSeenAt = 0;
    else if (this.#queueSeenAt === 0) this.#queueSeenAt = now;
  }

  /** How long (ms) requests have been queuing for this service's pool with no response completing; 0 when they are not. */
  stalledFor(now: number): number {
    if (this.#queueSeenAt === 0) return 0;
    return now - Math.max(this.#queueSeenAt, this.lastResponseAt);
  }

  /** Pool sockets now, for rampart_upstream_sockets. */
  sockets(): { inUse: number; idle: number } {
    let inUse = 0;
    let idle = 0;
    for (const name in this.agent.sockets) inUse += this.agent.sockets[name]?.length ?? 0;
    for (const name in this.agent.freeSockets) idle += this.agent.freeSockets[name]?.length ?? 0;
    return { inUse: inUse + (this.http2?.open ?? 0), idle };
  }

  /** Starts active health checks; called when the service's generation goes live. Idempotent. */
  start(): void {
    this.#healthChecker?.start();
  }

  /** Stops health checks at once (a reload retired this service). */
  stop(): void {
    this.#healthChecker?.stop();
  }

  /** Where a request for one of this service's targets goes (made once, when the service was built). */
  endpointOf(target: Target): Endpoint {
    return this.#endpoints.get(target)!;
  }

  /** Closes the connection pool; in-flight requests on it are cut, so call it after they had time to end. */
  close(): void {
    this.stop();
    this.agent.destroy();
    this.upgradeAgent?.destroy();
    this.http2?.close();
  }
}

function endpointOf(url: URL): Endpoint {
  const secure = url.protocol === "https:";
  return Object.freeze({
    request: secure ? https.request : http.request,
    hostname: socketHost(url),
    port: Number(url.port || (secure ? 443 : 80)),
    host: url.host,
  });
}

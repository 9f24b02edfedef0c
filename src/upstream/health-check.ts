// Active health checks for the targets of one service: each target is probed with an HTTP GET every
// `interval` (jittered), and its health flips only after HAProxy-style rise/fall thresholds, i.e.
// `unhealthyThreshold` consecutive failures to eject and `healthyThreshold` consecutive successes to
// return (HAProxy `fall`/`rise`). A single failed probe never ejects a target; Traefik #12390 is the
// complaint this avoids.
//
// Persistent health state is `Target.healthy`, not the checker. Targets start healthy, and the checker
// never marks them unhealthy before probes have failed: Caddy #6410 is every target going unhealthy right
// after start or reload until its first probe. A config reload builds a new checker over the same Target
// objects, so a target that was down stays down (and must rise again) and a healthy one stays up. The
// rise/fall counters start at 0 in each checker; at worst a reload delays an ejection by a few probes.
import http from "node:http";
import https from "node:https";
import type { ConnectionOptions } from "node:tls";
import type { HealthCheckConfig } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";
import { socketHost, type Target } from "./target.js";
import { grpcProbe } from "./grpc-health.js";
import { describeTlsFailure, tlsFailure } from "./tls-failure.js";
import { targetTlsOptions, type UpstreamTls } from "./upstream-tls.js";

export interface HealthCheckerOptions {
  /** Called once per health transition, after the target's state and metric were updated. */
  readonly onChange?: (target: Target, healthy: boolean) => void;
  /** Source of randomness for the jitter, [0, 1). Tests may pin it; defaults to Math.random. */
  readonly random?: () => number;
  /** The service's TLS settings (services.*.tls): probes verify targets exactly as forwarding does. */
  readonly tls?: UpstreamTls | undefined;
}

/**
 * The result of one probe. `reason` says why it failed, e.g. "status 500", "ECONNREFUSED", "timeout
 * after 2000 ms", "CERT_HAS_EXPIRED: certificate has expired"; `tls` marks a TLS failure.
 */
export type ProbeOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly tls?: boolean };

/** Consecutive probe results of one target, as counted by one checker. */
export interface RiseFallCounters {
  successes: number;
  failures: number;
}

export type Thresholds = Pick<HealthCheckConfig, "healthyThreshold" | "unhealthyThreshold">;

/** Spread of the interval between two probes of a target: ±10 %. */
const JITTER = 0.1;

/**
 * Counts one probe result and returns the target's health after it. A healthy target falls after
 * `unhealthyThreshold` consecutive failures; an unhealthy one rises after `healthyThreshold` consecutive
 * successes. Any result of the other kind resets the streak, so a flapping target keeps its state.
 */
export function riseFall(counters: RiseFallCounters, healthy: boolean, ok: boolean, thresholds: Thresholds): boolean {
  if (ok) {
    counters.failures = 0;
    // Capped so a target that is healthy for months does not count forever.
    counters.successes = Math.min(counters.successes + 1, thresholds.healthyThreshold);
    return healthy || counters.successes >= thresholds.healthyThreshold;
  }
  counters.successes = 0;
  counters.failures = Math.min(counters.failures + 1, thresholds.unhealthyThreshold);
  return healthy && counters.failures < thresholds.unhealthyThreshold;
}

/** Delay before the next probe of a target: `interval` ±10 %, so targets probed together drift apart. */
export function nextProbeDelay(interval: number, random: () => number = Math.random): number {
  return interval * (1 - JITTER + 2 * JITTER * random());
}

/**
 * Delay before the first probe of a target: anywhere within the first interval, so a fleet of targets
 * (or of Rampart instances started together) is not probed in lockstep.
 */
export function firstProbeDelay(interval: number, random: () => number = Math.random): number {
  return interval * random();
}

/**
 * One probe: GET `path` on the target with a fresh connection, the body drained and discarded. The whole
 * exchange (DNS, connect, TLS, headers and body) must finish within `timeout`. Resolves, never rejects;
 * an abort through `signal` resolves as a failure with reason "aborted".
 *
 * Connection: close and no agent, rather than a keep-alive pool: a probe every few seconds gains nothing
 * from reuse, an idle pooled socket per target would be held open for nothing, and a fresh connection is
 * what tests the path real traffic needs when the proxy's pool opens one. A backend that stops accepting
 * connections while an old socket stays alive must fail its checks (HAProxy also connects per check).
 */
export function probe(
  url: URL,
  config: Pick<HealthCheckConfig, "path" | "timeout" | "expectStatus">,
  signal?: AbortSignal,
  tls?: ConnectionOptions,
): Promise<ProbeOutcome> {
  return new Promise<ProbeOutcome>((resolve) => {
    let settled = false;
    let request: http.ClientRequest | undefined;
    const onAbort = (): void => finish({ ok: false, reason: "aborted" });
    const finish = (outcome: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      // Frees the socket at once on failure; after a complete response it is closing anyway.
      request?.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `timeout after ${config.timeout} ms` }), config.timeout);
    timer.unref();
    if (signal?.aborted) return finish({ ok: false, reason: "aborted" });
    signal?.addEventListener("abort", onAbort, { once: true });

    const secure = url.protocol === "https:";
    const { min, max } = config.expectStatus;
    try {
      // TLS as for proxied requests (`tls`: the service's CA, name and client certificate, else Node's
      // defaults): a target whose certificate the proxy would refuse must not look healthy.
      request = (secure ? https : http).request({
        ...(secure ? tls : undefined),
        method: "GET",
        hostname: socketHost(url),
        port: url.port || (secure ? 443 : 80),
        // config.path is used verbatim: resolving it against the URL would send "//host/x" elsewhere.
        path: config.path,
        agent: false,
        headers: { host: url.host, "user-agent": "rampart-health-check", connection: "close", accept: "*/*" },
      });
    } catch (error) {
      // Synchronous refusals, such as a path with characters that must be escaped.
      return finish({ ok: false, reason: errorReason(error) });
    }
    let response: http.IncomingMessage | undefined;
    const outcomeOf = (status: number): ProbeOutcome =>
      status >= min && status <= max ? { ok: true } : { ok: false, reason: `status ${status}` };
    request.on("response", (res) => {
      response = res;
      res.on("error", (error) => finish({ ok: false, reason: errorReason(error) }));
      res.on("end", () => finish(outcomeOf(res.statusCode ?? 0)));
      res.resume();
    });
    request.on("error", (error) => finish(failureOf(error)));
    // Last resort, so no probe can stay pending: the socket closed without 'end' or 'error' reaching us.
    request.on("close", () => {
      if (response?.complete) finish(outcomeOf(response.statusCode ?? 0));
      else finish({ ok: false, reason: "connection closed before the response was complete" });
    });
    request.end();
  });
}

/** A failed probe's outcome; a TLS failure keeps its words (the code alone says little to an operator). */
export function failureOf(error: unknown): ProbeOutcome {
  const tls = tlsFailure(error);
  return tls === undefined ? { ok: false, reason: errorReason(error) } : { ok: false, reason: describeTlsFailure(tls), tls: true };
}

function errorReason(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return typeof code === "string" ? code : error.message;
  }
  return String(error);
}

interface TargetState extends RiseFallCounters {
  timer: NodeJS.Timeout | undefined;
}

export class HealthChecker {
  readonly targets: readonly Target[];
  // Keyed by the Target object: a target dropped by a reload leaves nothing behind here.
  readonly #state = new WeakMap<Target, TargetState>();
  readonly #inFlight = new Set<AbortController>();
  readonly #random: () => number;
  readonly #onChange: ((target: Target, healthy: boolean) => void) | undefined;
  readonly #logger: Logger;
  readonly #tls: UpstreamTls | undefined;
  #running = false;
  // Bumped by stop(): a probe that started before it must not touch a target a newer checker now owns.
  #generation = 0;

  constructor(
    readonly service: string,
    readonly config: HealthCheckConfig,
    targets: readonly Target[],
    logger: Logger,
    options: HealthCheckerOptions = {},
  ) {
    this.#logger = logger;
    this.targets = [...new Set(targets)];
    this.#random = options.random ?? Math.random;
    this.#onChange = options.onChange;
    this.#tls = options.tls;
    for (const target of this.targets) this.#state.set(target, { successes: 0, failures: 0, timer: undefined });
  }

  get running(): boolean {
    return this.#running;
  }

  /** Starts probing every target. Timers are unref'd: health checks alone never keep the process alive. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const target of this.targets) this.#schedule(target, firstProbeDelay(this.config.interval, this.#random), this.#generation);
  }

  /** Stops every timer and aborts probes in flight; their results are discarded. Idempotent. */
  stop(): void {
    this.#running = false;
    this.#generation++;
    for (const target of this.targets) {
      const state = this.#stateOf(target);
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    for (const controller of this.#inFlight) controller.abort();
    this.#inFlight.clear();
  }

  /**
   * Probes one target now and counts the result toward its rise/fall thresholds (unless stop() is called
   * meanwhile). Resolves to whether the probe succeeded; never rejects.
   */
  async probeNow(target: Target): Promise<boolean> {
    const generation = this.#generation;
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const tls = target.url.protocol === "https:" ? targetTlsOptions(this.#tls, target.url) : undefined;
    const outcome = await (this.config.grpc ? grpcProbe : probe)(target.url, this.config, controller.signal, tls);
    this.#inFlight.delete(controller);
    if (generation === this.#generation) this.#record(target, outcome);
    return outcome.ok;
  }

  #stateOf(target: Target): TargetState {
    let state = this.#state.get(target);
    if (state === undefined) {
      state = { successes: 0, failures: 0, timer: undefined };
      this.#state.set(target, state);
    }
    return state;
  }

  // The next probe is scheduled when the previous one has finished (as HAProxy's `inter`), so probes of
  // one target never overlap even when `timeout` exceeds `interval`.
  #schedule(target: Target, delay: number, generation: number): void {
    const state = this.#stateOf(target);
    state.timer = setTimeout(() => {
      state.timer = undefined;
      void this.probeNow(target).then(() => {
        if (this.#running && generation === this.#generation) {
          this.#schedule(target, nextProbeDelay(this.config.interval, this.#random), generation);
        }
      });
    }, delay);
    state.timer.unref();
  }

  #record(target: Target, outcome: ProbeOutcome): void {
    const state = this.#stateOf(target);
    // Every failed probe is recorded for /api/upstreams, but only transitions are logged.
    if (!outcome.ok) target.lastError = `health check: ${outcome.reason}`;
    // A certificate problem shows on /api/upstreams even while the target, being down, gets no requests.
    if (!outcome.ok && outcome.tls === true) target.recordTlsError(outcome.reason);
    const wasHealthy = target.healthy;
    const healthy = riseFall(state, wasHealthy, outcome.ok, this.config);
    if (healthy === wasHealthy) return;

    target.healthy = healthy;
    target.metrics.healthy.set(healthy ? 1 : 0);
    const fields = { service: this.service, target: target.key };
    if (healthy) {
      // Slow start ramps the target's weight up from here (Target.effectiveWeight).
      target.recoveredAt = Date.now();
      this.#logger.info({ ...fields, reason: `${state.successes} consecutive successful health checks` }, "upstream target healthy");
    } else {
      this.#logger.warn({ ...fields, reason: target.lastError, failures: state.failures }, "upstream target unhealthy");
    }
    try {
      this.#onChange?.(target, healthy);
    } catch (error) {
      // A faulty listener must not stop the probing of this target (this runs from a timer).
      this.#logger.error({ ...fields, err: error }, "health check change listener failed");
    }
  }
}

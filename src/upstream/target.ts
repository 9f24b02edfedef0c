// One backend address of one service, with the runtime state that decides whether it gets traffic:
// active health (rise/fall), its circuit breaker, in-flight requests and slow start. A Target is keyed
// by (service, address) in the TargetRegistry and survives config reloads that keep it, so a reload
// neither forgets a failing backend nor marks every backend unhealthy until its first probe.
import type CircuitBreaker from "opossum";

/** Labelled metric children, bound once per target so the request path never validates labels. */
export interface TargetMetrics {
  readonly upstreamDuration: { observe(seconds: number): void };
  readonly healthy: { set(value: number): void };
  readonly breakerState: { set(value: number): void };
  /** rampart_upstream_errors_total{kind="status_5xx"} for this target. */
  readonly status5xx: { inc(): void };
}

/** A URL's host as sockets take it: URL.hostname keeps IPv6 brackets ("[::1]"), a socket wants "::1". */
export function socketHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

export type BreakerState = "closed" | "half-open" | "open";

export class Target {
  /** "host:port", the `target` label value. */
  readonly key: string;
  readonly url: URL;
  /** Configured weight; 0 keeps the target out of rotation. */
  weight = 1;
  inFlight = 0;
  lastError: string | undefined = undefined;
  /** Active health as decided by the health checker's rise/fall thresholds. Starts healthy. */
  healthy = true;
  /** Date.now() when the target last came back (health recovered or breaker closed): slow start ramps from here. */
  recoveredAt = 0;
  /** Ramp-up duration in ms after recovery; 0 disables slow start. */
  slowStart = 0;
  breaker: CircuitBreaker | undefined = undefined;
  /** Failed TLS sessions with this target (requests and health probes), for /api/upstreams. */
  tlsErrors = 0;
  /** The latest of them, with Date.now() when it happened: "CERT_HAS_EXPIRED: certificate has expired". */
  lastTlsError: { readonly message: string; readonly at: number } | undefined = undefined;

  constructor(
    readonly service: string,
    url: string,
    readonly metrics: TargetMetrics,
  ) {
    this.url = new URL(url);
    this.url.pathname = "/";
    this.key = `${this.url.hostname}:${this.url.port || (this.url.protocol === "https:" ? 443 : 80)}`;
    metrics.healthy.set(1);
    metrics.breakerState.set(0);
  }

  /** Counts a TLS failure (see upstream/tls-failure.ts) and keeps it as the latest. */
  recordTlsError(message: string): void {
    this.tlsErrors++;
    this.lastTlsError = { message, at: Date.now() };
  }

  get breakerState(): BreakerState {
    const breaker = this.breaker;
    if (breaker === undefined || breaker.closed) return "closed";
    return breaker.halfOpen ? "half-open" : "open";
  }

  /**
   * May this target take a request now? Healthy, in rotation, and its breaker closed, or half-open with
   * its single trial request not yet taken (opossum lets exactly one request through when half-open).
   */
  isEligible(): boolean {
    if (!this.healthy || this.weight === 0) return false;
    const breaker = this.breaker;
    return breaker === undefined || breaker.closed || (breaker.halfOpen && breaker.pendingClose);
  }

  /** The weight balancers use: the configured weight, ramped linearly during slow start (never below 5%). */
  effectiveWeight(now: number): number {
    if (this.slowStart === 0 || this.recoveredAt === 0) return this.weight;
    const elapsed = now - this.recoveredAt;
    if (elapsed >= this.slowStart) return this.weight;
    return this.weight * Math.max(0.05, elapsed / this.slowStart);
  }
}

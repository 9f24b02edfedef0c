// /api/upstreams with workers: every worker runs its own health checks and breakers, so one worker's
// view is not the fleet's. The primary asks every ready worker and merges the rows per target: the row
// keeps the contract's fields, read for the fleet (healthy only if every worker sees it healthy, the
// worst breaker state, in-flight summed, TLS errors summed with the latest one kept), and `workers`
// says how many saw what.

/** Failed TLS sessions with a target (requests and health probes): "certificate has expired" at a glance. */
export interface TargetTlsErrors {
  readonly errors: number;
  readonly lastError: string | null;
  /** ISO 8601, when lastError happened. */
  readonly lastErrorAt: string | null;
}

export interface UpstreamRow {
  readonly service: string;
  readonly target: string;
  readonly healthy: boolean;
  readonly breaker: "closed" | "half-open" | "open";
  readonly inFlight: number;
  readonly lastError: string | null;
  readonly tls: TargetTlsErrors;
}

export interface FleetUpstreamRow extends UpstreamRow {
  readonly workers: { readonly reporting: number; readonly healthy: number; readonly breakerOpen: number; readonly breakerHalfOpen: number };
}

const SEVERITY = { closed: 0, "half-open": 1, open: 2 } as const;

export function mergeUpstreamViews(views: readonly (readonly UpstreamRow[])[]): FleetUpstreamRow[] {
  const merged = new Map<string, FleetUpstreamRow>();
  for (const view of views) {
    for (const row of view) {
      const key = `${row.service}\u0000${row.target}`;
      const seen = merged.get(key);
      const counts = {
        reporting: (seen?.workers.reporting ?? 0) + 1,
        healthy: (seen?.workers.healthy ?? 0) + (row.healthy ? 1 : 0),
        breakerOpen: (seen?.workers.breakerOpen ?? 0) + (row.breaker === "open" ? 1 : 0),
        breakerHalfOpen: (seen?.workers.breakerHalfOpen ?? 0) + (row.breaker === "half-open" ? 1 : 0),
      };
      merged.set(key, {
        service: row.service,
        target: row.target,
        healthy: (seen?.healthy ?? true) && row.healthy,
        breaker: seen !== undefined && SEVERITY[seen.breaker] >= SEVERITY[row.breaker] ? seen.breaker : row.breaker,
        inFlight: (seen?.inFlight ?? 0) + row.inFlight,
        lastError: row.lastError ?? seen?.lastError ?? null,
        tls: seen === undefined ? row.tls : mergeTls(seen.tls, row.tls),
        workers: counts,
      });
    }
  }
  return [...merged.values()];
}

/** A row's TLS errors as the target keeps them (upstream/target.ts). */
export function tlsErrorsOf(target: { readonly tlsErrors: number; readonly lastTlsError: { readonly message: string; readonly at: number } | undefined }): TargetTlsErrors {
  const last = target.lastTlsError;
  return { errors: target.tlsErrors, lastError: last?.message ?? null, lastErrorAt: last === undefined ? null : new Date(last.at).toISOString() };
}

export function mergeTls(a: TargetTlsErrors, b: TargetTlsErrors): TargetTlsErrors {
  // ISO 8601 timestamps of one format compare as strings; null (none yet) loses to any.
  const latest = (b.lastErrorAt ?? "") > (a.lastErrorAt ?? "") ? b : a;
  return { errors: a.errors + b.errors, lastError: latest.lastError, lastErrorAt: latest.lastErrorAt };
}

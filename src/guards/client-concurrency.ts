// Requests in progress per client address (limits.maxRequestsInFlightPerIp). The connection cap bounds
// sockets; this bounds what those sockets may hold at once upstream, so one address that reads or
// uploads slowly cannot pin more than its share of a service's connection pool. One instance lives as
// long as the gateway: counts held by in-flight requests must survive a reload.
export class ClientConcurrency {
  readonly #inFlight = new Map<string, number>();

  /** Takes a slot for `ip` unless it already holds `limit`; the caller releases it exactly once. */
  tryAcquire(ip: string, limit: number): boolean {
    const held = this.#inFlight.get(ip) ?? 0;
    if (held >= limit) return false;
    this.#inFlight.set(ip, held + 1);
    return true;
  }

  release(ip: string): void {
    const held = (this.#inFlight.get(ip) ?? 1) - 1;
    if (held <= 0) this.#inFlight.delete(ip);
    else this.#inFlight.set(ip, held);
  }

  /** Addresses holding at least one request now (for tests and the status page). */
  get addresses(): number {
    return this.#inFlight.size;
  }
}

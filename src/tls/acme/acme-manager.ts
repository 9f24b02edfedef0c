// Obtains and renews ACME certificates for the configured names, safely in a fleet (certmagic's design):
// - stored certificates are loaded at start, so a restart orders nothing new;
// - one order per name across the fleet: a lock with an expiry in the shared store; the instances that
//   do not hold it pick the result up from the store;
// - renewal when renewBefore is reached or a third of the lifetime remains, or inside the CA's ARI
//   window when it offers one; the old certificate is served until the new one is installed;
// - failures back off: while the ACME server is unreachable, doubling from retry.initial to retry.max;
//   after an order that reached validation failed, the name waits failedOrderDelay (Let's Encrypt's
//   failed-validation limit is easy to burn).
import type { AcmeConfig } from "../../config/schema.js";
import type { Logger } from "../../observability/logger.js";
import type { GatewayMetrics } from "../../observability/metrics.js";
import type { CertStore } from "../../state/cert-store.js";
import { inspectPemPair, type CertificateDetails } from "../certificate-details.js";
import type { CertificateResolver } from "../certificate-resolver.js";
import type { PemPair } from "../../state/pem-pair.js";
import { renewalTime } from "../renewal-time.js";
import { AcmeAccount, OrderFailure } from "./acme-account.js";
import { fetchRenewalWindow, pickInWindow } from "./renewal-info.js";

/** An order takes seconds; a lock outliving a crashed holder by a few minutes blocks nobody for long. */
const LOCK_TTL_MS = 5 * 60_000;
/** While a name has no certificate yet (or a peer is ordering it), look again this often. */
const PENDING_RECHECK_MS = 2_000;

interface DomainState {
  details: CertificateDetails | undefined;
  /** Epoch ms of the planned renewal of the served certificate. */
  renewAt: number;
  /** Epoch ms before which no order is attempted (backoff). */
  notBefore: number;
  failures: number;
  checking: boolean;
}

export class AcmeManager {
  readonly #domains = new Map<string, DomainState>();
  readonly #account: AcmeAccount;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly config: AcmeConfig,
    domains: readonly string[],
    private readonly store: CertStore,
    private readonly resolver: CertificateResolver,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
  ) {
    for (const domain of domains) this.#domains.set(domain, { details: undefined, renewAt: 0, notBefore: 0, failures: 0, checking: false });
    this.#account = new AcmeAccount(config, store, logger);
    for (const result of ["success", "failure"]) metrics.acmeOrders.inc({ result }, 0);
  }

  /** On reload: names new to the list are checked (and ordered) at once; names no longer listed stop renewing. */
  setDomains(domains: readonly string[]): void {
    const wanted = new Set(domains);
    for (const domain of this.#domains.keys()) if (!wanted.has(domain)) this.#domains.delete(domain);
    const added = domains.filter((domain) => !this.#domains.has(domain));
    if (added.length === 0) return;
    for (const domain of added) this.#domains.set(domain, { details: undefined, renewAt: 0, notBefore: 0, failures: 0, checking: false });
    this.logger.info({ domains: added }, "new names to certify");
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#schedule(0);
  }

  has(domain: string): boolean {
    return this.#domains.has(domain);
  }

  /** Names still served by the fallback certificate, for /readyz. */
  pending(): string[] {
    return [...this.#domains].filter(([, state]) => state.details === undefined).map(([domain]) => domain);
  }

  /** Loads stored certificates (no order for a name that has one), then starts the schedule. */
  async start(): Promise<void> {
    await AcmeAccount.trustCa(this.config.caFile);
    // The store may be down (Redis): the gateway starts anyway with the fallback, and the checks
    // (every 2 s while a name is pending) load or order once it is back.
    await Promise.all(
      [...this.#domains.keys()].map((domain) =>
        this.#adoptStored(domain).catch((error: unknown) => this.logger.warn({ err: error, domain }, "stored certificate not loaded; the next check tries again")),
      ),
    );
    // A peer's new certificate is served here as soon as the store says so, not at the next check.
    this.store.onChange?.((domain) => {
      if (this.#domains.has(domain)) this.#adoptStored(domain).catch((error: unknown) => this.logger.warn({ err: error, domain }, "could not adopt a stored certificate"));
    });
    this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), delay);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    await Promise.all([...this.#domains.keys()].map((domain) => this.#check(domain)));
    const waiting = this.pending().length > 0;
    const interval = this.config.checkInterval;
    // ±10% jitter, so a fleet started together does not check (and order) in lockstep.
    const next = waiting ? Math.min(PENDING_RECHECK_MS, interval) : interval * (0.9 + Math.random() * 0.2);
    this.#schedule(next);
  }

  async #check(domain: string): Promise<void> {
    const state = this.#domains.get(domain);
    if (state === undefined || state.checking) return;
    state.checking = true;
    try {
      // A peer may have renewed it: the store is the source of truth for the fleet.
      await this.#adoptStored(domain);
      const now = Date.now();
      if (state.details !== undefined && now < state.renewAt) return;
      if (now < state.notBefore) return;
      await this.#orderWithLock(domain, state);
    } catch (error) {
      this.logger.warn({ err: error, domain }, "certificate check failed");
    } finally {
      state.checking = false;
    }
  }

  async #orderWithLock(domain: string, state: DomainState): Promise<void> {
    const lock = await this.store.acquireLock(`order:${domain}`, LOCK_TTL_MS);
    if (lock === undefined) return; // a peer is ordering it; its result is picked up from the store
    try {
      // The previous holder may have finished just before we took the lock.
      await this.#adoptStored(domain);
      if (state.details !== undefined && Date.now() < state.renewAt) return;
      const renewal = state.details !== undefined;
      this.logger.info({ domain, renewal, challenge: this.config.challenge }, renewal ? "renewing certificate" : "ordering certificate");
      let pem: PemPair;
      try {
        pem = await this.#account.order(domain);
      } catch (error) {
        this.#failed(domain, state, error);
        return;
      }
      await this.store.putCertificate(domain, pem);
      await this.#install(domain, pem, state);
      state.failures = 0;
      state.notBefore = 0;
      this.metrics.acmeOrders.inc({ result: "success" });
    } finally {
      await this.store.releaseLock(`order:${domain}`, lock).catch(() => undefined);
    }
  }

  #failed(domain: string, state: DomainState, error: unknown): void {
    this.metrics.acmeOrders.inc({ result: "failure" });
    state.failures++;
    const validation = error instanceof OrderFailure && error.validationAttempted;
    const backoff = validation
      ? this.config.failedOrderDelay
      : Math.min(this.config.retry.max, this.config.retry.initial * 2 ** (state.failures - 1));
    state.notBefore = Date.now() + backoff;
    this.logger.error(
      { domain, failures: state.failures, retryInMs: backoff, validationAttempted: validation, err: error },
      state.details ? "certificate renewal failed; the current certificate stays in use" : "certificate order failed; the fallback certificate stays in use",
    );
  }

  /** Installs the stored certificate when it is newer than the one served. */
  async #adoptStored(domain: string): Promise<void> {
    const state = this.#domains.get(domain);
    const stored = state === undefined ? undefined : await this.store.getCertificate(domain);
    if (state === undefined || stored === undefined) return;
    const details = inspectPemPair(stored, { cert: `stored certificate for ${domain}`, key: `stored key for ${domain}` });
    if (state.details !== undefined && details.fingerprint256 === state.details.fingerprint256) return;
    if (state.details !== undefined && details.notAfter <= state.details.notAfter) return;
    await this.#install(domain, stored, state);
  }

  async #install(domain: string, pem: PemPair, state: DomainState): Promise<void> {
    const details = inspectPemPair(pem, { cert: `certificate for ${domain}`, key: `key for ${domain}` });
    const renewAt = await this.#plannedRenewal(pem, details);
    this.resolver.install(domain, pem, "acme", { nextRenewal: new Date(renewAt) });
    state.details = details;
    state.renewAt = renewAt;
  }

  async #plannedRenewal(pem: PemPair, details: CertificateDetails): Promise<number> {
    const local = renewalTime(details.notBefore, details.notAfter, this.config.renewBefore).getTime();
    try {
      const window = await fetchRenewalWindow(this.config.directoryUrl, pem.cert);
      if (window !== undefined) return pickInWindow(window).getTime();
    } catch (error) {
      this.logger.debug({ err: error }, "no ACME renewal information; using the local renewal rule");
    }
    return local;
  }
}

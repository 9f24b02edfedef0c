// Obtains and renews ACME certificates for the configured names, safely in a fleet (certmagic's design):
// - stored certificates are loaded at start, so a restart orders nothing new;
// - one order per name across the fleet: a lock with an expiry in the shared store; the instances that
//   do not hold it pick the result up from the store;
// - renewal when renewBefore is reached or a third of the lifetime remains, or inside the CA's ARI
//   window when it offers one; the old certificate is served until the new one is installed;
// - failures back off: while the ACME server is unreachable, doubling from retry.initial to retry.max;
//   after an order that reached validation failed, the name waits failedOrderDelay (Let's Encrypt's
//   failed-validation limit is easy to burn).
// On-demand names (tls.onDemand, src/tls/on-demand/) join the set at a handshake and are renewed like
// configured ones; a reload's setDomains keeps them. An on-demand name whose first order fails leaves
// the set and is refused new orders for the backoff, so handshakes cannot re-order it at once.
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

/** Why a name's last order failed, and when (ISO 8601). */
export interface AcmeError {
  readonly code: string;
  readonly message: string;
  readonly at: string;
}

/** Failed names remembered at most (on-demand names come and go; the oldest error is dropped first). */
const MAX_ERRORS_KEPT = 1_000;

interface DomainState {
  details: CertificateDetails | undefined;
  /** Epoch ms of the planned renewal of the served certificate. */
  renewAt: number;
  /** Epoch ms before which no order is attempted (backoff). */
  notBefore: number;
  failures: number;
  checking: boolean;
  /** Joined through a handshake (on-demand TLS) rather than the config. */
  onDemand?: boolean;
  /** Settled when the name's first certificate is served (on-demand names only). */
  waiting?: Waiting;
}

interface Waiting {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

function waiting(): Waiting {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be waiting any more (the handshake took the fallback): a failure is then no unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export class AcmeManager {
  readonly #config: AcmeConfig;
  readonly #store: CertStore;
  readonly #resolver: CertificateResolver;
  readonly #metrics: GatewayMetrics;
  readonly #logger: Logger;
  readonly #domains = new Map<string, DomainState>();
  /** The last failed order per name, until one succeeds (the status page, /api/certificates, `rampart certs`). */
  readonly #lastErrors = new Map<string, AcmeError>();
  readonly #account: AcmeAccount;
  #timer: NodeJS.Timeout | undefined;
  /** Epoch ms the timer fires at. */
  #timerDue = 0;
  #ticking = false;
  #stopped = false;
  /** On-demand names whose first order failed: no new order before the epoch ms given. */
  readonly #onDemandBlocked = new Map<string, number>();
  /** Asked before an on-demand name is renewed (the ask endpoint may have dropped it). */
  #renewalCheck: ((domain: string) => Promise<boolean>) | undefined;

  constructor(config: AcmeConfig, domains: readonly string[], store: CertStore, resolver: CertificateResolver, metrics: GatewayMetrics, logger: Logger) {
    this.#config = config;
    this.#store = store;
    this.#resolver = resolver;
    this.#metrics = metrics;
    this.#logger = logger;
    for (const domain of domains) this.#domains.set(domain, { details: undefined, renewAt: 0, notBefore: 0, failures: 0, checking: false });
    this.#account = new AcmeAccount(config, store, logger);
    for (const result of ["success", "failure"]) metrics.acmeOrders.inc({ result }, 0);
  }

  /** On reload: names new to the list are checked (and ordered) at once; names no longer listed stop renewing. */
  setDomains(domains: readonly string[]): void {
    const wanted = new Set(domains);
    for (const [domain, state] of this.#domains) {
      // On-demand names are not in the config: a reload keeps them. A name now configured is no longer on demand.
      if (wanted.has(domain)) state.onDemand = false;
      else if (state.onDemand !== true) this.#domains.delete(domain);
    }
    const added = domains.filter((domain) => !this.#domains.has(domain));
    if (added.length === 0) return;
    for (const domain of added) this.#domains.set(domain, { details: undefined, renewAt: 0, notBefore: 0, failures: 0, checking: false });
    this.#logger.info({ domains: added }, "new names to certify");
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#schedule(0);
  }

  has(domain: string): boolean {
    return this.#domains.has(domain);
  }

  /**
   * On-demand TLS: serves the stored certificate for `domain` when one is stored and unexpired, and
   * renews it from then on. False when none is (an expired one is left to certifyOnDemand).
   */
  async adoptOnDemand(domain: string): Promise<boolean> {
    const known = this.#domains.get(domain);
    if (known !== undefined) return known.details !== undefined;
    const stored = await this.#store.getCertificate(domain);
    if (stored === undefined) return false;
    const details = inspectPemPair(stored, { cert: `stored certificate for ${domain}`, key: `stored key for ${domain}` });
    if (details.notAfter.getTime() <= Date.now()) return false;
    const state: DomainState = { details: undefined, renewAt: 0, notBefore: 0, failures: 0, checking: false, onDemand: true };
    this.#domains.set(domain, state);
    try {
      await this.#install(domain, stored, state);
    } catch (error) {
      if (this.#domains.get(domain) === state && state.details === undefined) this.#domains.delete(domain);
      throw error;
    }
    this.#recheckSoon();
    return true;
  }

  /**
   * On-demand TLS: orders a certificate for `domain` (through the fleet lock, like any order), serves it
   * and renews it from then on. Resolves once it is served (by this order, a peer's, or the store's);
   * rejects when the order fails, which also blocks new orders for the name for the backoff.
   */
  certifyOnDemand(domain: string): Promise<void> {
    if (this.#stopped) return Promise.reject(new Error("ACME is stopped"));
    let state = this.#domains.get(domain);
    if (state?.details !== undefined) return Promise.resolve();
    if (state === undefined) {
      const blockedUntil = this.blockedUntil(domain);
      if (blockedUntil !== undefined) {
        return Promise.reject(new Error(`an order for ${domain} failed; no new one before ${new Date(blockedUntil).toISOString()}`));
      }
      this.#onDemandBlocked.delete(domain);
      state = { details: undefined, renewAt: 0, notBefore: 0, failures: 0, checking: false, onDemand: true };
      this.#domains.set(domain, state);
    }
    state.waiting ??= waiting();
    const { promise } = state.waiting;
    void this.#check(domain);
    // While a peer holds the name's lock, the pending checks (every 2 s) pick its certificate up.
    this.#recheckSoon();
    return promise;
  }

  /** On-demand TLS: until when (epoch ms) a failed order blocks new orders for `domain`; undefined when none does. */
  blockedUntil(domain: string): number | undefined {
    const until = this.#onDemandBlocked.get(domain);
    return until !== undefined && until > Date.now() ? until : undefined;
  }

  /** Called before an on-demand certificate is renewed: false skips the renewal until the next check. */
  setOnDemandRenewalCheck(check: (domain: string) => Promise<boolean>): void {
    this.#renewalCheck = check;
  }

  /** Names still served by the fallback certificate, for /readyz. */
  pending(): string[] {
    return [...this.#domains].filter(([, state]) => state.details === undefined).map(([domain]) => domain);
  }

  /** Loads stored certificates (no order for a name that has one), then starts the schedule. */
  async start(): Promise<void> {
    await AcmeAccount.trustCa(this.#config.caFile);
    // The store may be down (Redis): the gateway starts anyway with the fallback, and the checks
    // (every 2 s while a name is pending) load or order once it is back.
    await Promise.all(
      [...this.#domains.keys()].map((domain) =>
        this.#adoptStored(domain).catch((error: unknown) => this.#logger.warn({ err: error, domain }, "stored certificate not loaded; the next check tries again")),
      ),
    );
    // A peer's new certificate is served here as soon as the store says so, not at the next check.
    this.#store.onChange?.((domain) => {
      if (this.#domains.has(domain)) this.#adoptStored(domain).catch((error: unknown) => this.#logger.warn({ err: error, domain }, "could not adopt a stored certificate"));
    });
    this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    this.#timerDue = Date.now() + delay;
    this.#timer = setTimeout(() => void this.#tick(), delay);
    this.#timer.unref();
  }

  /** Brings the next check forward to the pending interval (a new on-demand name); a running tick schedules itself. */
  #recheckSoon(): void {
    if (this.#stopped || this.#ticking || this.#timer === undefined) return;
    if (this.#timerDue <= Date.now() + PENDING_RECHECK_MS) return;
    clearTimeout(this.#timer);
    this.#schedule(PENDING_RECHECK_MS);
  }

  async #tick(): Promise<void> {
    this.#ticking = true;
    try {
      await Promise.all([...this.#domains.keys()].map((domain) => this.#check(domain)));
    } finally {
      this.#ticking = false;
    }
    const waiting = this.pending().length > 0;
    const interval = this.#config.checkInterval;
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
      if (state.onDemand === true && state.details !== undefined && this.#renewalCheck !== undefined && !(await this.#renewalCheck(domain))) {
        state.notBefore = now + this.#config.checkInterval;
        return;
      }
      await this.#orderWithLock(domain, state);
    } catch (error) {
      this.#logger.warn({ err: error, domain }, "certificate check failed");
    } finally {
      state.checking = false;
    }
  }

  async #orderWithLock(domain: string, state: DomainState): Promise<void> {
    const lock = await this.#store.acquireLock(`order:${domain}`, LOCK_TTL_MS);
    if (lock === undefined) return; // a peer is ordering it; its result is picked up from the store
    try {
      // The previous holder may have finished just before we took the lock.
      await this.#adoptStored(domain);
      if (state.details !== undefined && Date.now() < state.renewAt) return;
      const renewal = state.details !== undefined;
      this.#logger.info({ domain, renewal, challenge: this.#config.challenge }, renewal ? "renewing certificate" : "ordering certificate");
      let pem: PemPair;
      try {
        pem = await this.#account.order(domain);
      } catch (error) {
        this.#failed(domain, state, error);
        return;
      }
      await this.#store.putCertificate(domain, pem);
      await this.#install(domain, pem, state);
      this.#lastErrors.delete(domain);
      state.failures = 0;
      state.notBefore = 0;
      this.#metrics.acmeOrders.inc({ result: "success" });
    } finally {
      await this.#store.releaseLock(`order:${domain}`, lock).catch(() => undefined);
    }
  }

  /** The last failed order for `domain`, undefined when none failed since its last success. */
  lastError(domain: string): AcmeError | undefined {
    return this.#lastErrors.get(domain);
  }

  #recordError(domain: string, error: unknown): void {
    const code = error instanceof OrderFailure ? error.code : "ACME_ORDER_FAILED";
    const message = error instanceof Error ? error.message : String(error);
    this.#lastErrors.delete(domain); // re-inserted last: the Map's order is the age order
    this.#lastErrors.set(domain, Object.freeze({ code, message, at: new Date().toISOString() }));
    if (this.#lastErrors.size > MAX_ERRORS_KEPT) this.#lastErrors.delete(this.#lastErrors.keys().next().value!);
  }

  #failed(domain: string, state: DomainState, error: unknown): void {
    this.#metrics.acmeOrders.inc({ result: "failure" });
    this.#recordError(domain, error);
    state.failures++;
    const validation = error instanceof OrderFailure && error.validationAttempted;
    const backoff = validation
      ? this.#config.failedOrderDelay
      : Math.min(this.#config.retry.max, this.#config.retry.initial * 2 ** (state.failures - 1));
    state.notBefore = Date.now() + backoff;
    if (state.onDemand === true && state.details === undefined) {
      // Not retried in the background: a later handshake may try again after the backoff (asked and rate-limited again).
      this.#domains.delete(domain);
      const now = Date.now();
      for (const [name, until] of this.#onDemandBlocked) if (until <= now) this.#onDemandBlocked.delete(name);
      this.#onDemandBlocked.set(domain, state.notBefore);
      state.waiting?.reject(error instanceof Error ? error : new Error(String(error)));
      state.waiting = undefined;
    }
    this.#logger.error(
      { domain, failures: state.failures, retryInMs: backoff, validationAttempted: validation, err: error },
      state.details ? "certificate renewal failed; the current certificate stays in use" : "certificate order failed; the fallback certificate stays in use",
    );
  }

  /** Installs the stored certificate when it is newer than the one served. */
  async #adoptStored(domain: string): Promise<void> {
    const state = this.#domains.get(domain);
    const stored = state === undefined ? undefined : await this.#store.getCertificate(domain);
    if (state === undefined || stored === undefined) return;
    const details = inspectPemPair(stored, { cert: `stored certificate for ${domain}`, key: `stored key for ${domain}` });
    if (state.details !== undefined && details.fingerprint256 === state.details.fingerprint256) return;
    if (state.details !== undefined && details.notAfter <= state.details.notAfter) return;
    await this.#install(domain, stored, state);
  }

  async #install(domain: string, pem: PemPair, state: DomainState): Promise<void> {
    const details = inspectPemPair(pem, { cert: `certificate for ${domain}`, key: `key for ${domain}` });
    const renewAt = await this.#plannedRenewal(pem, details);
    this.#resolver.install(domain, pem, "acme", { nextRenewal: new Date(renewAt) });
    state.details = details;
    state.renewAt = renewAt;
    state.waiting?.resolve();
    state.waiting = undefined;
  }

  async #plannedRenewal(pem: PemPair, details: CertificateDetails): Promise<number> {
    const local = renewalTime(details.notBefore, details.notAfter, this.#config.renewBefore).getTime();
    try {
      const window = await fetchRenewalWindow(this.#config.directoryUrl, pem.cert);
      if (window !== undefined) return pickInWindow(window).getTime();
    } catch (error) {
      this.#logger.debug({ err: error }, "no ACME renewal information; using the local renewal rule");
    }
    return local;
  }
}

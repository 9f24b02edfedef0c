// On-demand TLS (Caddy's on_demand_tls): a handshake for a name that no certificate serves and the
// config does not list may get a certificate obtained there and then. Only that path is asynchronous;
// handshakes for known names never reach this file (certificate-resolver.ts looks them up in a Map).
//
// For such a name, in order:
//   1. refuse IP literals and malformed names (debug log: a scanner must not flood the log), and names
//      outside `suffixes`, without asking anybody;
//   2. a certificate already in the store (a restart, another instance) is served without asking, so
//      an ask endpoint that is down never blocks stored certificates;
//   3. ask the endpoint (cached, single-flight; fail closed);
//   4. the rate caps (per name and in total, per sliding window; fail closed);
//   5. order through the ACME manager, which then renews the name like a configured one.
// Concurrent handshakes for one name share one attempt (store look-up, question and order).
import type { OnDemandConfig } from "../../config/schema.js";
import type { Logger } from "../../observability/logger.js";
import { AskClient, httpAsk, type AskDecision } from "./ask-client.js";
import { IssuanceRate } from "./issuance-rate.js";
import { checkServerName, withinSuffixes } from "./server-name.js";

/** The label values of rampart_on_demand_decisions_total. */
export const ON_DEMAND_RESULTS = ["allowed", "denied", "ask_error", "rate_limited", "refused_name", "stored"] as const;
export type OnDemandResult = (typeof ON_DEMAND_RESULTS)[number];

/** What the policy needs from the ACME side (AcmeManager). */
export interface OnDemandIssuer {
  /** True for a name ACME already certifies or is certifying (configured or on-demand). */
  has(name: string): boolean;
  /** Serves the stored, unexpired certificate for `name` and renews it from then on; false when none is stored. */
  adoptOnDemand(name: string): Promise<boolean>;
  /** Orders a certificate for `name`, serves it and renews it from then on; resolves once it is served. */
  certifyOnDemand(name: string): Promise<void>;
  /** Epoch ms until which a failed order blocks new ones for `name`; undefined when none does. */
  blockedUntil(name: string): number | undefined;
}

/** At most this many names are looked up, asked about or ordered at once; more get the fallback at once. */
const MAX_ATTEMPTS_IN_FLIGHT = 100;

export interface OnDemandPolicyOptions {
  readonly config: OnDemandConfig;
  readonly issuer: OnDemandIssuer;
  readonly logger: Logger;
  /** Counts one decision (rampart_on_demand_decisions_total). */
  readonly count: (result: OnDemandResult) => void;
  /** How long a handshake waits for a new certificate, in ms (the listener's handshake timeout may cap the configured one). */
  readonly handshakeWaitMs?: number;
  /**
   * Names the config lists that ACME does not certify (exact route hosts served by a static or the
   * self-signed certificate): never certified on demand.
   */
  readonly configured?: (name: string) => boolean;
  /** Defaults to GET config.ask with config.askTimeout. */
  readonly ask?: AskClient;
  readonly rate?: IssuanceRate;
}

export class OnDemandPolicy {
  readonly handshakeWaitMs: number;
  readonly ask: AskClient;
  readonly rate: IssuanceRate;
  readonly #config: OnDemandConfig;
  readonly #issuer: OnDemandIssuer;
  readonly #logger: Logger;
  readonly #count: (result: OnDemandResult) => void;
  readonly #configured: (name: string) => boolean;
  /** Attempts under way, by canonical name; each settles with whether the name is now served. */
  readonly #attempts = new Map<string, Promise<boolean>>();

  constructor(options: OnDemandPolicyOptions) {
    const { config } = options;
    this.#config = config;
    this.#issuer = options.issuer;
    this.#logger = options.logger;
    this.#count = options.count;
    this.#configured = options.configured ?? (() => false);
    this.handshakeWaitMs = options.handshakeWaitMs ?? config.handshakeTimeout;
    this.ask = options.ask ?? new AskClient(httpAsk(config.ask, config.askTimeout), { allowTtl: config.allowTtl, denyTtl: config.denyTtl });
    this.rate = options.rate ?? new IssuanceRate(config.rate);
  }

  /**
   * For a handshake naming `servername`, which no certificate serves: undefined when the handshake
   * should get the fallback at once, else an attempt that resolves (never rejects) with whether the
   * name has its certificate now.
   */
  certificateFor(servername: string): Promise<boolean> | undefined {
    const checked = checkServerName(servername);
    if (!checked.ok) {
      this.#count("refused_name");
      this.#logger.debug({ servername, reason: checked.reason }, "on-demand TLS: name refused");
      return undefined;
    }
    const name = checked.name;
    const running = this.#attempts.get(name);
    if (running !== undefined) return running;
    // A configured name (or an on-demand one already certified) follows the ACME manager's own schedule,
    // or is the operator's to certify.
    if (this.#issuer.has(name) || this.#configured(name)) return undefined;
    if (!withinSuffixes(name, this.#config.suffixes)) {
      this.#count("refused_name");
      this.#logger.debug({ domain: name, reason: "outside_suffixes" }, "on-demand TLS: name refused");
      return undefined;
    }
    if (this.#attempts.size >= MAX_ATTEMPTS_IN_FLIGHT) {
      this.#count("rate_limited");
      // Only a flood gets here: debug, so it cannot flood the log as well.
      this.#logger.debug({ domain: name, inFlight: this.#attempts.size }, "on-demand TLS: too many names pending at once; fallback served");
      return undefined;
    }
    const attempt = this.#attempt(name).finally(() => this.#attempts.delete(name));
    this.#attempts.set(name, attempt);
    return attempt;
  }

  /** Whether the ask endpoint (cached) still allows `name`: asked before an on-demand certificate is renewed. */
  async allowsRenewal(name: string): Promise<boolean> {
    const decision = await this.ask.decide(name);
    if (decision.answer !== "allowed") this.#logger.info({ domain: name, ...describe(decision) }, "on-demand TLS: renewal not allowed by ask; the certificate is served until it expires");
    return decision.answer === "allowed";
  }

  async #attempt(name: string): Promise<boolean> {
    try {
      if (await this.#adoptStored(name)) return true;
      // A recent failed order: no question, and no slot of the rate caps spent on an order that cannot start.
      const blockedUntil = this.#issuer.blockedUntil(name);
      if (blockedUntil !== undefined) {
        this.#count("rate_limited");
        this.#logger.debug({ domain: name, until: new Date(blockedUntil).toISOString() }, "on-demand TLS: a failed order blocks the name for now");
        return false;
      }
      const decision = await this.ask.decide(name);
      // A fresh decision is logged at info; a repeat from the cache at debug, so a client retrying a
      // refused name adds no log line per handshake.
      const log = decision.cached ? this.#logger.debug.bind(this.#logger) : this.#logger.info.bind(this.#logger);
      if (decision.answer !== "allowed") {
        this.#count(decision.answer === "denied" ? "denied" : "ask_error");
        log({ domain: name, ...describe(decision) }, decision.answer === "denied" ? "on-demand TLS: ask denied the name" : "on-demand TLS: ask failed; name denied");
        return false;
      }
      const cap = this.rate.take(name);
      if (cap !== undefined) {
        this.#count("rate_limited");
        log({ domain: name, cap }, "on-demand TLS: order rate reached; fallback served, no order");
        return false;
      }
      this.#count("allowed");
      this.#logger.info({ domain: name, cached: decision.cached }, "on-demand TLS: ask allowed the name; ordering");
      await this.#issuer.certifyOnDemand(name);
      return true;
    } catch (error) {
      this.#logger.warn({ err: error, domain: name }, "on-demand TLS: no certificate obtained; fallback served");
      return false;
    }
  }

  async #adoptStored(name: string): Promise<boolean> {
    let adopted: boolean;
    try {
      adopted = await this.#issuer.adoptOnDemand(name);
    } catch (error) {
      // The store is down or holds something unusable: carry on as if nothing were stored (ordering needs the store too).
      this.#logger.warn({ err: error, domain: name }, "on-demand TLS: stored certificate not loaded");
      return false;
    }
    if (adopted) {
      this.#count("stored");
      this.#logger.info({ domain: name }, "on-demand TLS: stored certificate served");
    }
    return adopted;
  }
}

function describe(decision: AskDecision): Record<string, unknown> {
  return { cached: decision.cached, ...(decision.status !== undefined ? { status: decision.status } : {}), ...(decision.error !== undefined ? { error: decision.error } : {}) };
}

// The ACME account and one order, on acme-client. The account key is created once, stored, and
// reused by every instance (in Redis mode the first instance's key wins). acme-client's own pre-check
// of challenges over real DNS is skipped: the ACME server does the real validation, and the pre-check
// cannot see a challenge answered by another instance of the fleet.
import { readFile } from "node:fs/promises";
import https from "node:https";
import { rootCertificates } from "node:tls";
import * as acme from "acme-client";
import type { AcmeConfig } from "../../config/schema.js";
import { CodedError } from "../../observability/coded-error.js";
import type { Logger } from "../../observability/logger.js";
import type { CertStore } from "../../state/cert-store.js";
import type { PemPair } from "../../state/pem-pair.js";
import { probeDirectory, setAcmeHttpsAgent } from "./acme-http.js";
import { Dns01Challenge } from "./dns/dns01-challenge.js";
import { DnsChallengeError } from "./dns/dns-errors.js";

/** How long a challenge answer is kept: longer than any validation takes. */
const CHALLENGE_TTL_MS = 10 * 60_000;

/**
 * An order that failed. Its code: a DNS-01 code (DNS_UPDATE_REFUSED, DNS_PROPAGATION_TIMEOUT, ...) when
 * the challenge could not be published, ACME_VALIDATION_FAILED once the CA validated and refused, else
 * ACME_ORDER_FAILED (the CA unreachable or refusing the order).
 */
export class OrderFailure extends CodedError<string> {
  constructor(
    message: string,
    /** True when an order reached validation (counts against the CA's failed-validation limits). */
    readonly validationAttempted: boolean,
    options?: { cause?: unknown },
  ) {
    const dnsCode = options?.cause instanceof DnsChallengeError ? options.cause.code : undefined;
    super(dnsCode ?? (validationAttempted ? "ACME_VALIDATION_FAILED" : "ACME_ORDER_FAILED"), message, options);
  }
}

export class AcmeAccount {
  readonly #config: AcmeConfig;
  readonly #store: CertStore;
  // One account for every concurrent order: the first caller creates it, the others wait for it.
  #client: Promise<acme.Client> | undefined;
  readonly #dns: Dns01Challenge | undefined;

  constructor(config: AcmeConfig, store: CertStore, logger: Logger) {
    this.#config = config;
    this.#store = store;
    this.#dns = config.challenge === "dns-01" && config.dns !== undefined ? new Dns01Challenge(config.dns, logger) : undefined;
  }

  /** Trusts `caFile` for the ACME server itself (private CAs, test servers), besides the public roots. */
  static async trustCa(caFile: string): Promise<void> {
    // acme-client sets no timeout: one stalled CA connection would hold a name in "ordering" for ever.
    acme.axios.defaults.timeout = 30_000;
    if (caFile === "") return;
    const ca = await readFile(caFile, "utf8");
    const agent = new https.Agent({ ca: [...rootCertificates, ca], keepAlive: true });
    acme.axios.defaults.httpsAgent = agent;
    setAcmeHttpsAgent(agent);
  }

  /** Orders a certificate for `domain`; the new key is ECDSA P-256 like every certificate Rampart makes. */
  async order(domain: string): Promise<PemPair> {
    let validationAttempted = false;
    try {
      // Fails fast and says why when the server cannot be reached (acme-client would retry for 75 s).
      await probeDirectory(this.#config.directoryUrl);
      const client = await this.#account();
      const [key, csr] = await acme.crypto.createCsr({ commonName: domain, altNames: [domain] }, await acme.crypto.createPrivateEcdsaKey("P-256"));
      const cert = await client.auto({
        csr,
        email: this.#config.email || undefined,
        termsOfServiceAgreed: true,
        challengePriority: [this.#config.challenge],
        skipChallengeVerification: true,
        challengeCreateFn: async (authz, challenge, keyAuthorization) => {
          if (challenge.type === "dns-01") {
            // Publishing and propagation come before the CA hears of it: a failure here burns no validation.
            await this.#dnsChallenge().present(authz.identifier.value, keyAuthorization);
            validationAttempted = true;
            return;
          }
          validationAttempted = true;
          if (challenge.type === "http-01") {
            await this.#store.putChallenge(`http-01:${challenge.token}`, keyAuthorization, CHALLENGE_TTL_MS);
          } else {
            const [alpnKey, alpnCert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
            const pem = JSON.stringify({ key: alpnKey.toString(), cert: alpnCert.toString() });
            await this.#store.putChallenge(`tls-alpn-01:${authz.identifier.value}`, pem, CHALLENGE_TTL_MS);
          }
        },
        challengeRemoveFn: async (authz, challenge, keyAuthorization) => {
          if (challenge.type === "dns-01") return this.#dnsChallenge().cleanup(authz.identifier.value, keyAuthorization);
          await this.#store.deleteChallenge(challenge.type === "http-01" ? `http-01:${challenge.token}` : `tls-alpn-01:${authz.identifier.value}`);
        },
      });
      return { key: key.toString(), cert };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new OrderFailure(message, validationAttempted, { cause: error });
    }
  }

  #dnsChallenge(): Dns01Challenge {
    if (this.#dns === undefined) throw new Error("the CA offered dns-01 but tls.acme.dns is not configured");
    return this.#dns;
  }

  #account(): Promise<acme.Client> {
    this.#client ??= this.#createAccount().catch((error: unknown) => {
      this.#client = undefined; // the next order tries again
      throw error;
    });
    return this.#client;
  }

  async #createAccount(): Promise<acme.Client> {
    let accountKey = await this.#store.getAccountKey();
    if (accountKey === undefined) {
      await this.#store.putAccountKey((await acme.crypto.createPrivateEcdsaKey("P-256")).toString());
      accountKey = (await this.#store.getAccountKey())!;
    }
    const eab = this.#config.eab;
    const client = new acme.Client({
      directoryUrl: this.#config.directoryUrl,
      accountKey,
      // acme-client polls a challenge and an order first after 5 s (then 10, 20, 30...): most validations
      // finish within a second, so every order took 5 s more, and an on-demand handshake (5 s budget) got
      // the fallback (measured: 7 of 12 HTTP-01 orders against pebble). From 1 s, doubling to 10 s, for
      // about 95 s in all: still a handful of polls per order.
      backoffMin: 1_000,
      backoffMax: 10_000,
      backoffAttempts: 12,
      externalAccountBinding: eab.kid !== "" ? { kid: eab.kid, hmacKey: eab.hmacKey } : undefined,
    });
    await this.#register(client);
    return client;
  }

  /**
   * Registers once per process, before any order (auto() would otherwise register in every concurrent
   * order). A key the CA already knows (an earlier run, another instance) is looked up, not re-created:
   * acme-client answers a "new account" that already exists with an update carrying only
   * termsOfServiceAgreed, which a CA may refuse as an empty update.
   */
  async #register(client: acme.Client): Promise<void> {
    try {
      await client.createAccount({ onlyReturnExisting: true });
      return;
    } catch {
      // No account for this key yet (if the lookup failed for another reason, creating fails too and says why).
    }
    const contact = this.#config.email !== "" ? { contact: [`mailto:${this.#config.email}`] } : {};
    try {
      await client.createAccount({ termsOfServiceAgreed: true, ...contact });
    } catch (error) {
      // Another instance sharing the key may have registered it at the same moment: use that account.
      await client.createAccount({ onlyReturnExisting: true }).catch(() => Promise.reject(error));
    }
  }
}

// DNS-01 for acme-client's auto(): publish `_acme-challenge.<name>.` through the provider, wait until
// the resolvers see it, then let acme-client tell the CA. acme-client calls remove in a `finally`, so
// the record goes also when validation or the order fails; a removal failure is logged (a stale TXT
// record is harmless but an operator should know).
import type { AcmeDnsConfig } from "../../../config/schema.js";
import type { Logger } from "../../../observability/logger.js";
import { createDnsProvider, type DnsProvider } from "./dns-provider.js";
import { waitForTxt } from "./propagation.js";

export class Dns01Challenge {
  readonly #config: AcmeDnsConfig;
  readonly #logger: Logger;
  readonly #provider: DnsProvider;

  constructor(config: AcmeDnsConfig, logger: Logger, provider?: DnsProvider) {
    this.#config = config;
    this.#logger = logger;
    this.#provider = provider ?? createDnsProvider(config);
  }

  /** `identifier` is the authorization's name: "example.com" also for "*.example.com" (RFC 8555 §7.1.3). */
  static recordName(identifier: string): string {
    return `_acme-challenge.${identifier.replace(/\.$/, "")}.`;
  }

  async present(identifier: string, value: string): Promise<void> {
    const fqdn = Dns01Challenge.recordName(identifier);
    const started = Date.now();
    await this.#provider.present(fqdn, value);
    this.#logger.info({ record: fqdn, provider: this.#config.provider }, "DNS-01 record published; waiting for it to propagate");
    const { resolvers, propagationTimeout, propagationInterval } = this.#config;
    await waitForTxt(fqdn, value, { resolvers, timeout: propagationTimeout, interval: propagationInterval });
    this.#logger.info({ record: fqdn, ms: Date.now() - started }, "DNS-01 record visible; asking the CA to validate");
  }

  async cleanup(identifier: string, value: string): Promise<void> {
    const fqdn = Dns01Challenge.recordName(identifier);
    try {
      await this.#provider.cleanup(fqdn, value);
    } catch (error) {
      this.#logger.warn({ err: error, record: fqdn, provider: this.#config.provider }, "DNS-01 record not removed; delete it by hand");
    }
  }
}

// httpreq: lego's contract, POST {"fqdn", "value"} as JSON to <url>/present and <url>/cleanup, with
// basic authentication when configured: a few lines of glue in front of any in-house DNS API.
import type { AcmeDnsConfig } from "../../../config/schema.js";
import { basicAuth, postJson } from "./dns-api.js";
import type { DnsProvider } from "./dns-provider.js";

type HttpReqConfig = NonNullable<AcmeDnsConfig["httpreq"]>;

export class HttpReqProvider implements DnsProvider {
  readonly #base: string;
  readonly #headers: Record<string, string>;

  constructor(config: HttpReqConfig) {
    this.#base = config.url.replace(/\/+$/, "");
    this.#headers = basicAuth(config.username, config.password);
  }

  present(fqdn: string, value: string): Promise<void> {
    return postJson(`${this.#base}/present`, { fqdn, value }, this.#headers);
  }

  cleanup(fqdn: string, value: string): Promise<void> {
    return postJson(`${this.#base}/cleanup`, { fqdn, value }, this.#headers);
  }
}

// acme-dns (https://github.com/joohoi/acme-dns): POST <url>/update {subdomain, txt} with X-Api-User and
// X-Api-Key. The operator points _acme-challenge.NAME at <subdomain>.<acme-dns zone> with a CNAME once;
// the propagation check follows it. acme-dns keeps the two latest values and has no delete, so cleanup
// has nothing to do.
import type { AcmeDnsConfig } from "../../../config/schema.js";
import { postJson } from "./dns-api.js";
import type { DnsProvider } from "./dns-provider.js";

type AcmeDnsApiConfig = NonNullable<AcmeDnsConfig["acmeDns"]>;

export class AcmeDnsProvider implements DnsProvider {
  readonly #config: AcmeDnsApiConfig;

  constructor(config: AcmeDnsApiConfig) {
    this.#config = config;
  }

  present(_fqdn: string, value: string): Promise<void> {
    const { url, username, password, subdomain } = this.#config;
    return postJson(`${url.replace(/\/+$/, "")}/update`, { subdomain, txt: value }, { "x-api-user": username, "x-api-key": password });
  }

  cleanup(): Promise<void> {
    return Promise.resolve();
  }
}

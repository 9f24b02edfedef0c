// A DNS-01 provider publishes and removes the TXT record `_acme-challenge.<name>.` (lego's contract:
// `present` and `cleanup` with the record's FQDN, ending with a dot, and the value). Generic providers
// only, no vendor SDKs: anything with an API can be reached through exec or httpreq.
import type { AcmeDnsConfig } from "../../../config/schema.js";
import { AcmeDnsProvider } from "./acme-dns-provider.js";
import { ExecProvider } from "./exec-provider.js";
import { HttpReqProvider } from "./httpreq-provider.js";
import { Rfc2136Provider } from "./rfc2136-provider.js";

export interface DnsProvider {
  present(fqdn: string, value: string): Promise<void>;
  cleanup(fqdn: string, value: string): Promise<void>;
}

/** The provider the config names; the schema guarantees its block is there. */
export function createDnsProvider(config: AcmeDnsConfig): DnsProvider {
  switch (config.provider) {
    case "rfc2136":
      return new Rfc2136Provider(config.rfc2136!);
    case "exec":
      return new ExecProvider(config.exec!);
    case "httpreq":
      return new HttpReqProvider(config.httpreq!);
    case "acme-dns":
      return new AcmeDnsProvider(config.acmeDns!);
  }
}

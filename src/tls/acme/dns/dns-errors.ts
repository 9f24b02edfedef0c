// Why a DNS-01 challenge could not be published or seen, with a stable code for logs, the status page
// and the CLI (the message says the rest: the server's answer, the hook's stderr, the record's name).
import { CodedError } from "../../../observability/coded-error.js";

export type DnsChallengeErrorCode =
  /** The DNS server refused the UPDATE (NOTAUTH, REFUSED, a bad TSIG signature, ...). */
  | "DNS_UPDATE_REFUSED"
  /** The DNS server could not be reached, or did not answer in time. */
  | "DNS_UPDATE_UNREACHABLE"
  /** The answer to a signed UPDATE was unsigned or its signature did not verify. */
  | "DNS_UPDATE_UNVERIFIED"
  /** The exec hook exited non-zero or timed out. */
  | "DNS_HOOK_FAILED"
  /** The httpreq / acme-dns API answered non-2xx or could not be reached. */
  | "DNS_API_FAILED"
  /** The record was not visible at every resolver within tls.acme.dns.propagationTimeout. */
  | "DNS_PROPAGATION_TIMEOUT"
  /** No zone for the record's name was found (rfc2136 with zone ""). */
  | "DNS_ZONE_NOT_FOUND";

export class DnsChallengeError extends CodedError<DnsChallengeErrorCode> {}

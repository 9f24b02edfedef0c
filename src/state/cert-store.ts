// Where ACME state lives: issued certificates with their keys, the ACME account key, pending challenge
// answers and the per-name order lock. In memory mode, files under tls.certDir (keys 0600) and maps in
// this process; in Redis mode, keys in Redis, so every instance serves the same certificate, answers
// a challenge whichever instance the ACME server reaches, and only one instance orders a given name.
import type { PemPair } from "./pem-pair.js";

export interface CertStore {
  readonly kind: "memory" | "redis";
  getCertificate(domain: string): Promise<PemPair | undefined>;
  putCertificate(domain: string, pem: PemPair): Promise<void>;
  getAccountKey(): Promise<string | undefined>;
  putAccountKey(pem: string): Promise<void>;
  /** An HTTP-01 key authorization or a TLS-ALPN-01 certificate (JSON), kept for `ttlMs`. */
  putChallenge(name: string, value: string, ttlMs: number): Promise<void>;
  getChallenge(name: string): Promise<string | undefined>;
  deleteChallenge(name: string): Promise<void>;
  /** A lock that expires on its own (a crashed holder never blocks for ever); the token to release it, or undefined when held elsewhere. */
  acquireLock(name: string, ttlMs: number): Promise<string | undefined>;
  releaseLock(name: string, token: string): Promise<void>;
  /** Where the store can tell: a certificate was stored (by any instance), so it can be adopted at once. */
  onChange?(listener: (domain: string) => void): void;
}

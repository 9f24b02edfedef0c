/** A certificate (PEM, leaf first, optionally followed by its chain) and its private key (PEM). */
export interface PemPair {
  readonly key: string;
  readonly cert: string;
}

/** Where a certificate came from, as reported by GET /api/certificates. */
export type CertificateSource = "acme" | "static" | "self-signed";

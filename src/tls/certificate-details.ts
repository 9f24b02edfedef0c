// What Rampart needs to know about a certificate, parsed once when it is loaded or installed.
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import type { PemPair } from "../state/pem-pair.js";

export interface CertificateDetails {
  /** DNS subject alternative names, lower case; wildcards kept as "*.example.com". */
  readonly dnsNames: readonly string[];
  /** IP subject alternative names in canonical text form ("127.0.0.1", "::1"). */
  readonly ipAddresses: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Issuer distinguished name on one line: "C=US, O=Let's Encrypt, CN=R3". */
  readonly issuer: string;
  readonly fingerprint256: string;
  /** "ec", "rsa", "ed25519"...: mixing key types breaks SNI (see certificate-resolver.ts). */
  readonly keyType: string;
}

/** What to call the certificate and key in error messages: usually their file names. */
export interface PemLabels {
  readonly cert: string;
  readonly key: string;
}

/** Parses the leaf certificate and checks that the private key belongs to it. */
export function inspectPemPair(pair: PemPair, labels: PemLabels): CertificateDetails {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pair.cert);
  } catch (error) {
    throw new Error(`certificate "${labels.cert}" is not a PEM X.509 certificate: ${describe(error)}`, { cause: error });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pair.key);
  } catch (error) {
    throw new Error(`private key "${labels.key}" is not an unencrypted PEM private key: ${describe(error)}`, { cause: error });
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new Error(`private key "${labels.key}" does not belong to certificate "${labels.cert}"`);
  }
  const altNames = parseSubjectAltName(certificate.subjectAltName ?? "");
  return {
    dnsNames: altNames.dns,
    ipAddresses: altNames.ip,
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
    issuer: certificate.issuer.split("\n").join(", "),
    fingerprint256: certificate.fingerprint256,
    keyType: certificate.publicKey.asymmetricKeyType ?? "unknown",
  };
}

/** Whether the certificate names `host`: literally, or through a wildcard covering exactly one label. */
export function certificateCovers(details: CertificateDetails, host: string): boolean {
  const name = host.toLowerCase();
  if (details.dnsNames.includes(name)) return true;
  const dot = name.indexOf(".");
  return !name.startsWith("*.") && dot > 0 && details.dnsNames.includes(`*${name.slice(dot)}`);
}

// Node renders the extension as `DNS:a.example.com, IP Address:127.0.0.1`, quoting (JSON) any value
// that contains characters which would make that list ambiguous.
const ALT_NAME = /(DNS|IP Address):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;

function parseSubjectAltName(text: string): { dns: string[]; ip: string[] } {
  const dns: string[] = [];
  const ip: string[] = [];
  for (const [, kind, raw = ""] of text.matchAll(ALT_NAME)) {
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    if (kind === "DNS") dns.push(value.toLowerCase());
    else ip.push(canonicalIp(value));
  }
  return { dns, ip };
}

/** Node prints IPv6 SANs uncompressed ("0:0:0:0:0:0:0:1"); the URL parser compresses them. */
export function canonicalIp(address: string): string {
  const bare = address.startsWith("[") ? address.slice(1, -1) : address;
  if (!bare.includes(":")) return bare;
  try {
    return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  } catch {
    return bare.toLowerCase();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

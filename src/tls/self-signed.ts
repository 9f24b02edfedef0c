// Development fallback certificate. ECDSA P-256 like every certificate Rampart makes: mixing key types
// between the default context and SNI contexts made TLS 1.3 clients receive the wrong certificate
// (DESIGN.md, "Libraries").
import { webcrypto } from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";
import { canonicalIp } from "./certificate-details.js";
import type { PemPair } from "../state/pem-pair.js";

// Same object at run time; @types/node types it apart from the global Crypto that x509 expects.
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const DAY_MS = 86_400_000;
const KEY_ALGORITHM: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
/** Always present so local tools (curl https://localhost, health probes) work without SNI tricks. */
export const LOCAL_NAMES: readonly string[] = ["localhost", "127.0.0.1", "::1"];

export interface SelfSignedOptions {
  readonly validityDays?: number;
  readonly now?: Date;
}

/** A self-signed certificate for `hostnames` plus localhost, 127.0.0.1 and ::1. */
export async function generateSelfSigned(hostnames: readonly string[], options: SelfSignedOptions = {}): Promise<PemPair> {
  const now = options.now ?? new Date();
  const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    // Backdated so a client whose clock is a little behind does not see a not-yet-valid certificate.
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter: new Date(now.getTime() + (options.validityDays ?? 365) * DAY_MS),
    name: "CN=Rampart self-signed, O=Rampart",
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(subjectAltNames(hostnames)),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    key: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
    cert: certificate.toString("pem"),
  };
}

function subjectAltNames(hostnames: readonly string[]): x509.JsonGeneralName[] {
  const unique = new Set<string>();
  for (const name of [...hostnames, ...LOCAL_NAMES]) {
    // Route hosts may be IP literals ("[::1]"); a certificate names those as IP addresses.
    const ip = canonicalIp(name);
    unique.add(isIP(ip) === 0 ? name.toLowerCase() : ip);
  }
  return [...unique].map((value) => ({ type: isIP(value) === 0 ? "dns" : "ip", value }));
}

// The self-signed fallback is generated at first start and kept under certDir, so browsers that were
// told to trust it once keep trusting it across restarts.
import { isIP } from "node:net";
import { join } from "node:path";
import type { Logger } from "../observability/logger.js";
import { isMissingFile, readPemPair, writePemPair } from "./cert-files.js";
import { canonicalIp, inspectPemPair, type CertificateDetails } from "./certificate-details.js";
import type { PemPair } from "../state/pem-pair.js";
import { LOCAL_NAMES, generateSelfSigned } from "./self-signed.js";

const BASE_NAME = "self-signed";
/** Regenerated this long before expiry, at start-up: nothing renews it while running. */
const MIN_REMAINING_MS = 7 * 86_400_000;

export interface StoredCertificate {
  readonly pem: PemPair;
  readonly details: CertificateDetails;
}

export async function loadOrCreateSelfSigned(
  certDir: string,
  hostnames: readonly string[],
  logger: Logger,
  now: Date = new Date(),
): Promise<StoredCertificate> {
  const stored = await loadStored(certDir, logger);
  if (stored !== undefined) {
    const problem = unsuitability(stored.details, hostnames, now);
    if (problem === undefined) return stored;
    logger.info({ certDir, reason: problem }, "replacing the stored self-signed certificate");
  }
  const pem = await generateSelfSigned(hostnames, { now });
  const details = inspectPemPair(pem, { cert: "generated self-signed certificate", key: "generated self-signed key" });
  const files = await writePemPair(certDir, BASE_NAME, pem);
  logger.warn(
    { certFile: files.certFile, names: details.dnsNames, notAfter: details.notAfter.toISOString() },
    "generated a self-signed certificate; browsers will not trust it (development fallback)",
  );
  return { pem, details };
}

async function loadStored(certDir: string, logger: Logger): Promise<StoredCertificate | undefined> {
  const files = { certFile: join(certDir, `${BASE_NAME}.crt`), keyFile: join(certDir, `${BASE_NAME}.key`) };
  try {
    const pem = await readPemPair(files);
    return { pem, details: inspectPemPair(pem, { cert: files.certFile, key: files.keyFile }) };
  } catch (error) {
    // A damaged fallback is not worth refusing to start over: it is replaced by a fresh one.
    if (!isMissingFile(error)) logger.warn({ err: error }, "ignoring the stored self-signed certificate");
    return undefined;
  }
}

function unsuitability(details: CertificateDetails, hostnames: readonly string[], now: Date): string | undefined {
  if (details.keyType !== "ec") return `key type is ${details.keyType}, not ECDSA`;
  if (details.notAfter.getTime() - now.getTime() <= MIN_REMAINING_MS) return "expires within 7 days";
  const missing = [...hostnames, ...LOCAL_NAMES].filter((name) => !namesHost(details, name));
  return missing.length > 0 ? `does not name ${missing.join(", ")}` : undefined;
}

/** Literal presence, not wildcard matching: the stored certificate must list every requested name itself. */
function namesHost(details: CertificateDetails, host: string): boolean {
  const ip = canonicalIp(host);
  return isIP(ip) !== 0 ? details.ipAddresses.includes(ip) : details.dnsNames.includes(host.toLowerCase());
}

// ACME Renewal Information (ARI, RFC 9773): the CA's suggested renewal window for a certificate, so a
// CA can pull renewals earlier (e.g. before a mass revocation) or spread them out. Used when the
// directory advertises `renewalInfo`; otherwise the local rule (renewBefore / a third of the lifetime)
// decides alone.
import * as x509 from "@peculiar/x509";
import { getJson } from "./acme-http.js";

export interface RenewalWindow {
  readonly start: Date;
  readonly end: Date;
}

/** The CA's suggested window, or undefined when the CA offers no ARI or the answer is unusable. */
export async function fetchRenewalWindow(directoryUrl: string, certPem: string): Promise<RenewalWindow | undefined> {
  const directory = (await getJson(directoryUrl, 10_000)).body as { renewalInfo?: unknown } | undefined;
  if (typeof directory?.renewalInfo !== "string") return undefined;
  const response = await getJson(`${directory.renewalInfo.replace(/\/$/, "")}/${certificateId(certPem)}`, 10_000);
  if (response.status !== 200) return undefined;
  const window = (response.body as { suggestedWindow?: { start?: string; end?: string } } | undefined)?.suggestedWindow;
  const start = Date.parse(window?.start ?? "");
  const end = Date.parse(window?.end ?? "");
  if (Number.isNaN(start) || Number.isNaN(end) || end < start) return undefined;
  return { start: new Date(start), end: new Date(end) };
}

/** RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(DER serial number). */
export function certificateId(certPem: string): string {
  const certificate = new x509.X509Certificate(certPem);
  const aki = certificate.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (aki?.keyId === undefined) throw new Error("certificate has no authority key identifier");
  return `${base64url(Buffer.from(aki.keyId, "hex"))}.${base64url(serialBytes(certificate.serialNumber))}`;
}

/** The serial as its DER INTEGER content: a leading zero byte when the high bit is set. */
function serialBytes(hex: string): Buffer {
  const even = hex.length % 2 === 0 ? hex : `0${hex}`;
  const bytes = Buffer.from(even, "hex");
  return bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}

function base64url(bytes: Buffer): string {
  return bytes.toString("base64url");
}

/** A moment chosen uniformly within the window, as RFC 9773 §4.2 asks of clients. */
export function pickInWindow(window: RenewalWindow, random: () => number = Math.random): Date {
  const start = window.start.getTime();
  return new Date(start + random() * (window.end.getTime() - start));
}

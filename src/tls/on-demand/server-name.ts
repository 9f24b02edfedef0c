// Which SNI names on-demand TLS may even consider: a DNS host name a public CA could certify, lowercased
// and without its root dot. IP literals, single labels, wildcards, underscores and anything else a
// scanner sends are refused before the ask endpoint or the store hear of them.
import { isIP } from "node:net";

/** One label: letters, digits and inner hyphens, 1 to 63 characters (RFC 1123). */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const NUMERIC = /^[0-9]+$/;

export type NameCheck = { readonly ok: true; readonly name: string } | { readonly ok: false; readonly reason: "ip_literal" | "malformed" };

/** The canonical form of `servername` (lowercase, no trailing dot) when on-demand TLS may certify it. */
export function checkServerName(servername: string): NameCheck {
  let name = servername.toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1);
  if (isIP(name) !== 0 || (name.startsWith("[") && name.endsWith("]"))) return { ok: false, reason: "ip_literal" };
  if (name.length === 0 || name.length > 253) return { ok: false, reason: "malformed" };
  const labels = name.split(".");
  // A single label (localhost, an intranet name) is not certifiable; an all-digit last label is no TLD
  // (it is what a mistyped IPv4 address looks like).
  if (labels.length < 2 || NUMERIC.test(labels[labels.length - 1]!)) return { ok: false, reason: "malformed" };
  for (const label of labels) if (!LABEL.test(label)) return { ok: false, reason: "malformed" };
  return { ok: true, name };
}

/**
 * Whether `name` (canonical) ends in one of `suffixes`: ".example.com" covers the names below
 * example.com only, "example.com" covers example.com itself too. No suffixes: every name.
 */
export function withinSuffixes(name: string, suffixes: readonly string[]): boolean {
  if (suffixes.length === 0) return true;
  for (const suffix of suffixes) {
    if (suffix.startsWith(".")) {
      if (name.length > suffix.length && name.endsWith(suffix)) return true;
    } else if (name === suffix || (name.endsWith(suffix) && name.charCodeAt(name.length - suffix.length - 1) === 0x2e)) {
      return true;
    }
  }
  return false;
}

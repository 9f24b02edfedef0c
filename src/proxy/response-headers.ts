// The client's header block for an upstream's answer, built in one pass over the raw header list Node
// parsed: the upstream's `headers` object is never built (Node would make it from the same list, and
// writing it out would copy it once more). What never passes: hop-by-hop fields (RFC 9110 §7.6.1) and
// the upstream's framing (Node frames the answer for the client's own connection, HTTP/1.1 or h2), the
// fields the route sets or removes, and the ones Rampart writes itself.
import type { CompiledHeaderEdits } from "../routing/route.js";
import { HOP_BY_HOP, namedInConnection } from "./headers.js";

/** Never copied from an upstream answer: connection-level fields (HTTP/2 forbids them too) and Rampart's own. */
const NEVER_PASSED = new Set<string>([...HOP_BY_HOP, "transfer-encoding", "http2-settings", "x-request-id"]);

/**
 * `raw` is the upstream's `rawHeaders` ([name, value, name, value...], names as sent); the result is
 * the same kind of list for `writeHead`, which HTTP/1.1 and HTTP/2 responses both take. Names keep the
 * upstream's case; repeated fields stay repeated (each Set-Cookie on its own line).
 * `hsts` is the Strict-Transport-Security value to send, "" for none (then the upstream's passes).
 * The upstream's X-Request-Id never passes; the caller adds Rampart's (pipeline/own-headers.ts).
 */
export function clientResponseHeaders(raw: readonly string[], edits: CompiledHeaderEdits, setCookie: string | undefined, hsts: string): string[] {
  const list: string[] = [];
  const replaced = edits.names;
  let connection: string | undefined;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index]!;
    const lower = name.toLowerCase();
    if (NEVER_PASSED.has(lower)) {
      if (lower === "connection") connection = raw[index + 1];
      continue;
    }
    if (replaced.has(lower) || (hsts !== "" && lower === "strict-transport-security")) continue;
    list.push(name, raw[index + 1]!);
  }
  // Rare: an upstream naming more hop-by-hop fields in Connection; they may come before it.
  if (connection !== undefined) {
    const named = namedInConnection(connection.toLowerCase());
    if (named.length > 0) removeNamed(list, new Set(named));
  }
  for (const [name, value] of edits.set) list.push(name, value);
  if (setCookie !== undefined) list.push("set-cookie", setCookie);
  if (hsts !== "") list.push("strict-transport-security", hsts);
  return list;
}

function removeNamed(list: string[], names: ReadonlySet<string>): void {
  let kept = 0;
  for (let index = 0; index < list.length; index += 2) {
    if (names.has(list[index]!.toLowerCase())) continue;
    list[kept++] = list[index]!;
    list[kept++] = list[index + 1]!;
  }
  list.length = kept;
}

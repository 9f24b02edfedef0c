// Host header → the lower-case name routes are matched against: no port, no trailing dot.
// "[::1]:8443" keeps its brackets, like route hosts written for IPv6 literals.

const PLAIN_HOST = /^[a-z0-9.-]+$/;

/** Normalised host, "" when the header is absent, undefined when it is malformed (400). */
export function normalizeHost(header: string | undefined): string | undefined {
  if (header === undefined || header === "") return "";
  let host = header;
  if (host.charCodeAt(0) === 91 /* "[" */) {
    const end = host.indexOf("]");
    if (end === -1) return undefined;
    const rest = host.slice(end + 1);
    if (rest !== "" && !/^:\d{1,5}$/.test(rest)) return undefined;
    return host.slice(0, end + 1).toLowerCase();
  }
  const colon = host.indexOf(":");
  if (colon !== -1) {
    if (!/^\d{1,5}$/.test(host.slice(colon + 1))) return undefined;
    host = host.slice(0, colon);
  }
  host = host.toLowerCase();
  if (host.endsWith(".")) host = host.slice(0, -1);
  return PLAIN_HOST.test(host) ? host : undefined;
}

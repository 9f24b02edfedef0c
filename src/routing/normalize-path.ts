// Request paths are normalised before routing and the normalised form is what goes upstream, so the
// route that was matched is the path the backend sees: "/v1/../admin" and "/v1/%2e%2e/admin" are
// "/admin", never a way past a route. Same rules as WHATWG URL parsing (what a backend's URL parser
// applies), so the two cannot disagree: "\" is "/", "%2e" is ".", dot segments are removed.
// See RFC 3986 §5.2.4 (remove_dot_segments) and §6.2.2 (normalisation of percent-encoding).

// Anything that may need work: escapes, dot segments, double or back slashes, controls, spaces.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
const NEEDS_WORK = /%|\/\.|\/\/|\\|[\x00-\x20\x7f]/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** The normalised path, or undefined when the path is malformed (the caller answers 400). */
export function normalizePath(path: string): string | undefined {
  if (path.charCodeAt(0) !== 47 /* "/" */) return undefined;
  if (!NEEDS_WORK.test(path)) return path;

  const segments: string[] = [];
  for (const rawSegment of path.replace(/\\/g, "/").split("/").slice(1)) {
    const segment = decodeUnreserved(rawSegment);
    if (segment === undefined) return undefined;
    if (segment === ".") continue;
    if (segment === "..") {
      // Like nginx: a path that climbs above the root is an attack, not a request.
      if (segments.length === 0) return undefined;
      segments.pop();
      continue;
    }
    // Empty segments come from "//": merged, as nginx's merge_slashes does.
    if (segment !== "") segments.push(segment);
  }
  const trailingSlash = /\/(\.{1,2}|%2e|%2e%2e|\.%2e|%2e\.)?$/i.test(path) && segments.length > 0;
  return "/" + segments.join("/") + (trailingSlash ? "/" : "");
}

/** Decodes escapes of unreserved characters, upper-cases the rest; undefined for malformed input. */
function decodeUnreserved(segment: string): string | undefined {
  let out = "";
  for (let i = 0; i < segment.length; i++) {
    const char = segment[i]!;
    const code = segment.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f) return undefined;
    if (char !== "%") {
      out += char;
      continue;
    }
    const hex = segment.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
    const decoded = String.fromCharCode(parseInt(hex, 16));
    if (decoded === "\0") return undefined;
    out += UNRESERVED.test(decoded) ? decoded : "%" + hex.toUpperCase();
    i += 2;
  }
  return out;
}

// Reads host, path and query from the request line once, normalised, for every later stage.
// Absolute-form targets ("GET http://host/ HTTP/1.1", RFC 9112 §3.2.2) name the host themselves: one
// that no route names explicitly is answered 421 Misdirected Request, so Rampart is never usable as an
// open forward proxy (RFC 9110 §15.5.20 is the status for exactly this case).
import type { StageFactory } from "../pipeline/build-context.js";
import { replies } from "../pipeline/reply.js";
import { normalizeHost } from "./host.js";
import { normalizePath } from "./normalize-path.js";

export const requestTargetStage: StageFactory = ({ routes }) => ({
  name: "request-target",
  run(ctx) {
    const url = ctx.req.url ?? "";
    if (hasDuplicateHost(ctx.req.rawHeaders)) return replies.badRequest;
    let host: string | undefined;
    let pathAndQuery = url;
    if (url.charCodeAt(0) !== 47 /* "/" */) {
      const absolute = parseAbsoluteForm(url);
      if (absolute === undefined) return replies.badRequest;
      host = normalizeHost(absolute.host);
      if (host === undefined) return replies.badRequest;
      if (!routes.namesHost(host)) return replies.misdirected;
      // The authority of an absolute-form target replaces Host (RFC 9112 §3.2.2).
      ctx.req.headers.host = absolute.host;
      pathAndQuery = absolute.pathAndQuery;
    } else {
      host = normalizeHost(ctx.req.headers.host);
      if (host === undefined) return replies.badRequest;
    }

    const queryStart = pathAndQuery.indexOf("?");
    const rawPath = queryStart === -1 ? pathAndQuery : pathAndQuery.slice(0, queryStart);
    const path = normalizePath(rawPath);
    if (path === undefined) return replies.badRequest;
    ctx.host = host;
    ctx.path = path;
    ctx.query = queryStart === -1 ? "" : pathAndQuery.slice(queryStart);
    return undefined;
  },
});

/**
 * RFC 9112 §3.2: a request with more than one Host field line MUST be answered 400. Node keeps the
 * first and drops the others, so it is looked for in the raw headers (names at even indexes).
 */
function hasDuplicateHost(raw: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === "host") {
      if (seen) return true;
      seen = true;
    }
  }
  return false;
}

function parseAbsoluteForm(url: string): { host: string; pathAndQuery: string } | undefined {
  const match = /^https?:\/\/([^/?#@]+)([^#]*)$/i.exec(url);
  if (!match) return undefined;
  const rest = match[2]!;
  return { host: match[1]!, pathAndQuery: rest === "" || rest.startsWith("?") ? "/" + rest : rest };
}

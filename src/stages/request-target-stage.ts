// Reads host, path and query from the request line (or HTTP/2 pseudo-headers) once, normalised, for
// every later stage.
// Absolute-form targets ("GET http://host/ HTTP/1.1", RFC 9112 §3.2.2) name the host themselves: one
// that no route names explicitly is answered 421 Misdirected Request, so Rampart is never usable as an
// open forward proxy (RFC 9110 §15.5.20 is the status for exactly this case).
import type { PrefixStageFactory } from "./stage-factory.js";
import { replies, type Reply } from "../pipeline/answers.js";
import type { RequestContext } from "../pipeline/context.js";
import { normalizeHost } from "../routing/host.js";
import { normalizePath } from "../routing/normalize-path.js";

export const requestTargetStage: PrefixStageFactory = ({ routes, config }) => {
  const maxHeaderLines = config.limits.maxHeaderCount * 2;
  return {
    name: "request-target",
    run(ctx) {
      if (ctx.isHttp2) {
        const refusal = http2Target(ctx, maxHeaderLines);
        if (refusal !== undefined) return refusal;
        return splitTarget(ctx, ctx.req.url ?? "");
      }
      const req = ctx.req;
      const url = req.url ?? "";
      // Node keeps one line past the limit (listeners.ts sets maxHeadersCount so): more is refused, not cut.
      if (req.rawHeaders.length > maxHeaderLines) return replies.tooManyHeaders;
      // Node's parser also takes "HTTP/2.0" and "HTTP/0.9" request lines; this listener speaks 1.x only.
      if (req.httpVersionMajor !== 1) return replies.versionNotSupported;
      if (hasDuplicateHost(req.rawHeaders)) return replies.badRequest;
      // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400, whatever form its target takes.
      const hostless = req.headers.host === undefined;
      if (hostless && req.httpVersionMinor !== 0) return replies.badRequest;
      let host: string | undefined;
      let pathAndQuery = url;
      if (url.charCodeAt(0) !== 47 /* "/" */) {
        const absolute = parseAbsoluteForm(url);
        if (absolute === undefined) return replies.badRequest;
        host = normalizeHost(absolute.host);
        if (host === undefined) return replies.badRequest;
        if (!routes.namesHost(host)) return replies.misdirected;
        // The target's authority wins over Host, but an invalid Host is still a 400 (RFC 9110 §7.2).
        if (!hostless && normalizeHost(req.headers.host!) === undefined) return replies.badRequest;
        // The authority of an absolute-form target replaces Host (RFC 9112 §3.2.2).
        ctx.req.headers.host = absolute.host;
        pathAndQuery = absolute.pathAndQuery;
      } else {
        if (hostless) {
          // HTTP/1.0 may omit Host: such a request matches only routes without a host, and goes upstream
          // naming the address the client reached (as nginx's $host falls back to the server's name),
          // never the backend's.
          req.headers.host = localAuthority(req.socket);
          host = "";
        } else {
          host = normalizeHost(req.headers.host!);
          if (host === undefined) return replies.badRequest;
        }
      }

      ctx.host = host;
      return splitTarget(ctx, pathAndQuery);
    },
  };
};

function splitTarget(ctx: RequestContext, pathAndQuery: string): Reply | undefined {
  const queryStart = pathAndQuery.indexOf("?");
  const rawPath = queryStart === -1 ? pathAndQuery : pathAndQuery.slice(0, queryStart);
  const path = normalizePath(rawPath);
  if (path === undefined) return replies.badRequest;
  ctx.path = path;
  ctx.query = queryStart === -1 ? "" : pathAndQuery.slice(queryStart);
  return undefined;
}

/**
 * The same questions for an HTTP/2 stream. nghttp2 has already checked its form (RFC 9113 §8.2-8.3):
 * pseudo-headers, no connection-specific fields, names in lower-case token characters, and it drops any
 * field whose value HTTP/1.1 could not carry either (CR, LF, NUL, other controls), so nothing of that
 * kind reaches an HTTP/1.1 upstream. What is left: the authority is `:authority`, and a `host` field
 * naming another is refused (§8.3.1), as two Host lines are for HTTP/1.1.
 */
function http2Target(ctx: RequestContext, maxHeaderLines: number): Reply | undefined {
  const req = ctx.req;
  // CONNECT carries no :path (RFC 9113 §8.5); extended CONNECT is not offered.
  if (req.method === "CONNECT") return replies.methodNotAllowed;
  // Four pseudo-headers come in the raw list besides the header lines.
  if (req.rawHeaders.length > maxHeaderLines + 8) return replies.tooManyHeaders;
  const headers = req.headers;
  const authority = headers[":authority"] as string | undefined;
  const hostField = headers.host;
  const named = authority ?? hostField;
  if (named === undefined) return replies.badRequest;
  const host = normalizeHost(named);
  if (host === undefined) return replies.badRequest;
  if (authority !== undefined && hostField !== undefined && normalizeHost(hostField) !== host) return replies.badRequest;
  headers.host = named;
  ctx.host = host;
  return undefined;
}

function localAuthority(socket: { localAddress?: string; localPort?: number }): string {
  const address = socket.localAddress ?? "";
  const host = address.startsWith("::ffff:") ? address.slice(7) : address.includes(":") ? `[${address}]` : address;
  return `${host}:${socket.localPort ?? 0}`;
}

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

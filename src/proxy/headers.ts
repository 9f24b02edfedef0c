// Header rewriting between client and upstream. Hop-by-hop headers (RFC 9110 §7.6.1) describe one
// connection and must not cross the proxy; X-Forwarded-* tell the upstream who really asked.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { RequestContext } from "../pipeline/context.js";
import type { CompiledHeaderEdits } from "../routing/route.js";

const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authenticate", "proxy-authorization"] as const;

type Headers = IncomingHttpHeaders | OutgoingHttpHeaders;

/** Fields HTTP/2 forbids (RFC 9113 §8.2.2; Node throws on them): never sent in an HTTP/2 message. */
const CONNECTION_SPECIFIC = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "http2-settings"]);

export function isConnectionSpecific(name: string): boolean {
  return CONNECTION_SPECIFIC.has(name);
}

/** An HTTP/1.1 upstream's response headers, made sendable on an HTTP/2 stream (blanked, see below). */
export function blankConnectionSpecific(headers: IncomingHttpHeaders): void {
  for (const name of CONNECTION_SPECIFIC) if (headers[name] !== undefined) headers[name] = undefined;
}

/** Removes hop-by-hop headers, including any listed in Connection; keeps the upgrade pair when asked. */
export function removeHopByHop(headers: Headers, keepUpgrade: boolean): void {
  dropHopByHop(headers, keepUpgrade, deleteHeader);
}

/**
 * The same for an upstream response's headers, which http-proxy copies to the client skipping undefined
 * values: blanking them keeps the object in V8's fast mode, where `delete` would turn it into a
 * dictionary that every later read and the copy pay for (measured with bench:instructions).
 */
export function blankHopByHop(headers: IncomingHttpHeaders): void {
  dropHopByHop(headers, false, blankHeader);
}

function dropHopByHop(headers: Headers, keepUpgrade: boolean, drop: (headers: Headers, name: string) => void): void {
  const connection = headers.connection;
  if (typeof connection === "string" && connection !== "keep-alive" && connection !== "close") {
    for (const token of connection.split(",")) {
      const name = token.trim().toLowerCase();
      if (name !== "" && !(keepUpgrade && name === "upgrade") && !isProtected(name)) drop(headers, name);
    }
  }
  for (const name of HOP_BY_HOP) {
    if (headers[name] === undefined) continue;
    if (keepUpgrade && (name === "upgrade" || name === "connection")) continue;
    drop(headers, name);
  }
}

function deleteHeader(headers: Headers, name: string): void {
  delete headers[name];
}

function blankHeader(headers: Headers, name: string): void {
  headers[name] = undefined;
}

// A client must not be able to strip these by naming them in Connection.
function isProtected(name: string): boolean {
  return name === "x-forwarded-for" || name === "x-request-id" || name === "host";
}

export function applyEdits(headers: Headers, edits: CompiledHeaderEdits): void {
  for (const name of edits.remove) delete headers[name];
  for (const [name, value] of edits.set) headers[name] = value;
}

export function prepareUpstreamRequest(ctx: RequestContext, edits: CompiledHeaderEdits): void {
  const headers = ctx.req.headers;
  removeHopByHop(headers, ctx.isUpgrade);
  // The gateway answered "100 Continue" itself; forwarding Expect would make the upstream wait too.
  if (headers.expect !== undefined) delete headers.expect;

  const peer = ctx.req.socket.remoteAddress ?? "";
  if (ctx.viaTrustedProxy) {
    headers["x-forwarded-for"] = `${headers["x-forwarded-for"]}, ${peer.startsWith("::ffff:") ? peer.slice(7) : peer}`;
    headers["x-forwarded-proto"] ??= ctx.encrypted ? "https" : "http";
    headers["x-forwarded-host"] ??= headers.host ?? "";
  } else {
    // From an untrusted peer these headers are whatever the client wrote: replace, never append.
    headers["x-forwarded-for"] = ctx.clientIp;
    headers["x-forwarded-proto"] = ctx.encrypted ? "https" : "http";
    headers["x-forwarded-host"] = headers.host ?? "";
  }
  applyEdits(headers, edits);
}

// Header rewriting between client and upstream. Hop-by-hop headers (RFC 9110 §7.6.1) describe one
// connection and must not cross the proxy; X-Forwarded-* tell the upstream who really asked.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { RequestContext } from "../pipeline/context.js";
import type { CompiledHeaderEdits } from "../routing/route.js";

export const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authenticate", "proxy-authorization"] as const;

type Headers = IncomingHttpHeaders | OutgoingHttpHeaders;

/** Fields HTTP/2 forbids (RFC 9113 §8.2.2; Node throws on them): never sent in an HTTP/2 message. */
const CONNECTION_SPECIFIC = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "http2-settings"]);

export function isConnectionSpecific(name: string): boolean {
  return CONNECTION_SPECIFIC.has(name);
}

/** Removes hop-by-hop headers, including any listed in Connection; keeps the upgrade pair when asked. */
export function removeHopByHop(headers: Headers, keepUpgrade: boolean): void {
  const connection = headers.connection;
  if (typeof connection === "string") for (const name of namedInConnection(connection, keepUpgrade)) delete headers[name];
  for (const name of HOP_BY_HOP) {
    if (headers[name] === undefined) continue;
    if (keepUpgrade && (name === "upgrade" || name === "connection")) continue;
    delete headers[name];
  }
}

/** The fields a Connection value names as hop-by-hop (lower-case), beyond its usual keep-alive or close. */
export function namedInConnection(connection: string, keepUpgrade = false): string[] {
  if (connection === "keep-alive" || connection === "close") return [];
  const names: string[] = [];
  for (const token of connection.split(",")) {
    const name = token.trim().toLowerCase();
    if (name !== "" && !(keepUpgrade && name === "upgrade") && !isProtected(name)) names.push(name);
  }
  return names;
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

/**
 * The upstream request's header block for `http.request`, as one flat list: Node writes a list as
 * given, where an object would be copied into a second header map first. An HTTP/2 request's
 * pseudo-headers stay behind and its `:authority` becomes Host; a request without one (HTTP/1.0)
 * gets the target's.
 */
export function requestHeaderList(headers: IncomingHttpHeaders, fromHttp2: boolean, targetHost: string): string[] {
  const list: string[] = [];
  let host = fromHttp2 ? (headers[":authority"] as string | undefined) ?? headers.host : undefined;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (name === "host") {
      host ??= value as string;
      continue;
    }
    if (fromHttp2 && name.charCodeAt(0) === 58 /* ":" */) continue;
    if (typeof value === "string") list.push(name, value);
    else for (const each of value) list.push(name, each);
  }
  list.push("host", host ?? targetHost);
  return list;
}

/** Adds Rampart's own cookie to the upstream's, never replacing one. */
export function addSetCookie(headers: { "set-cookie"?: string[] | undefined }, cookie: string): void {
  const existing = headers["set-cookie"];
  headers["set-cookie"] = existing === undefined ? [cookie] : [...existing, cookie];
}

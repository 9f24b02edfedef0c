// Writes a Reply as the short JSON error body of the contract, on a normal response or, for a refused
// WebSocket upgrade, straight onto the socket.
import { STATUS_CODES } from "node:http";
import type { RequestContext } from "./context.js";
import { bodyUnread } from "./linger.js";
import type { Reply } from "./reply.js";

/** `linger: false` closes without draining the body (a client that stopped sending has nothing to drain). */
export function writeReply(ctx: RequestContext, reply: Reply, linger = true): void {
  ctx.failure ??= reply.error;
  const body = `{"error":"${reply.error}","requestId":"${ctx.requestId}"}`;
  const res = ctx.res;
  if (res === undefined) {
    writeRawReply(ctx, reply, body);
    return;
  }
  if (res.headersSent) {
    // Too late for a status: the only honest signal left is to cut the response short.
    res.destroy();
    return;
  }
  res.statusCode = reply.status;
  if (reply.headers !== undefined) {
    for (const name in reply.headers) res.setHeader(name, reply.headers[name]!);
  }
  res.setHeader("content-type", "application/json");
  res.setHeader("content-length", Buffer.byteLength(body));
  if (bodyUnread(ctx.req)) {
    if (linger) ctx.linger.afterAnswer(ctx.req, res);
    else res.setHeader("connection", "close");
  }
  res.end(body);
}

function writeRawReply(ctx: RequestContext, reply: Reply, body: string): void {
  ctx.upgradeStatus = reply.status;
  const socket = ctx.socket;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(rawResponse(reply, ctx.requestId, body));
}

/**
 * A whole HTTP/1.1 response, as text, for answers written straight onto a socket (refused upgrades,
 * CONNECT, requests the parser refused): always the last on its connection.
 */
export function rawResponse(reply: Reply, requestId: string, body = `{"error":"${reply.error}","requestId":"${requestId}"}`, headOnly = false): string {
  let head = `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ""}\r\n`;
  if (reply.headers !== undefined) {
    for (const name in reply.headers) head += `${name}: ${reply.headers[name]}\r\n`;
  }
  head += `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
  // A HEAD answer carries the headers a GET would, never the body (RFC 9110 §9.3.2).
  return head + `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n` + (headOnly ? "" : body);
}

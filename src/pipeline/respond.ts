// Writes a Reply as the short JSON error body of the contract, on a normal response or, for a refused
// WebSocket upgrade, straight onto the socket.
import { STATUS_CODES } from "node:http";
import type { RequestContext } from "./context.js";
import type { Reply } from "./reply.js";

export function writeReply(ctx: RequestContext, reply: Reply): void {
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
  res.end(body);
}

function writeRawReply(ctx: RequestContext, reply: Reply, body: string): void {
  ctx.upgradeStatus = reply.status;
  const socket = ctx.socket;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  let head = `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ""}\r\n`;
  if (reply.headers !== undefined) {
    for (const name in reply.headers) head += `${name}: ${reply.headers[name]}\r\n`;
  }
  head += `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
  head += `x-request-id: ${ctx.requestId}\r\nconnection: close\r\n\r\n`;
  socket.end(head + body);
}

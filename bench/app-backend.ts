// Backend for bench/attacks.ts and bench/soak.ts: `node dist/bench/app-backend.js PORT STATS_PORT`.
//   GET  …/bytes/N   N bytes (at most 16 MiB): the 1 MiB slow-read target, the soak's 256 KiB answer
//   GET  /health     200 "ok"
//   POST anything    reads the body, answers {"received": bytes}
//   GET  otherwise   the 100-byte bench body
// STATS_PORT answers {"open":…,"busy":…,"requests":…}: sockets open on PORT (the gateway's upstream
// connections), those with a request in progress, and requests so far. Asking does not open a socket on PORT.
import http from "node:http";
import { BODY } from "./body.js";

const [port, statsPort] = process.argv.slice(2, 4).map(Number);
const validPort = (value: number | undefined): value is number => Number.isInteger(value) && value! > 0 && value! <= 65_535;
if (!validPort(port) || !validPort(statsPort)) {
  console.error("usage: node dist/bench/app-backend.js PORT STATS_PORT");
  process.exit(2);
}

const MAX_BYTES = 16 * 1_048_576;
const small = Buffer.from(BODY);
const sized = new Map<number, Buffer>();
function bytes(count: number): Buffer {
  let buffer = sized.get(count);
  if (buffer === undefined) {
    buffer = Buffer.alloc(count, "r");
    if (sized.size < 16) sized.set(count, buffer);
  }
  return buffer;
}

let open = 0;
let busy = 0;
let requests = 0;

const server = http.createServer((req, res) => {
  requests++;
  busy++;
  res.once("close", () => busy--);
  const path = (req.url ?? "/").split("?")[0]!;
  if (req.method === "POST" || req.method === "PUT") {
    let received = 0;
    req.on("data", (chunk: Buffer) => (received += chunk.length));
    req.on("end", () => {
      const text = JSON.stringify({ received });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
    });
    req.on("error", () => res.destroy());
    return;
  }
  if (path === "/health") {
    res.writeHead(200, { "content-type": "text/plain", "content-length": "3" }).end("ok\n");
    return;
  }
  const sizeMatch = /\/bytes\/(\d+)$/.exec(path);
  const count = sizeMatch ? Number(sizeMatch[1]) : undefined;
  if (count !== undefined && count > MAX_BYTES) {
    res.writeHead(400, { "content-type": "text/plain", "content-length": "10" }).end("too large\n");
    return;
  }
  const body = count === undefined ? small : bytes(count);
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(body.length) });
  res.end(body);
});
server.on("connection", (socket) => {
  open++;
  socket.once("close", () => open--);
});
// Longer than any pause in the runs: an upstream socket closes because the gateway closed it, not the backend.
server.keepAliveTimeout = 120_000;
server.listen(port, "127.0.0.1");

const stats = http.createServer((_req, res) => {
  const text = JSON.stringify({ open, busy, requests });
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text), connection: "close" }).end(text);
});
stats.listen(statsPort, "127.0.0.1");

process.once("SIGTERM", () => process.exit(0));
process.once("SIGINT", () => process.exit(0));

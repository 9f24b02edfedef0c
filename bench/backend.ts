// Fallback backend when nginx is not installed: `node dist/bench/backend.js PORT`.
// Answers every request with the same 100 bytes, keeping connections open for the proxies' pools.
import http from "node:http";
import { BODY } from "./body.js";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
  console.error("usage: node dist/bench/backend.js PORT");
  process.exit(2);
}

const body = Buffer.from(BODY);
const headers = { "content-type": "text/plain", "content-length": String(body.length) };
const server = http.createServer((_req, res) => {
  res.writeHead(200, headers);
  res.end(body);
});
// Longer than any pause between benchmark runs, so idle pooled upstream sockets are never reset under a proxy.
server.keepAliveTimeout = 120_000;
server.listen(port, "127.0.0.1");
process.once("SIGTERM", () => process.exit(0));
process.once("SIGINT", () => process.exit(0));

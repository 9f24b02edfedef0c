// The baseline: bare http-proxy-3 with a keep-alive agent, nothing else (DESIGN.md Part 3).
// `node dist/bench/bare-proxy.js PORT TARGET`, e.g. `node dist/bench/bare-proxy.js 8100 http://127.0.0.1:8200`.
import http from "node:http";
import { createProxyServer } from "http-proxy-3";

const [portText, target] = process.argv.slice(2);
const port = Number(portText);
if (!Number.isInteger(port) || port <= 0 || port > 65_535 || target === undefined) {
  console.error("usage: node dist/bench/bare-proxy.js PORT TARGET");
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true });
const proxy = createProxyServer({ target, agent });

const server = http.createServer((req, res) => {
  proxy.web(req, res, {}, (error) => {
    if (res instanceof http.ServerResponse && !res.headersSent) {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end("bad gateway\n");
    } else {
      res.destroy();
    }
    console.error(`proxy error: ${error.message}`);
  });
});
server.keepAliveTimeout = 120_000;
server.listen(port, "127.0.0.1");
process.once("SIGTERM", () => process.exit(0));
process.once("SIGINT", () => process.exit(0));

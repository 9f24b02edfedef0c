// The baselines: bare http-proxy-3 with a keep-alive agent, nothing else (DESIGN.md Part 3); with
// `node` as the third argument, Node's own http.request and pipe with the same agent (the floor any
// Node proxy stands on: the "node:http + http.request, no library"); with `answer`, a Node
// server answering every request with a 429 shaped like Rampart's (the floor under any rejection; its
// /ready answers 200); with `refuse`, a front net.Server that destroys every connection from 127.0.0.2
// at accept and hands the others to an HTTP server answering 200 (the floor under a gate closing a
// denylisted address at accept, built as Rampart's listeners are); with `node-https CERT KEY`, `node`'s
// proxy behind an HTTPS listener (the floor under Rampart's HTTPS ÷ HTTP).
// `node dist/bench/bare-proxy.js PORT TARGET [node|answer|refuse|node-https CERT KEY]`, e.g. `node dist/bench/bare-proxy.js 8100 http://127.0.0.1:8200`.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { createProxyServer } from "http-proxy-3";

const [portText, target, mode, certFile, keyFile] = process.argv.slice(2);
const port = Number(portText);
const modes = [undefined, "node", "answer", "refuse", "node-https"];
if (!Number.isInteger(port) || port <= 0 || port > 65_535 || target === undefined || !modes.includes(mode) || (mode === "node-https" && (certFile === undefined || keyFile === undefined))) {
  console.error("usage: node dist/bench/bare-proxy.js PORT TARGET [node|answer|refuse|node-https CERT KEY]");
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true });

function badGateway(res: http.ServerResponse, error: Error): void {
  if (!res.headersSent) {
    res.writeHead(502, { "content-type": "text/plain" });
    res.end("bad gateway\n");
  } else {
    res.destroy();
  }
  console.error(`proxy error: ${error.message}`);
}

function withHttpProxy3(): http.RequestListener {
  const proxy = createProxyServer({ target, agent });
  return (req, res) => proxy.web(req, res, {}, (error) => badGateway(res, error));
}

function withNodeHttp(): http.RequestListener {
  const url = new URL(target!);
  return (req, res) => {
    const upstream = http.request({ hostname: url.hostname, port: url.port, agent, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", (error) => badGateway(res, error));
    req.pipe(upstream);
  };
}

function answering(): http.RequestListener {
  return (req, res) => {
    if (req.url === "/ready") {
      res.end();
      return;
    }
    const id = randomUUID();
    const body = `{"error":"rate_limited","requestId":"${id}"}`;
    res.writeHead(429, ["content-type", "application/json", "content-length", String(body.length), "x-request-id", id, "ratelimit-limit", "1", "ratelimit-remaining", "0", "ratelimit-reset", "3600", "retry-after", "3600"]);
    res.end(body);
  };
}

const server =
  mode === "node-https"
    ? https.createServer({ cert: readFileSync(certFile!), key: readFileSync(keyFile!) }, withNodeHttp())
    : http.createServer(mode === "node" ? withNodeHttp() : mode === "answer" ? answering() : mode === "refuse" ? (_req, res) => res.end() : withHttpProxy3());
server.keepAliveTimeout = 120_000;
if (mode === "refuse") {
  const front = net.createServer({ noDelay: true }, (socket) => {
    socket.on("error", () => {});
    if (socket.remoteAddress === "127.0.0.2") socket.destroy();
    else server.emit("connection", socket);
  });
  front.listen(port, "127.0.0.1");
} else {
  server.listen(port, "127.0.0.1");
}
process.once("SIGTERM", () => process.exit(0));
process.once("SIGINT", () => process.exit(0));

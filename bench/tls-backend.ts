// The certs scenario's backend: `node dist/bench/tls-backend.js PORT [CERT KEY [CLIENT_CA]]`. Without a
// certificate it is bench/backend.ts (plain HTTP); with one it serves HTTPS/1.1, and with CLIENT_CA it
// requires a client certificate that CA signed (mTLS). The same 100 bytes either way, keep-alive, so
// the targets differ only in TLS.
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { BODY } from "./body.js";

const [portText, certFile, keyFile, clientCaFile] = process.argv.slice(2);
const port = Number(portText);
if (!Number.isInteger(port) || port <= 0 || port > 65_535 || (certFile !== undefined && keyFile === undefined)) {
  console.error("usage: node dist/bench/tls-backend.js PORT [CERT KEY [CLIENT_CA]]");
  process.exit(2);
}

const body = Buffer.from(BODY);
const headers = { "content-type": "text/plain", "content-length": String(body.length) };
const answer = (_req: http.IncomingMessage, res: http.ServerResponse) => {
  res.writeHead(200, headers);
  res.end(body);
};
const server =
  certFile === undefined
    ? http.createServer(answer)
    : https.createServer(
        {
          cert: readFileSync(certFile),
          key: readFileSync(keyFile!),
          ...(clientCaFile === undefined ? {} : { ca: readFileSync(clientCaFile), requestCert: true, rejectUnauthorized: true }),
        },
        answer,
      );
// Longer than any pause between benchmark runs, so idle pooled upstream sockets are never reset under a proxy.
server.keepAliveTimeout = 120_000;
server.on("tlsClientError", () => {});
server.listen(port, "127.0.0.1");
process.once("SIGTERM", () => process.exit(0));
process.once("SIGINT", () => process.exit(0));

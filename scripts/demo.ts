// `npm run demo`: two small sample backends on 127.0.0.1:3001 and :3002 plus the gateway on
// config/gateway.yaml, so a newcomer can try routing with curl (README, "Quick start").
import http from "node:http";
import { Gateway } from "../src/main.js";

function backend(name: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const body = JSON.stringify({
      backend: name,
      method: req.method,
      url: req.url,
      forwardedFor: req.headers["x-forwarded-for"],
      requestId: req.headers["x-request-id"],
    });
    res.writeHead(200, { "content-type": "application/json" }).end(body + "\n");
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

const backends = await Promise.all([backend("hello", 3001), backend("echo", 3002)]);
const gateway = await Gateway.start({ configFile: process.env.RAMPART_CONFIG ?? "config/gateway.yaml" });
const { https, http: plain, admin } = gateway.addresses;
console.log(`
Rampart demo is running. Try:
  curl -k https://localhost:${https.port}/hello       # → backend "hello"
  curl -k https://localhost:${https.port}/echo/abc    # → backend "echo", url "/abc"
  curl -k https://localhost:${https.port}/            # → Rampart's own welcome answer (no backend)
  curl -i http://localhost:${plain.port}/             # → 308 to https
  curl http://127.0.0.1:${admin!.port}/metrics         # Prometheus metrics
Ctrl-C stops it.
`);

const stop = async () => {
  await gateway.close();
  for (const server of backends) server.close();
  process.exit(0);
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());

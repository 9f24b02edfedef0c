// A request body sent by an HTTP/1.1 client to a `protocol: h2c` service reaches the backend whole, also
// when a stage waited before forwarding (an injected delay here, a Redis rate-limit check in production):
// by then Node has read the whole small body and marks the request complete, but nobody has consumed it.
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { request } from "../../helpers/client.js";
import { perTest } from "../../helpers/fixtures.js";

const fixtures = perTest();

/** An h2c backend answering with the number of body bytes it received. */
async function countingBackend(): Promise<{ readonly url: string }> {
  const server = http2.createServer((req, res) => {
    let bytes = 0;
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.on("end", () => res.writeHead(200, { "content-type": "text/plain" }).end(String(bytes)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  fixtures.defer(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

for (const delayed of [false, true]) {
  test(`an HTTP/1.1 POST body reaches an h2c service whole${delayed ? " after a stage that waited" : ""}`, async () => {
    const backend = await countingBackend();
    const gw = await fixtures.gateway({
      tls: { redirectHttp: false },
      services: { api: { protocol: "h2c", targets: [{ url: backend.url }] } },
      routes: [{ name: "api", match: { pathPrefix: "/" }, service: "api", ...(delayed ? { fault: { delay: { percent: 100, duration: "50ms" } } } : {}) }],
    });
    const body = "twelve bytes";
    const res = await request({ port: gw.httpPort, path: "/upload", method: "POST", headers: { "content-type": "text/plain" }, body });
    assert.equal(res.status, 200);
    assert.equal(res.body, String(Buffer.byteLength(body)), "the backend received the whole body");
  });
}

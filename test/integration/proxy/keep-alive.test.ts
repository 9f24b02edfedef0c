// Upstream keep-alive: the gateway forwards over a pooled http.Agent, so the backend accepts a handful
// of TCP connections for hundreds of requests (without the agent, http-proxy opens one per request).
import assert from "node:assert/strict";
import https from "node:https";
import { after, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { simpleConfig, startGateway, type TestGateway } from "../../helpers/gateway.js";

describe("upstream keep-alive", () => {
  let backend: Backend;
  let gw: TestGateway;

  before(async () => {
    backend = await startBackend((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
    gw = await startGateway(simpleConfig(backend.url));
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  test("200 sequential requests over one client connection use at most a few upstream connections", async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const before = backend.connections;
    try {
      for (let i = 0; i < 200; i++) {
        const res = await request({ port: gw.httpsPort, tls: true, path: `/ka/${i}`, agent });
        assert.equal(res.status, 200);
        assert.equal(res.body, "ok");
      }
    } finally {
      agent.destroy();
    }
    const used = backend.connections - before;
    assert.ok(used >= 1 && used <= 5, `backend accepted ${used} connections for 200 requests`);
  });

  test("fresh client connections still share the upstream pool", async () => {
    const before = backend.connections;
    for (let i = 0; i < 60; i++) {
      const res = await request({ port: gw.httpsPort, tls: true, path: `/fresh/${i}` });
      assert.equal(res.status, 200);
    }
    const used = backend.connections - before;
    assert.ok(used <= 5, `backend accepted ${used} connections for 60 requests on 60 client connections`);
  });

  test("concurrent requests reuse pooled connections across bursts", async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 10 });
    const before = backend.connections;
    try {
      for (let round = 0; round < 10; round++) {
        const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => request({ port: gw.httpsPort, tls: true, path: `/burst/${round}/${i}`, agent })));
        for (const res of answers) assert.equal(res.status, 200);
      }
    } finally {
      agent.destroy();
    }
    const used = backend.connections - before;
    // 100 requests, at most 10 in flight at once: the pool never needs more than 10 (plus slack).
    assert.ok(used <= 12, `backend accepted ${used} connections for 100 requests, 10 at a time`);
  });
});

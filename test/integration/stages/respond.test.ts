// Routes that answer by themselves (`respond`): the configured status, body and content type with the
// route's response headers, X-Request-Id and HSTS; HEAD without a body; a request body drained rather
// than reset; guards still apply (the route's rate limit); no service contacted. And the embedded
// config/gateway.yaml, run without its demo backends (the container's default), answers its welcome
// page on / instead of 502.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { request } from "../../helpers/client.js";
import { perTest } from "../../helpers/fixtures.js";
import { bodyOf, fetchMetrics, headerOf, metricSample, rawTls } from "../../helpers/proxy-tools.js";
import { h2Connect, h2Request } from "../../helpers/http2.js";
import { Gateway } from "../../../src/main.js";
import { silentLogger } from "../../../src/observability/logger.js";

const { backend, gateway, defer } = perTest();

describe("respond routes", () => {
  test("the configured answer, with the route's headers, on HTTP/1.1 and HTTP/2; HEAD has no body; the service is never contacted", async () => {
    let backendHits = 0;
    const app = await backend((_req, res) => {
      backendHits++;
      res.end("backend");
    });
    const gw = await gateway({
      services: { app: { targets: [{ url: app.url }] } },
      rateLimits: { tight: { limit: 3, window: "1m" } },
      routes: [
        { name: "api", match: { pathPrefix: "/api" }, service: "app" },
        {
          name: "maintenance",
          match: { pathPrefix: "/" },
          respond: { status: 503, body: "down for maintenance\n", contentType: "text/plain" },
          responseHeaders: { set: { "Retry-After": "120" } },
          rateLimit: "tight",
        },
      ],
    });
    const res = await request({ port: gw.httpsPort, tls: true, path: "/anything" });
    assert.equal(res.status, 503);
    assert.equal(res.body, "down for maintenance\n");
    assert.equal(res.headers["content-type"], "text/plain");
    assert.equal(res.headers["retry-after"], "120");
    assert.equal(res.headers["strict-transport-security"], "max-age=31536000");
    assert.match(String(res.headers["x-request-id"]), /^[0-9a-f-]{36}$/);

    const head = await request({ port: gw.httpsPort, tls: true, path: "/", method: "HEAD" });
    assert.equal(head.status, 503);
    assert.equal(head.body, "");
    assert.equal(head.headers["content-length"], String(Buffer.byteLength("down for maintenance\n")));

    const session = await h2Connect(gw.httpsPort);
    defer(() => session.close());
    const h2 = await h2Request(session, { ":path": "/x" });
    assert.equal(h2.status, 503);
    assert.equal(h2.body, "down for maintenance\n");

    // The route's rate limit still applies: three answers above used it up.
    assert.equal((await request({ port: gw.httpsPort, tls: true, path: "/" })).status, 429);
    assert.equal(backendHits, 0);
    assert.equal((await request({ port: gw.httpsPort, tls: true, path: "/api/x" })).body, "backend");

    const metrics = await fetchMetrics(gw.adminPort);
    assert.equal(metricSample(metrics, "rampart_gateway_answers_total", { route: "maintenance", code: "503", error: "respond" }), 3);
  });

  test("a request body is drained, not reset: the client reads the answer", async () => {
    const gw = await gateway({ routes: [{ name: "hello", match: { pathPrefix: "/" }, respond: { body: "hi" } }] });
    const body = Buffer.alloc(200_000, "x");
    const res = await request({ port: gw.httpsPort, tls: true, path: "/upload", method: "POST", body, headers: { "content-type": "application/octet-stream" } });
    assert.equal(res.status, 200);
    assert.equal(res.body, "hi");
    assert.equal(res.headers["content-type"], "text/plain; charset=utf-8");
  });

  test("a WebSocket upgrade asked of a respond route gets the route's answer, and the connection ends", async () => {
    const gw = await gateway({ routes: [{ name: "hello", match: { pathPrefix: "/" }, respond: { status: 404, body: "nothing here", contentType: "text/plain" } }] });
    const upgrade = ["GET /socket HTTP/1.1", "Host: localhost", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", "", ""].join("\r\n");
    const raw = await rawTls(gw.httpsPort, upgrade);
    assert.equal(raw.status, 404);
    assert.equal(bodyOf(raw.text), "nothing here");
    assert.equal(headerOf(raw.text, "content-type"), "text/plain");
    assert.equal(headerOf(raw.text, "content-length"), "12");
    assert.equal(headerOf(raw.text, "connection"), "close");
    assert.ok(raw.closedByServer);
  });

  test("a route names one of service, split and respond", async () => {
    const { loadConfigText } = await import("../../../src/config/load.js");
    assert.throws(
      () => loadConfigText("services: { app: { targets: [{ url: 'http://127.0.0.1:1' }] } }\nroutes:\n  - name: r\n    service: app\n    respond: { body: x }\n", "t.yaml", {}),
      /t\.yaml:5:5 routes\[0\]\.respond: a route names one of "service", "split" and "respond"/,
    );
  });
});

describe("the embedded config without its demo backends", () => {
  test("/ answers the welcome page (200), not 502; the demo routes answer 502 until their backends run", async () => {
    const started = await Gateway.start({
      configFile: join(process.cwd(), "config", "gateway.yaml"),
      logger: silentLogger,
      accessLog: { write: () => {} },
      env: { RAMPART_HTTP: "127.0.0.1:0", RAMPART_HTTPS: "127.0.0.1:0", RAMPART_ADMIN: "127.0.0.1:0" },
    });
    defer(() => started.close());
    const port = started.addresses.https.port;
    const welcome = await request({ port, tls: true, path: "/" });
    assert.equal(welcome.status, 200);
    assert.match(welcome.body, /^Rampart is running\./);
    assert.equal((await request({ port, tls: true, path: "/some/page" })).status, 200);
    assert.equal((await request({ port, tls: true, path: "/hello" })).status, 502);
  });
});

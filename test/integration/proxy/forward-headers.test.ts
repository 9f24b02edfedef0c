// The headers a backend and a client see through the gateway: X-Forwarded-*, X-Request-Id (kept when
// well-formed, replaced otherwise, equal on both sides), and hop-by-hop headers stopped in both
// directions.
import assert from "node:assert/strict";
import type http from "node:http";
import { after, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { simpleConfig, startGateway, type TestGateway } from "../../helpers/gateway.js";
import { bodyOf, headerOf, rawTls } from "../../helpers/proxy-tools.js";

interface Echo {
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("forwarded headers", () => {
  let backend: Backend;
  let gw: TestGateway;

  before(async () => {
    backend = await startBackend((req, res) => {
      const body = JSON.stringify({ url: req.url, headers: req.headers });
      if (req.url === "/hop") {
        // Hop-by-hop headers on the response, one of them named only through Connection.
        res.setHeader("connection", "x-backend-hop");
        res.setHeader("x-backend-hop", "must-not-cross");
        res.setHeader("keep-alive", "timeout=99, max=7");
        res.setHeader("proxy-connection", "keep-alive");
        res.setHeader("proxy-authenticate", "Basic realm=inner");
        res.setHeader("x-end-to-end", "crosses");
      }
      res.writeHead(200, { "content-type": "application/json" }).end(body);
    });
    gw = await startGateway(simpleConfig(backend.url, { top: { tls: { redirectHttp: false } } }));
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  test("X-Forwarded-For, -Proto and -Host as the backend sees them over HTTPS", async () => {
    const res = await request({ port: gw.httpsPort, tls: true, path: "/xf", headers: { host: "shop.example.com:8443" } });
    assert.equal(res.status, 200);
    const seen = res.json<Echo>().headers;
    assert.equal(seen["x-forwarded-for"], "127.0.0.1");
    assert.equal(seen["x-forwarded-proto"], "https");
    assert.equal(seen["x-forwarded-host"], "shop.example.com:8443");
    assert.equal(seen.host, "shop.example.com:8443", "the client's Host goes upstream unchanged");
  });

  test("X-Forwarded-Proto is http on the plain listener (redirectHttp off)", async () => {
    const res = await request({ port: gw.httpPort, path: "/xf", headers: { host: "plain.example.com" } });
    assert.equal(res.status, 200);
    const seen = res.json<Echo>().headers;
    assert.equal(seen["x-forwarded-proto"], "http");
    assert.equal(seen["x-forwarded-host"], "plain.example.com");
    assert.equal(seen["x-forwarded-for"], "127.0.0.1");
  });

  test("X-Forwarded-* written by an untrusted client are replaced, not appended to", async () => {
    const res = await request({
      port: gw.httpsPort,
      tls: true,
      path: "/xf",
      headers: { host: "real.example.com", "x-forwarded-for": "6.6.6.6", "x-forwarded-proto": "gopher", "x-forwarded-host": "evil.example" },
    });
    const seen = res.json<Echo>().headers;
    assert.equal(seen["x-forwarded-for"], "127.0.0.1");
    assert.equal(seen["x-forwarded-proto"], "https");
    assert.equal(seen["x-forwarded-host"], "real.example.com");
  });

  test("a well-formed X-Request-Id is kept, passed upstream and returned", async () => {
    for (const id of ["abc-123", "trace:42/span=7@svc.example+x_y", "a".repeat(128)]) {
      const res = await request({ port: gw.httpsPort, tls: true, path: "/id", headers: { "x-request-id": id } });
      assert.equal(res.status, 200);
      assert.equal(res.headers["x-request-id"], id);
      assert.equal(res.json<Echo>().headers["x-request-id"], id);
    }
  });

  test("a malformed X-Request-Id is replaced; the client gets the id the backend saw", async () => {
    for (const id of ["has spaces in it", "x".repeat(300), "semi;colon", "quote\"d", "<script>"]) {
      const res = await request({ port: gw.httpsPort, tls: true, path: "/id", headers: { "x-request-id": id } });
      assert.equal(res.status, 200);
      const returned = res.headers["x-request-id"];
      assert.equal(typeof returned, "string");
      assert.notEqual(returned, id);
      assert.match(returned as string, UUID);
      assert.equal(res.json<Echo>().headers["x-request-id"], returned);
    }
  });

  test("a request without X-Request-Id gets a fresh one per request", async () => {
    const a = await request({ port: gw.httpsPort, tls: true, path: "/id" });
    const b = await request({ port: gw.httpsPort, tls: true, path: "/id" });
    assert.match(a.headers["x-request-id"] as string, UUID);
    assert.notEqual(a.headers["x-request-id"], b.headers["x-request-id"]);
    assert.equal(a.json<Echo>().headers["x-request-id"], a.headers["x-request-id"]);
  });

  test("a duplicated X-Request-Id header is not trusted", async () => {
    const res = await rawTls(gw.httpsPort, "GET /id HTTP/1.1\r\nHost: a.test\r\nX-Request-Id: one\r\nX-Request-Id: two\r\nConnection: close\r\n\r\n");
    assert.equal(res.status, 200, res.text);
    const returned = headerOf(res.text, "x-request-id")!;
    const seen = (JSON.parse(bodyOf(res.text)) as Echo).headers["x-request-id"];
    assert.equal(seen, returned, "the backend sees exactly the id the client is told");
    assert.ok(!returned.includes(","), `one id, not a list: ${returned}`);
  });

  test("hop-by-hop request headers do not reach the backend", async () => {
    const res = await rawTls(
      gw.httpsPort,
      "GET /hop-req HTTP/1.1\r\nHost: a.test\r\n" +
        "Connection: x-secret, close\r\nX-Secret: named-in-connection\r\nKeep-Alive: timeout=5\r\n" +
        "TE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nTrailer: x-trail\r\n" +
        "Proxy-Authorization: Basic Zm9vOmJhcg==\r\nX-End-To-End: kept\r\n\r\n",
    );
    assert.equal(res.status, 200, res.text);
    const seen = (JSON.parse(bodyOf(res.text)) as Echo).headers;
    for (const name of ["x-secret", "keep-alive", "te", "proxy-connection", "upgrade", "trailer", "proxy-authorization"]) {
      assert.equal(seen[name], undefined, `${name} reached the backend`);
    }
    // The gateway's own connection to the backend may say keep-alive; never the client's tokens.
    assert.ok(seen.connection === undefined || seen.connection === "keep-alive", `connection: ${seen.connection}`);
    assert.equal(seen["x-end-to-end"], "kept");
  });

  test("a client cannot strip X-Forwarded-For or X-Request-Id by naming them in Connection", async () => {
    const res = await rawTls(
      gw.httpsPort,
      "GET /hop-req HTTP/1.1\r\nHost: a.test\r\nConnection: close, x-forwarded-for, x-request-id, host\r\nX-Request-Id: keep-me\r\n\r\n",
    );
    assert.equal(res.status, 200, res.text);
    const seen = (JSON.parse(bodyOf(res.text)) as Echo).headers;
    assert.equal(seen["x-forwarded-for"], "127.0.0.1");
    assert.equal(seen["x-request-id"], "keep-me");
    assert.equal(seen.host, "a.test");
  });

  test("hop-by-hop response headers do not reach the client", async () => {
    const res = await request({ port: gw.httpsPort, tls: true, path: "/hop" });
    assert.equal(res.status, 200);
    assert.equal(res.headers["x-backend-hop"], undefined);
    assert.equal(res.headers["proxy-connection"], undefined);
    assert.equal(res.headers["proxy-authenticate"], undefined);
    assert.notEqual(res.headers["keep-alive"], "timeout=99, max=7");
    assert.ok(!String(res.headers.connection).includes("x-backend-hop"), `connection: ${res.headers.connection}`);
    assert.equal(res.headers["x-end-to-end"], "crosses");

    // Same over a raw connection, where nothing in Node's client could hide a header.
    const raw = await rawTls(gw.httpsPort, "GET /hop HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    assert.equal(raw.status, 200);
    assert.equal(headerOf(raw.text, "x-backend-hop"), undefined);
    assert.equal(headerOf(raw.text, "proxy-connection"), undefined);
    assert.notEqual(headerOf(raw.text, "keep-alive"), "timeout=99, max=7");
    assert.equal(headerOf(raw.text, "connection"), "close");
  });

  test("HSTS is added on HTTPS responses and not on plain HTTP", async () => {
    const secure = await request({ port: gw.httpsPort, tls: true, path: "/" });
    assert.equal(secure.headers["strict-transport-security"], "max-age=31536000");
    const plain = await request({ port: gw.httpPort, path: "/" });
    assert.equal(plain.headers["strict-transport-security"], undefined);
  });
});

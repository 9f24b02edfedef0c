// What the request line may say: traversal paths are normalised before routing (and the backend gets the
// normalised path, never ".."), paths that climb above the root or carry NUL are refused, and an
// absolute-form target for a host no route names is refused with 421: Rampart is never an open proxy.
// Raw bytes over TLS, so nothing in Node's client rewrites the request line.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { startGateway, type TestGateway } from "../../helpers/gateway.js";
import { bodyOf, headerOf, rawTls } from "../../helpers/proxy-tools.js";

interface Echo {
  readonly url: string;
  readonly headers: Record<string, string | undefined>;
}

describe("request targets", () => {
  let backend: Backend;
  let gw: TestGateway;

  before(async () => {
    backend = await startBackend();
    const tag = (name: string) => ({ set: { "x-route": name } });
    gw = await startGateway({
      services: { app: { targets: [{ url: backend.url }] } },
      routes: [
        { name: "v1", match: { host: "app.test", pathPrefix: "/v1" }, service: "app", responseHeaders: tag("v1") },
        { name: "admin", match: { host: "app.test", pathPrefix: "/admin" }, service: "app", responseHeaders: tag("admin") },
        { name: "only-v1", match: { host: "noadmin.test", pathPrefix: "/v1" }, service: "app", responseHeaders: tag("only-v1") },
        { name: "wild", match: { host: "*.served.test" }, service: "app", responseHeaders: tag("wild") },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  const send = (target: string, host = "app.test", extraHeaders = "") =>
    rawTls(gw.httpsPort, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${extraHeaders}Connection: close\r\n\r\n`);

  for (const path of ["/v1/../admin", "/v1/%2e%2e/admin", "/v1/%2E%2E/admin", "/v1/.%2e/admin", "/v1/./../admin/", "/v1//..//admin"]) {
    test(`${path} routes to /admin and the backend sees the normalised path`, async () => {
      const seenBefore = backend.requests.length;
      const res = await send(path);
      assert.equal(res.status, 200, res.text);
      assert.equal(headerOf(res.text, "x-route"), "admin");
      const echo = JSON.parse(bodyOf(res.text)) as Echo;
      assert.match(echo.url, /^\/admin\/?$/);
      assert.equal(backend.requests.length, seenBefore + 1);
      const upstreamUrl = backend.requests.at(-1)!.url!;
      assert.doesNotMatch(upstreamUrl, /\.\.|%2e/i, "no dot segment reaches the backend");
    });
  }

  test("a traversal is matched against the normalised path: no /admin route for that host → 404", async () => {
    const seenBefore = backend.requests.length;
    for (const path of ["/v1/../admin", "/v1/%2e%2e/admin", "/v1/%2E%2E/admin"]) {
      const res = await send(path, "noadmin.test");
      assert.equal(res.status, 404, `${path}: ${res.text}`);
      assert.equal((JSON.parse(bodyOf(res.text)) as { error: string }).error, "no_route");
    }
    assert.equal(backend.requests.length, seenBefore);
  });

  test("a traversal that stays inside a route is forwarded normalised", async () => {
    const res = await send("/v1/a/b/../../c/%7euser?x=..%2F", "noadmin.test");
    assert.equal(res.status, 200, res.text);
    assert.equal(headerOf(res.text, "x-route"), "only-v1");
    // Unreserved escapes are decoded, the query is not touched.
    assert.equal((JSON.parse(bodyOf(res.text)) as Echo).url, "/v1/c/~user?x=..%2F");
  });

  test("a path that climbs above the root is refused with 400", async () => {
    const seenBefore = backend.requests.length;
    for (const path of ["/../etc/passwd", "/..", "/%2e%2e/etc", "/v1/../../etc"]) {
      const res = await send(path);
      assert.equal(res.status, 400, `${path}: ${res.text}`);
      const body = JSON.parse(bodyOf(res.text)) as { error: string; requestId: string };
      assert.equal(body.error, "bad_request");
      assert.equal(body.requestId, headerOf(res.text, "x-request-id"));
    }
    assert.equal(backend.requests.length, seenBefore);
  });

  test("an encoded NUL or a malformed escape is refused with 400", async () => {
    const seenBefore = backend.requests.length;
    for (const path of ["/v1/a%00b", "/admin%00.json", "/v1/%zz", "/v1/%2"]) {
      const res = await send(path);
      assert.equal(res.status, 400, `${path}: ${res.text}`);
    }
    assert.equal(backend.requests.length, seenBefore);
  });

  test("absolute-form for a host no route names is 421 and nothing reaches the backend", async () => {
    const seenBefore = backend.requests.length;
    const res = await send("http://evil.example/", "evil.example");
    assert.equal(res.status, 421, res.text);
    assert.equal((JSON.parse(bodyOf(res.text)) as { error: string }).error, "misdirected_request");
    // A served Host header does not make a foreign absolute-form target acceptable.
    const mixed = await send("http://evil.example/v1/x", "app.test");
    assert.equal(mixed.status, 421, mixed.text);
    const https = await send("https://evil.example:443/admin", "app.test");
    assert.equal(https.status, 421, https.text);
    // Nothing after the refusal: the backend never saw a request.
    assert.equal(backend.requests.length, seenBefore);
  });

  test("absolute-form for a served host is routed by its authority", async () => {
    const exact = await send("http://app.test/v1/items?q=1", "app.test");
    assert.equal(exact.status, 200, exact.text);
    assert.equal(headerOf(exact.text, "x-route"), "v1");
    const echo = JSON.parse(bodyOf(exact.text)) as Echo;
    assert.equal(echo.url, "/v1/items?q=1");
    assert.equal(echo.headers.host, "app.test");

    // The authority replaces a different Host header (RFC 9112 §3.2.2).
    const replaced = await send(`http://app.test:${gw.httpsPort}/admin`, "elsewhere.example");
    assert.equal(replaced.status, 200, replaced.text);
    assert.equal(headerOf(replaced.text, "x-route"), "admin");

    const wildcard = await send("http://x.served.test/", "x.served.test");
    assert.equal(wildcard.status, 200, wildcard.text);
    assert.equal(headerOf(wildcard.text, "x-route"), "wild");

    // Absolute-form is normalised like any other path.
    const traversal = await send("http://app.test/v1/%2e%2e/admin", "app.test");
    assert.equal(traversal.status, 200, traversal.text);
    assert.equal(headerOf(traversal.text, "x-route"), "admin");
  });

  test("Node's own client gets the same answers for the simple cases", async () => {
    const routed = await request({ port: gw.httpsPort, tls: true, path: "/v1/../admin", headers: { host: "app.test" } });
    assert.equal(routed.status, 200);
    assert.equal(routed.headers["x-route"], "admin");
    assert.equal(routed.json<Echo>().url, "/admin");
    const climbing = await request({ port: gw.httpsPort, tls: true, path: "/../etc", headers: { host: "app.test" } });
    assert.equal(climbing.status, 400);
  });
});

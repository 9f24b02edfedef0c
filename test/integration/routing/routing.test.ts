// Routing through the real gateway over HTTPS: host rules (exact beats wildcard, a wildcard covers one
// label, no host means any host), longest path prefix on segment boundaries, method filters, stripPrefix,
// the query string, and header edits in both directions. Every route tags its answers with x-route.
import assert from "node:assert/strict";
import type http from "node:http";
import { after, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request, type Response } from "../../helpers/client.js";
import { startGateway, type TestGateway } from "../../helpers/gateway.js";

interface Echo {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

function route(name: string, match: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    name,
    match,
    service: "app",
    ...extra,
    responseHeaders: { set: { "x-route": name }, ...(extra.responseHeaders as Record<string, unknown> | undefined) },
  };
}

describe("routing", () => {
  let backend: Backend;
  let gw: TestGateway;

  before(async () => {
    backend = await startBackend((req, res) => {
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
      res.writeHead(200, {
        "content-type": "application/json",
        "x-backend-secret": "internal",
        "x-backend-keep": "visible",
      });
      res.end(body);
    });
    gw = await startGateway({
      services: { app: { targets: [{ url: backend.url }] } },
      routes: [
        route("exact", { host: "api.example.com" }),
        route("wild", { host: "*.example.com" }),
        route("anyhost", { pathPrefix: "/any" }),
        route("v1", { host: "svc.test", pathPrefix: "/v1" }),
        route("v1-users", { host: "svc.test", pathPrefix: "/v1/users" }),
        route("writes", { host: "svc.test", pathPrefix: "/write", methods: ["POST", "PUT"] }),
        route("strip", { host: "strip.test", pathPrefix: "/v1" }, { stripPrefix: "/v1" }),
        route("strip-deep", { host: "strip.test", pathPrefix: "/api/v2" }, { stripPrefix: "/api" }),
        route(
          "edits",
          { host: "edits.test" },
          {
            requestHeaders: { set: { "X-Added": "by-gateway", "x-overwritten": "gateway-value" }, remove: ["X-Remove-Me"] },
            responseHeaders: { set: { "x-route": "edits", "X-Resp-Added": "yes" }, remove: ["X-Backend-Secret"] },
          },
        ),
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  const get = (host: string, path: string, options: { method?: string; headers?: http.OutgoingHttpHeaders } = {}): Promise<Response> =>
    request({ port: gw.httpsPort, tls: true, path, method: options.method, headers: { host, ...options.headers } });

  const assertRoute = async (host: string, path: string, expected: string, method?: string) => {
    const res = await get(host, path, { method });
    assert.equal(res.status, 200, `${method ?? "GET"} ${host}${path}: ${res.body}`);
    assert.equal(res.headers["x-route"], expected, `${method ?? "GET"} ${host}${path}`);
    return res;
  };

  const assertNoRoute = async (host: string, path: string, method?: string) => {
    const res = await get(host, path, { method });
    assert.equal(res.status, 404, `${method ?? "GET"} ${host}${path} should have no route, got ${res.status} ${res.body}`);
    assert.equal(res.headers["content-type"], "application/json");
    const requestId = res.headers["x-request-id"];
    assert.equal(typeof requestId, "string");
    assert.deepEqual(res.json(), { error: "no_route", requestId });
    assert.equal(res.headers["x-route"], undefined);
  };

  test("an exact host beats a *. wildcard", async () => {
    await assertRoute("api.example.com", "/", "exact");
    await assertRoute("api.example.com", "/anything/else", "exact");
  });

  test("host matching ignores case, the port and a trailing dot", async () => {
    await assertRoute("API.Example.COM", "/", "exact");
    await assertRoute(`api.example.com:${gw.httpsPort}`, "/", "exact");
    await assertRoute("api.example.com.", "/", "exact");
  });

  test("a wildcard covers exactly one label", async () => {
    await assertRoute("www.example.com", "/", "wild");
    await assertRoute("other.example.com", "/deep/path", "wild");
    // a.b.example.com is two labels deep, example.com none: neither is the wildcard's.
    await assertNoRoute("a.b.example.com", "/");
    await assertNoRoute("example.com", "/");
  });

  test("a route without host matches any host, but only its own prefix", async () => {
    await assertRoute("unrelated.org", "/any", "anyhost");
    await assertRoute("a.b.example.com", "/any/thing", "anyhost");
    await assertRoute("127.0.0.1", "/any", "anyhost");
    await assertNoRoute("unrelated.org", "/");
    // Hosts with their own routes fall back to the host-less route when none of theirs matches.
    await assertRoute("svc.test", "/any", "anyhost");
  });

  test("the longest path prefix wins", async () => {
    await assertRoute("svc.test", "/v1/users", "v1-users");
    await assertRoute("svc.test", "/v1/users/42", "v1-users");
    await assertRoute("svc.test", "/v1/orders", "v1");
    await assertRoute("svc.test", "/v1/usersx", "v1");
  });

  test("prefixes match on segment boundaries only", async () => {
    await assertRoute("svc.test", "/v1", "v1");
    await assertRoute("svc.test", "/v1/", "v1");
    await assertRoute("svc.test", "/v1/x", "v1");
    await assertRoute("svc.test", "/v1?q=1", "v1");
    await assertNoRoute("svc.test", "/v1x");
    await assertNoRoute("svc.test", "/v10/x");
    await assertNoRoute("svc.test", "/");
  });

  test("a methods filter answers 404 no_route for other methods", async () => {
    await assertRoute("svc.test", "/write", "writes", "POST");
    await assertRoute("svc.test", "/write/x", "writes", "PUT");
    await assertNoRoute("svc.test", "/write", "GET");
    await assertNoRoute("svc.test", "/write", "DELETE");
    const before = backend.requests.length;
    await assertNoRoute("svc.test", "/write/x", "PATCH");
    assert.equal(backend.requests.length, before, "a refused request never reaches the backend");
  });

  test("stripPrefix removes the prefix before forwarding", async () => {
    const users = (await assertRoute("strip.test", "/v1/users", "strip")).json<Echo>();
    assert.equal(users.url, "/users");
    const bare = (await assertRoute("strip.test", "/v1", "strip")).json<Echo>();
    assert.equal(bare.url, "/");
    const slash = (await assertRoute("strip.test", "/v1/", "strip")).json<Echo>();
    assert.equal(slash.url, "/");
    const partial = (await assertRoute("strip.test", "/api/v2/items", "strip-deep")).json<Echo>();
    assert.equal(partial.url, "/v2/items");
  });

  test("the query string is forwarded unchanged, also after stripPrefix", async () => {
    const plain = (await assertRoute("svc.test", "/v1/search?q=a%20b&x=1&x=2", "v1")).json<Echo>();
    assert.equal(plain.url, "/v1/search?q=a%20b&x=1&x=2");
    const stripped = (await assertRoute("strip.test", "/v1/users?page=2&sort=-name", "strip")).json<Echo>();
    assert.equal(stripped.url, "/users?page=2&sort=-name");
    const bare = (await assertRoute("strip.test", "/v1?only=query", "strip")).json<Echo>();
    assert.equal(bare.url, "/?only=query");
  });

  test("requestHeaders set and remove reach the backend", async () => {
    const res = await get("edits.test", "/h", {
      headers: { "x-remove-me": "secret", "x-overwritten": "client-value", "x-untouched": "kept" },
    });
    assert.equal(res.status, 200);
    const seen = res.json<Echo>().headers;
    assert.equal(seen["x-added"], "by-gateway");
    assert.equal(seen["x-overwritten"], "gateway-value");
    assert.equal(seen["x-remove-me"], undefined);
    assert.equal(seen["x-untouched"], "kept");
  });

  test("responseHeaders set and remove reach the client", async () => {
    const res = await get("edits.test", "/h");
    assert.equal(res.status, 200);
    assert.equal(res.headers["x-resp-added"], "yes");
    assert.equal(res.headers["x-route"], "edits");
    assert.equal(res.headers["x-backend-secret"], undefined);
    assert.equal(res.headers["x-backend-keep"], "visible");
    // Routes without edits pass the backend's headers through untouched.
    const other = await get("api.example.com", "/");
    assert.equal(other.headers["x-backend-secret"], "internal");
  });
});

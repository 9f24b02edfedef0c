// Header rewriting between client and upstream: hop-by-hop removal (including names listed in
// Connection), header edits, and the X-Forwarded-* a backend receives.
import assert from "node:assert/strict";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { describe, test } from "node:test";
import { RequestContext } from "../../../src/pipeline/context.js";
import { applyEdits, prepareUpstreamRequest, removeHopByHop, requestHeaderList } from "../../../src/proxy/headers.js";
import { compileHeaderEdits, type Route } from "../../../src/routing/route.js";
import { Linger } from "../../../src/pipeline/linger.js";

const testLinger = new Linger(() => ({ lingerTime: 1_000, lingerBytes: 1_024 }), () => {});

describe("removeHopByHop", () => {
  test("removes the fixed hop-by-hop set", () => {
    const headers: IncomingHttpHeaders = {
      connection: "keep-alive",
      "keep-alive": "timeout=5",
      "proxy-connection": "keep-alive",
      te: "trailers",
      trailer: "x-t",
      upgrade: "h2c",
      "proxy-authenticate": "Basic",
      "proxy-authorization": "Basic Zm9v",
      "x-end-to-end": "kept",
      host: "a.test",
    };
    removeHopByHop(headers, false);
    assert.deepEqual(headers, { "x-end-to-end": "kept", host: "a.test" });
  });

  test("removes headers named in Connection, whatever their case and spacing", () => {
    const headers: IncomingHttpHeaders = { connection: "X-Secret ,  close,x-other", "x-secret": "1", "x-other": "2", "x-kept": "3" };
    removeHopByHop(headers, false);
    assert.deepEqual(headers, { "x-kept": "3" });
  });

  test("Connection cannot strip the headers the gateway relies on", () => {
    const headers: IncomingHttpHeaders = {
      connection: "x-forwarded-for, X-Request-Id, host",
      "x-forwarded-for": "1.2.3.4",
      "x-request-id": "abc",
      host: "a.test",
    };
    removeHopByHop(headers, false);
    assert.deepEqual(headers, { "x-forwarded-for": "1.2.3.4", "x-request-id": "abc", host: "a.test" });
  });

  test("an upgrade keeps Upgrade and Connection but still drops the rest", () => {
    const headers: IncomingHttpHeaders = { connection: "Upgrade, x-secret", upgrade: "websocket", "x-secret": "1", "keep-alive": "timeout=5", te: "trailers" };
    removeHopByHop(headers, true);
    assert.equal(headers.upgrade, "websocket");
    assert.equal(headers.connection, "Upgrade, x-secret");
    assert.equal(headers["x-secret"], undefined);
    assert.equal(headers["keep-alive"], undefined);
    assert.equal(headers.te, undefined);
  });
});

describe("applyEdits", () => {
  test("removes first, then sets (names are lower-cased when compiled)", () => {
    const headers: IncomingHttpHeaders = { "x-remove": "1", "x-replace": "old", "x-keep": "k" };
    applyEdits(headers, compileHeaderEdits({ set: { "X-Replace": "new", "X-Add": "added" }, remove: ["X-Remove", "X-Replace"] }));
    assert.deepEqual(headers, { "x-keep": "k", "x-replace": "new", "x-add": "added" });
  });
});

function contextFor(options: {
  headers: IncomingHttpHeaders;
  peer: string;
  clientIp: string;
  viaTrustedProxy: boolean;
  encrypted: boolean;
  set?: Record<string, string>;
  remove?: string[];
  upgrade?: boolean;
}): RequestContext {
  const req = { headers: options.headers, socket: { remoteAddress: options.peer } } as unknown as IncomingMessage;
  const res = options.upgrade ? undefined : ({} as unknown as import("node:http").ServerResponse);
  const ctx = new RequestContext(req, res, req.socket, undefined, options.encrypted, 0, testLinger, "http/1.1");
  ctx.clientIp = options.clientIp;
  ctx.viaTrustedProxy = options.viaTrustedProxy;
  ctx.route = { requestHeaders: compileHeaderEdits({ set: options.set ?? {}, remove: options.remove ?? [] }) } as unknown as Route;
  return ctx;
}

describe("prepareUpstreamRequest", () => {
  test("from an untrusted client, X-Forwarded-* are replaced with what the gateway knows", () => {
    const ctx = contextFor({
      headers: { host: "shop.test:8443", "x-forwarded-for": "6.6.6.6", "x-forwarded-proto": "gopher", "x-forwarded-host": "evil", connection: "keep-alive, x-secret", "x-secret": "s" },
      peer: "::ffff:198.51.100.1",
      clientIp: "198.51.100.1",
      viaTrustedProxy: false,
      encrypted: true,
    });
    prepareUpstreamRequest(ctx, ctx.route!.requestHeaders);
    const headers = ctx.req.headers;
    assert.equal(headers["x-forwarded-for"], "198.51.100.1");
    assert.equal(headers["x-forwarded-proto"], "https");
    assert.equal(headers["x-forwarded-host"], "shop.test:8443");
    assert.equal(headers.connection, undefined);
    assert.equal(headers["x-secret"], undefined);
  });

  test("behind a trusted proxy, the chain is kept and the proxy's address appended", () => {
    const ctx = contextFor({
      headers: { host: "shop.test", "x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https", "x-forwarded-host": "www.shop.test" },
      peer: "::ffff:10.0.0.2",
      clientIp: "203.0.113.7",
      viaTrustedProxy: true,
      encrypted: false,
    });
    prepareUpstreamRequest(ctx, ctx.route!.requestHeaders);
    const headers = ctx.req.headers;
    assert.equal(headers["x-forwarded-for"], "203.0.113.7, 10.0.0.2");
    assert.equal(headers["x-forwarded-proto"], "https", "the trusted proxy's scheme is kept");
    assert.equal(headers["x-forwarded-host"], "www.shop.test");
  });

  test("behind a trusted proxy that sent no -Proto/-Host, the gateway fills them in", () => {
    const ctx = contextFor({ headers: { host: "shop.test", "x-forwarded-for": "203.0.113.7" }, peer: "10.0.0.2", clientIp: "203.0.113.7", viaTrustedProxy: true, encrypted: true });
    prepareUpstreamRequest(ctx, ctx.route!.requestHeaders);
    assert.equal(ctx.req.headers["x-forwarded-proto"], "https");
    assert.equal(ctx.req.headers["x-forwarded-host"], "shop.test");
  });

  test("Expect is not forwarded and the route's request edits apply last", () => {
    const ctx = contextFor({
      headers: { host: "a.test", expect: "100-continue", "x-internal": "drop", "x-tenant": "client" },
      peer: "127.0.0.1",
      clientIp: "127.0.0.1",
      viaTrustedProxy: false,
      encrypted: true,
      set: { "X-Tenant": "gateway" },
      remove: ["X-Internal"],
    });
    prepareUpstreamRequest(ctx, ctx.route!.requestHeaders);
    assert.equal(ctx.req.headers.expect, undefined);
    assert.equal(ctx.req.headers["x-internal"], undefined);
    assert.equal(ctx.req.headers["x-tenant"], "gateway");
  });

  test("an upgrade request keeps its Upgrade and Connection headers", () => {
    const ctx = contextFor({
      headers: { host: "a.test", connection: "Upgrade", upgrade: "websocket", "keep-alive": "1" },
      peer: "127.0.0.1",
      clientIp: "127.0.0.1",
      viaTrustedProxy: false,
      encrypted: true,
      upgrade: true,
    });
    prepareUpstreamRequest(ctx, ctx.route!.requestHeaders);
    assert.equal(ctx.req.headers.upgrade, "websocket");
    assert.equal(ctx.req.headers.connection, "Upgrade");
    assert.equal(ctx.req.headers["keep-alive"], undefined);
  });
});

describe("requestHeaderList", () => {
  test("an HTTP/1.1 request's fields as one flat list, repeated values repeated, Host last", () => {
    const list = requestHeaderList({ host: "a.test", accept: "*/*", "x-many": ["1", "2"] }, false, "10.0.0.1:8080");
    assert.deepEqual(list, ["accept", "*/*", "x-many", "1", "x-many", "2", "host", "a.test"]);
  });

  test("a request without Host (HTTP/1.0) is sent with the target's", () => {
    assert.deepEqual(requestHeaderList({ accept: "*/*" }, false, "10.0.0.1:8080"), ["accept", "*/*", "host", "10.0.0.1:8080"]);
  });

  test("an HTTP/2 request leaves its pseudo-headers behind and sends :authority as Host", () => {
    const headers = { ":method": "GET", ":path": "/x", ":scheme": "https", ":authority": "a.test", accept: "*/*" } as unknown as IncomingHttpHeaders;
    assert.deepEqual(requestHeaderList(headers, true, "10.0.0.1:8080"), ["accept", "*/*", "host", "a.test"]);
  });
});

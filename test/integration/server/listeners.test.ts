// The public listeners as a client sees them: HTTPS with HSTS and ALPN, HTTP redirecting to HTTPS
// except for ACME challenges, and HTTP serving routes when redirectHttp is off.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import tls from "node:tls";
import { request } from "../../helpers/client.js";
import { suiteGateway } from "../../helpers/fixtures.js";
import { simpleConfig, startGateway } from "../../helpers/gateway.js";

describe("listeners", () => {
  const suite = suiteGateway();

  test("HTTPS serves the route with HSTS and X-Request-Id", async () => {
    const res = await request({ port: suite.gw.httpsPort, path: "/hello", tls: true });
    assert.equal(res.status, 200);
    assert.equal(res.headers["strict-transport-security"], "max-age=31536000");
    assert.match(String(res.headers["x-request-id"]), /^[0-9a-f-]{36}$/);
    assert.equal(res.json<{ url: string }>().url, "/hello");
  });

  test("HTTP answers 308 to the same path on HTTPS, without HSTS", async () => {
    const res = await request({ port: suite.gw.httpPort, path: "/a/b?c=1", headers: { host: "api.example.com" } });
    assert.equal(res.status, 308);
    assert.equal(res.headers.location, `https://api.example.com:${suite.gw.httpsPort}/a/b?c=1`);
    assert.equal(res.headers["strict-transport-security"], undefined);
    assert.ok(res.headers["x-request-id"]);
  });

  test("ACME challenge paths are reserved on HTTP, never redirected", async () => {
    const res = await request({ port: suite.gw.httpPort, path: "/.well-known/acme-challenge/abc", headers: { host: "api.example.com" } });
    assert.equal(res.status, 404);
    assert.equal(res.json<{ error: string }>().error, "no_challenge");
  });

  test("ALPN: h2 for clients that offer it, http/1.1 for those that offer only that, and TLS 1.3 is offered", async () => {
    const offeringBoth = await alpnOf(suite.gw.httpsPort, ["h2", "http/1.1"]);
    assert.deepEqual(offeringBoth, { alpn: "h2", version: "TLSv1.3" });
    assert.equal((await alpnOf(suite.gw.httpsPort, ["http/1.1"])).alpn, "http/1.1");
  });

  test("with http2.enabled false, the HTTPS listener offers only http/1.1", async () => {
    const http1Only = await startGateway(simpleConfig(suite.backend.url, { top: { http2: { enabled: false } } }));
    try {
      assert.equal((await alpnOf(http1Only.httpsPort, ["h2", "http/1.1"])).alpn, "http/1.1");
    } finally {
      await http1Only.close();
    }
  });

  test("TLS below minVersion is refused", async () => {
    const strict = await startGateway(simpleConfig(suite.backend.url, { top: { tls: { minVersion: "TLSv1.3" } } }));
    try {
      const socket = tls.connect({ port: strict.httpsPort, host: "127.0.0.1", servername: "localhost", maxVersion: "TLSv1.2", rejectUnauthorized: false });
      const outcome = await new Promise<string>((resolve) => {
        socket.once("secureConnect", () => resolve("connected"));
        socket.once("error", () => resolve("refused"));
      });
      socket.destroy();
      assert.equal(outcome, "refused");
    } finally {
      await strict.close();
    }
  });

  test("with redirectHttp off, HTTP serves the routes (behind another TLS terminator)", async () => {
    const plain = await startGateway(simpleConfig(suite.backend.url, { top: { tls: { redirectHttp: false } } }));
    try {
      const res = await request({ port: plain.httpPort, path: "/plain" });
      assert.equal(res.status, 200);
      assert.equal(res.json<{ url: string; headers: Record<string, string> }>().headers["x-forwarded-proto"], "http");
      assert.equal(res.headers["strict-transport-security"], undefined);
    } finally {
      await plain.close();
    }
  });
});

async function alpnOf(port: number, offered: string[]): Promise<{ alpn: string | false | null; version: string | null }> {
  const socket = tls.connect({ port, host: "127.0.0.1", servername: "localhost", ALPNProtocols: offered, rejectUnauthorized: false });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", reject);
    });
    return { alpn: socket.alpnProtocol ?? null, version: socket.getProtocol() };
  } finally {
    socket.destroy();
  }
}

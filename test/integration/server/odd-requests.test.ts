// Requests Node's HTTP server would answer with a bare close, a silent drop or an answer we did not
// choose: each gets the contract's JSON answer, the backend never sees what was refused, and the
// access log has a line for it.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { simpleConfig, startGateway, type TestGateway } from "../../helpers/gateway.js";
import { bodyOf, headerOf, statusOf, waitFor } from "../../helpers/proxy-tools.js";

/** Writes `payload` on a fresh connection; everything received until the gateway closes (or `ms`). */
function exchange(port: number, payload: string, ms = 3_000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, "127.0.0.1", () => socket.write(payload));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString("latin1"), closed: false });
    }, ms);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString("latin1"), closed: true });
    });
  });
}

describe("odd requests", () => {
  let backend: Backend;
  let gw: TestGateway;
  const lines: Record<string, unknown>[] = [];

  before(async () => {
    backend = await startBackend();
    const config = simpleConfig(backend.url, { top: { tls: { redirectHttp: false }, limits: { maxBodySize: "1KiB", maxHeaderCount: 20 } } });
    config.routes = [
      { name: "trace-ok", match: { pathPrefix: "/diag", methods: ["GET", "TRACE"] }, service: "app" },
      ...(config.routes as object[]),
    ];
    gw = await startGateway(config, { accessLog: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) } });
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  const seenByBackend = (marker: string) => backend.requests.some((req) => req.url?.includes(marker) === true);

  test("CONNECT → 405 JSON, not a closed socket; logged; Rampart is no tunnel", async () => {
    const { text, closed } = await exchange(gw.httpPort, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert.equal(statusOf(text), 405, text);
    assert.equal(JSON.parse(bodyOf(text)).error, "method_not_allowed");
    assert.match(headerOf(text, "x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    assert.ok(closed);
    await waitFor(() => lines.find((line) => line.method === "CONNECT" && line.status === 405), 2_000, "an access-log line for CONNECT");
  });

  test("an HTTP/1.1 request without Host → 400 JSON; the backend never sees it", async () => {
    const { text } = await exchange(gw.httpPort, "GET /no-host-11 HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert.equal(statusOf(text), 400, text);
    assert.equal(JSON.parse(bodyOf(text)).error, "bad_request");
    assert.ok(!seenByBackend("no-host-11"));
  });

  test("an HTTP/1.0 request without Host reaches a host-less route with Host naming the gateway, never the backend", async () => {
    const { text } = await exchange(gw.httpPort, "GET /no-host-10 HTTP/1.0\r\n\r\n");
    assert.equal(statusOf(text), 200, text);
    const echoed = JSON.parse(bodyOf(text)) as { headers: Record<string, string> };
    assert.equal(echoed.headers.host, `127.0.0.1:${gw.httpPort}`);
    assert.notEqual(echoed.headers.host, `127.0.0.1:${backend.port}`);
  });

  test("Upgrade: h2c (curl --http2 over http) is served as a plain request, on a connection then closed", async () => {
    const { text, closed } = await exchange(
      gw.httpPort,
      "GET /h2c-upgrade HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    );
    assert.equal(statusOf(text), 200, text);
    assert.equal(headerOf(text, "connection"), "close");
    assert.ok(closed);
    const echoed = JSON.parse(bodyOf(text)) as { headers: Record<string, string> };
    assert.equal(echoed.headers.upgrade, undefined, "the upgrade request is not passed on");
  });

  test("TRACE → 405 unless the route lists it; cookies never reach a backend that did not ask", async () => {
    const refused = await exchange(gw.httpPort, "TRACE /trace-me HTTP/1.1\r\nHost: localhost\r\nCookie: session=secret\r\nConnection: close\r\n\r\n");
    assert.equal(statusOf(refused.text), 405, refused.text);
    assert.ok(!seenByBackend("trace-me"));
    const allowed = await exchange(gw.httpPort, "TRACE /diag/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert.equal(statusOf(allowed.text), 200, allowed.text);
  });

  test("Expect: 100-continue with a declared body over maxBodySize → 413 and never 100 Continue", async () => {
    const { text } = await exchange(gw.httpPort, "POST /expect-big HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n", 1_500);
    assert.ok(!text.includes("100 Continue"), text);
    assert.equal(statusOf(text), 413, text);
    assert.ok(!seenByBackend("expect-big"));
  });

  test("Expect: 100-continue within the limit → 100 Continue, then the backend's answer", async () => {
    const socket = net.connect(gw.httpPort, "127.0.0.1");
    socket.write("POST /expect-ok HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n");
    let received = "";
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (received.startsWith("HTTP/1.1 100") && !received.includes("\r\n\r\nHTTP")) socket.write("hello");
    });
    await new Promise((resolve) => socket.on("close", resolve));
    assert.match(received, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200/);
  });

  test("more header lines than maxHeaderCount → 431, not silently dropped; exactly the limit passes", async () => {
    const headers = (count: number) => Array.from({ length: count }, (_, i) => `x-h${i}: v\r\n`).join("");
    // Host and Connection count too: 18 + 2 = 20 lines is the limit.
    const atLimit = await exchange(gw.httpPort, `GET /headers-ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${headers(18)}\r\n`);
    assert.equal(statusOf(atLimit.text), 200, atLimit.text);
    const over = await exchange(gw.httpPort, `GET /headers-over HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${headers(19)}\r\n`);
    assert.equal(statusOf(over.text), 431, over.text);
    assert.equal(JSON.parse(bodyOf(over.text)).error, "too_many_headers");
    assert.ok(!seenByBackend("headers-over"));
  });

  test("a request the parser refuses gets JSON and an access-log line", async () => {
    const { text } = await exchange(gw.httpPort, "GET /\x01 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert.equal(statusOf(text), 400, text);
    const requestId = headerOf(text, "x-request-id");
    await waitFor(() => lines.find((line) => line.requestId === requestId && line.status === 400), 2_000, "an access-log line for the refusal");
  });
  test("Expect other than 100-continue → 417 JSON with its request id; the backend never sees it", async () => {
    const { text, closed } = await exchange(gw.httpPort, "GET /expect-odd HTTP/1.1\r\nHost: localhost\r\nExpect: 200-ok\r\n\r\n");
    assert.equal(statusOf(text), 417, text);
    const body = JSON.parse(bodyOf(text)) as { error: string; requestId: string };
    assert.equal(body.error, "expectation_failed");
    assert.equal(body.requestId, headerOf(text, "x-request-id"));
    assert.ok(closed);
    assert.ok(!seenByBackend("expect-odd"));
  });

  test("an HTTP version other than 1.x → 400 unsupported_http_version", async () => {
    const { text } = await exchange(gw.httpPort, "GET /version-two HTTP/2.0\r\nHost: localhost\r\n\r\n");
    assert.equal(statusOf(text), 400, text);
    assert.equal(JSON.parse(bodyOf(text)).error, "unsupported_http_version");
    assert.ok(!seenByBackend("version-two"));
  });

  test("a WebSocket handshake over HTTP/1.0 is served as a plain request (RFC 6455 needs HTTP/1.1)", async () => {
    const { text } = await exchange(gw.httpPort, "GET /ws-10 HTTP/1.0\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    assert.match(text, /^HTTP\/1\.1 200 /, text);
    const echoed = JSON.parse(bodyOf(text)) as { headers: Record<string, string> };
    assert.equal(echoed.headers.upgrade, undefined);
  });

  test("a WebSocket handshake that declares a body → 400, answered, not left hanging", async () => {
    const { text, closed } = await exchange(gw.httpPort, "GET /ws-body HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 1\r\n\r\nxy");
    assert.equal(statusOf(text), 400, text);
    assert.ok(closed);
    assert.ok(!seenByBackend("ws-body"));
  });

  test("a malformed chunk after an early answer closes the connection: one request, one status line", async () => {
    // 21 header lines: answered 431 before the body is read; the bad chunk then belongs to an answered request.
    const headers = Array.from({ length: 20 }, (_, i) => `x-h${i}: v\r\n`).join("");
    const { text, closed } = await exchange(gw.httpPort, `HEAD /early-then-bad HTTP/1.1\r\n${headers}Host: localhost\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\nzz\r\n`);
    assert.equal(statusOf(text), 431, text);
    assert.equal(text.match(/HTTP\/1\.1 /g)?.length, 1, text);
    assert.ok(closed);
  });

  test("a chunked DELETE goes upstream chunked: its body is never read by the backend as a second request", async () => {
    const smuggled = "GET /smuggled-by-delete HTTP/1.1\r\nHost: localhost\r\n\r\n";
    const chunk = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
    const { text } = await exchange(gw.httpPort, `DELETE /delete-chunked HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk}`);
    assert.equal(statusOf(text), 200, text);
    const echoed = JSON.parse(bodyOf(text)) as { headers: Record<string, string> };
    assert.equal(echoed.headers["transfer-encoding"], "chunked");
    assert.equal(echoed.headers["content-length"], undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(!seenByBackend("smuggled-by-delete"), "the DELETE body was parsed by the backend as a request");
  });
});

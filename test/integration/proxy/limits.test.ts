// The limits a hostile client runs into: 431 for oversized headers, 413 for bodies over maxBodySize
// (declared or counted while streaming), slowloris cut off by headersTimeout, maxConnectionsPerIp at
// accept (with its metric), and 400 for malformed requests, after which the gateway goes on serving.
import assert from "node:assert/strict";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { rawRequest, request } from "../../helpers/client.js";
import { simpleConfig, startGateway, type TestGateway } from "../../helpers/gateway.js";
import { bodyOf, connectTls, fetchMetrics, headerOf, metricValue, rawTls } from "../../helpers/proxy-tools.js";
import { recordingBackend, type Upload } from "../../helpers/uploads.js";

describe("request limits", () => {
  let backend: Backend;
  let gw: TestGateway;
  const uploads: Upload[] = [];

  before(async () => {
    const record = recordingBackend(uploads);
    backend = await startBackend((req, res) => {
      if (req.method === "POST") return record(req, res);
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
    gw = await startGateway(
      simpleConfig(backend.url, {
        top: { limits: { maxHeaderSize: "1KiB", maxBodySize: "1KiB", headersTimeout: "500ms", requestTimeout: "5s" } },
      }),
    );
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  test("a header larger than maxHeaderSize → 431 and the backend sees nothing", async () => {
    const seen = backend.requests.length;
    const res = await request({ port: gw.httpsPort, tls: true, path: "/", headers: { "x-big": "a".repeat(2_000) } });
    assert.equal(res.status, 431, res.body);
    // Refused before a request exists, yet answered like every other error: JSON with a request id.
    const requestId = res.headers["x-request-id"];
    assert.match(String(requestId), /^[0-9a-f-]{36}$/);
    assert.deepEqual(res.json(), { error: "header_too_large", requestId });
    // Many small headers that add up count too.
    const many: Record<string, string> = {};
    for (let i = 0; i < 40; i++) many[`x-h${i}`] = "v".repeat(30);
    const summed = await request({ port: gw.httpsPort, tls: true, path: "/", headers: many });
    assert.equal(summed.status, 431);
    assert.equal(backend.requests.length, seen);
    // Just under the limit passes.
    const fits = await request({ port: gw.httpsPort, tls: true, path: "/", headers: { "x-big": "a".repeat(600) } });
    assert.equal(fits.status, 200);
  });

  test("a declared Content-Length above maxBodySize → 413 before anything goes upstream", async () => {
    const seen = backend.requests.length;
    // Headers only: the gateway must answer without waiting for (or reading) the body.
    const res = await rawTls(gw.httpsPort, "POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: 2048\r\n\r\n", { ms: 2_000 });
    assert.equal(res.status, 413, res.text);
    const body = JSON.parse(bodyOf(res.text)) as { error: string; requestId: string };
    assert.equal(body.error, "body_too_large");
    assert.ok(res.closedByServer, "the connection is closed rather than the body drained");
    assert.equal(backend.requests.length, seen, "the backend got nothing");
  });

  test("a body exactly at maxBodySize is forwarded", async () => {
    const res = await request({ port: gw.httpsPort, tls: true, method: "POST", path: "/upload", body: Buffer.alloc(1024, 1) });
    assert.equal(res.status, 200);
    assert.equal(res.body, "got 1024");
  });

  test("a chunked body that grows over maxBodySize → 413 and the upstream request is abandoned", async () => {
    const uploadsBefore = uploads.length;
    const outcome = await new Promise<{ status: number; body: string } | { error: string }>((resolve) => {
      const req = https.request({ host: "127.0.0.1", port: gw.httpsPort, method: "POST", path: "/upload", rejectUnauthorized: false, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", (error) => resolve({ error: String(error) }));
      });
      req.on("error", (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? String(error) }));
      let sent = 0;
      const writeMore = () => {
        if (req.destroyed) return;
        if (sent >= 8 * 1024) {
          req.end();
          return;
        }
        req.write(Buffer.alloc(512, 2));
        sent += 512;
        setTimeout(writeMore, 10);
      };
      writeMore();
    });
    assert.ok("status" in outcome, `expected a 413 response, got ${JSON.stringify(outcome)}`);
    assert.equal(outcome.status, 413, outcome.body);
    assert.equal((JSON.parse(outcome.body) as { error: string }).error, "body_too_large");
    // Whatever reached the backend before the cut, it never saw a complete over-limit body.
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const upload of uploads.slice(uploadsBefore)) {
      assert.equal(upload.complete, false, `backend received a complete body of ${upload.bytes} bytes`);
    }
    const alive = await request({ port: gw.httpsPort, tls: true, path: "/" });
    assert.equal(alive.status, 200);
  });

  test("slowloris: headers sent a line at a time are cut off by headersTimeout (500ms)", async () => {
    const parts = ["GET / HTTP/1.1\r\n", "Host: a.test\r\n"];
    for (let i = 0; i < 30; i++) parts.push(`X-Slow-${i}: x\r\n`);
    const res = await rawTls(gw.httpsPort, parts, { gapMs: 150, ms: 5_000 });
    assert.ok(res.closedByServer, "the gateway closed the connection");
    assert.ok(res.elapsedMs < 2_000, `closed after ${res.elapsedMs} ms`);
    assert.ok(res.status === 408 || res.status === 0, `status ${res.status}: ${res.text}`);
  });

  test("slowloris: a connection that never finishes its request line is cut off too", async () => {
    const started = Date.now();
    const res = await rawTls(gw.httpsPort, ["G", "E", "T", " ", "/", " ", "H"], { gapMs: 200, ms: 5_000 });
    assert.ok(res.closedByServer, "the gateway closed the connection");
    assert.ok(Date.now() - started < 2_500, `closed after ${Date.now() - started} ms`);
  });

  test("malformed request lines → 400, and the gateway keeps serving", async () => {
    for (const payload of ["GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\nHost: a\r\n\r\n", "\x00\x01\x02\r\n\r\n"]) {
      const res = await rawTls(gw.httpsPort, payload);
      assert.equal(res.status, 400, `${JSON.stringify(payload)}: ${res.text}`);
      assert.ok(res.closedByServer);
      const body = JSON.parse(bodyOf(res.text)) as { error: string; requestId: string };
      assert.equal(body.error, "bad_request");
      assert.equal(body.requestId, headerOf(res.text, "x-request-id"));
      const alive = await request({ port: gw.httpsPort, tls: true, path: "/" });
      assert.equal(alive.status, 200);
    }
  });

  test("malformed headers → 400: smuggling shapes, a missing Host, bad header bytes", async () => {
    const seen = backend.requests.length;
    const cases = [
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
      "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: bad host\r\nConnection: close\r\n\r\n",
      // RFC 9112 §3.2: more than one Host field line is a 400, not "the first one wins".
      "GET / HTTP/1.1\r\nHost: a.test\r\nHost: evil.test\r\nConnection: close\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a.test\r\nhOST: a.test\r\nConnection: close\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a.test, evil.test\r\nConnection: close\r\n\r\n",
    ];
    for (const payload of cases) {
      const res = await rawTls(gw.httpsPort, payload);
      assert.equal(res.status, 400, `${JSON.stringify(payload)}: ${res.text}`);
    }
    assert.equal(backend.requests.length, seen, "none of them reached the backend");
  });

  test("CONNECT is never tunnelled", async () => {
    const seen = backend.requests.length;
    const res = await rawTls(gw.httpsPort, "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n");
    assert.ok(res.closedByServer, "the connection is not kept open as a tunnel");
    assert.ok(res.status === 0 || res.status >= 400, `answered ${res.status}: ${res.text}`);
    assert.equal(backend.requests.length, seen);
  });

  test("the plain HTTP listener answers malformed requests with 400 as well", async () => {
    const text = await rawRequest(gw.httpPort, "GARBAGE\r\n\r\n");
    assert.match(text, /^HTTP\/1\.1 400 /);
    const alive = await rawRequest(gw.httpPort, "GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    assert.match(alive, /^HTTP\/1\.1 308 /);
  });
});

describe("maxConnectionsPerIp", () => {
  let backend: Backend;
  let gw: TestGateway;

  before(async () => {
    backend = await startBackend();
    gw = await startGateway(simpleConfig(backend.url, { top: { limits: { maxConnectionsPerIp: 2 } } }));
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  test("a third concurrent connection is closed at accept while two stay open, and it is counted", async () => {
    const first = await connectTls(gw.httpsPort);
    const second = await connectTls(gw.httpsPort);
    try {
      // A real TLS client: admitted, it would complete the handshake; refused at accept, it never can.
      const started = Date.now();
      const third = await new Promise<{ secured: boolean; closedAfter: number }>((resolve) => {
        const socket = tls.connect({ host: "127.0.0.1", port: gw.httpsPort, rejectUnauthorized: false });
        let secured = false;
        socket.on("secureConnect", () => {
          secured = true;
          socket.destroy();
        });
        socket.on("error", () => {});
        socket.on("close", () => resolve({ secured, closedAfter: Date.now() - started }));
      });
      assert.equal(third.secured, false, "the third connection completed a TLS handshake");
      assert.ok(third.closedAfter < 1_000, `closed after ${third.closedAfter} ms`);

      // Plain TCP as well: closed without a byte in answer.
      const raw = await new Promise<{ received: number }>((resolve) => {
        const socket = net.connect(gw.httpPort, "127.0.0.1");
        let received = 0;
        socket.on("data", (chunk: Buffer) => (received += chunk.length));
        socket.on("error", () => {});
        socket.on("connect", () => socket.write("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"));
        socket.on("close", () => resolve({ received }));
      });
      assert.equal(raw.received, 0, "the plain listener refused the third connection too");

      // The two admitted connections still work.
      for (const socket of [first, second]) {
        assert.equal(socket.destroyed, false);
        const answer = new Promise<string>((resolve) => {
          let text = "";
          socket.on("data", (chunk: Buffer) => {
            text += chunk.toString("latin1");
            if (text.includes("\r\n\r\n")) resolve(text);
          });
        });
        socket.write("GET /still-open HTTP/1.1\r\nHost: a.test\r\n\r\n");
        assert.match(await answer, /^HTTP\/1\.1 200 /);
      }

      const metrics = await fetchMetrics(gw.adminPort);
      const rejected = metricValue(metrics, 'rampart_connections_rejected_total{reason="connection_limit"}');
      assert.ok(rejected !== undefined && rejected >= 2, `connection_limit rejections: ${rejected}`);
    } finally {
      first.destroy();
      second.destroy();
    }

    // Once they are gone, the client may connect again.
    const res = await waitForOk(gw.httpsPort);
    assert.equal(res, 200);
  });
});

/** Retries a request for up to a second while closed connections are being released. */
async function waitForOk(port: number): Promise<number> {
  const deadline = Date.now() + 1_000;
  for (;;) {
    try {
      const res = await request({ port, tls: true, path: "/" });
      return res.status;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

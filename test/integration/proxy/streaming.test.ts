// Bodies stream both ways without buffering: a 5 MiB upload arrives intact (sha256 compared), with and
// without Content-Length, and a response the backend writes slowly reaches the client chunk by chunk.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import https from "node:https";
import { after, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { simpleConfig, startGateway, type TestGateway } from "../../helpers/gateway.js";

const FIVE_MIB = 5 * 1024 * 1024;

describe("streaming", () => {
  let backend: Backend;
  let gw: TestGateway;
  /** The slow route waits for this before it writes its last chunk. */
  let releaseSlow: () => void = () => {};
  let slowEndedAt = 0;
  const download = randomBytes(FIVE_MIB);
  const downloadHash = createHash("sha256").update(download).digest("hex");

  before(async () => {
    backend = await startBackend((req, res) => {
      if (req.url === "/upload") {
        const hash = createHash("sha256");
        let bytes = 0;
        req.on("data", (chunk: Buffer) => {
          hash.update(chunk);
          bytes += chunk.length;
        });
        req.on("end", () => {
          const body = JSON.stringify({ sha256: hash.digest("hex"), bytes, te: req.headers["transfer-encoding"] ?? null });
          res.writeHead(200, { "content-type": "application/json" }).end(body);
        });
        return;
      }
      if (req.url === "/download") {
        res.writeHead(200, { "content-type": "application/octet-stream", "x-sha256": downloadHash });
        // Written in pieces, without Content-Length: the gateway passes it on chunked.
        let offset = 0;
        const writeMore = () => {
          while (offset < download.length) {
            const piece = download.subarray(offset, offset + 256 * 1024);
            offset += piece.length;
            if (!res.write(piece)) return void res.once("drain", writeMore);
          }
          res.end();
        };
        writeMore();
        return;
      }
      if (req.url === "/slow") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("first;");
        // The last chunk waits for the client to report the first one (or 3 s): a gateway that buffered
        // the response would make the client wait those 3 s and the test fails on the order below.
        const fallback = setTimeout(() => releaseSlow(), 3_000);
        releaseSlow = () => {
          clearTimeout(fallback);
          if (res.writableEnded) return;
          slowEndedAt = Date.now();
          res.end("last");
        };
        return;
      }
      res.writeHead(404).end();
    });
    gw = await startGateway(simpleConfig(backend.url));
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  test("a 5 MiB body with Content-Length arrives intact", async () => {
    const body = randomBytes(FIVE_MIB);
    const res = await request({ port: gw.httpsPort, tls: true, method: "POST", path: "/upload", body, headers: { "content-type": "application/octet-stream" } });
    assert.equal(res.status, 200, res.body);
    const seen = res.json<{ sha256: string; bytes: number }>();
    assert.equal(seen.bytes, FIVE_MIB);
    assert.equal(seen.sha256, createHash("sha256").update(body).digest("hex"));
  });

  test("a 5 MiB chunked body arrives intact", async () => {
    const body = randomBytes(FIVE_MIB);
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(
        { host: "127.0.0.1", port: gw.httpsPort, method: "POST", path: "/upload", rejectUnauthorized: false, agent: false },
        (response) => {
          let text = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => (text += chunk));
          response.on("end", () => resolve({ status: response.statusCode ?? 0, text }));
        },
      );
      req.on("error", reject);
      // No Content-Length: Node sends it chunked, in 64 KiB pieces.
      for (let offset = 0; offset < body.length; offset += 64 * 1024) req.write(body.subarray(offset, offset + 64 * 1024));
      req.end();
    });
    assert.equal(res.status, 200, res.text);
    const seen = JSON.parse(res.text) as { sha256: string; bytes: number; te: string | null };
    assert.equal(seen.bytes, FIVE_MIB);
    assert.equal(seen.sha256, createHash("sha256").update(body).digest("hex"));
    assert.equal(seen.te, "chunked");
  });

  test("a 5 MiB response arrives intact", async () => {
    const { hash, bytes, header } = await new Promise<{ hash: string; bytes: number; header: unknown }>((resolve, reject) => {
      https
        .get({ host: "127.0.0.1", port: gw.httpsPort, path: "/download", rejectUnauthorized: false, agent: false }, (res) => {
          const sha = createHash("sha256");
          let bytes = 0;
          res.on("data", (chunk: Buffer) => {
            sha.update(chunk);
            bytes += chunk.length;
          });
          res.on("end", () => resolve({ hash: sha.digest("hex"), bytes, header: res.headers["x-sha256"] }));
          res.on("error", reject);
        })
        .on("error", reject);
    });
    assert.equal(bytes, FIVE_MIB);
    assert.equal(hash, downloadHash);
    assert.equal(header, downloadHash);
  });

  test("Expect: 100-continue is answered and the body then arrives", async () => {
    const body = randomBytes(64 * 1024);
    const result = await new Promise<{ status: number; text: string; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = https.request(
        {
          host: "127.0.0.1",
          port: gw.httpsPort,
          method: "POST",
          path: "/upload",
          rejectUnauthorized: false,
          agent: false,
          headers: { expect: "100-continue", "content-length": body.length },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text, continued }));
        },
      );
      req.on("continue", () => {
        continued = true;
        req.end(body);
      });
      req.on("error", reject);
      req.flushHeaders();
    });
    assert.equal(result.continued, true, "the client was told to continue");
    assert.equal(result.status, 200, result.text);
    const seen = JSON.parse(result.text) as { sha256: string; bytes: number };
    assert.equal(seen.bytes, body.length);
    assert.equal(seen.sha256, createHash("sha256").update(body).digest("hex"));
  });

  test("a slowly streamed response reaches the client chunk by chunk", async () => {
    slowEndedAt = 0;
    const started = Date.now();
    let backendEndedBeforeFirstChunk = true;
    const { chunks, firstAt } = await new Promise<{ chunks: string[]; firstAt: number }>((resolve, reject) => {
      const req = https.get({ host: "127.0.0.1", port: gw.httpsPort, path: "/slow", rejectUnauthorized: false, agent: false }, (response) => {
        const chunks: string[] = [];
        let firstAt = 0;
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          chunks.push(chunk);
          if (firstAt === 0) {
            firstAt = Date.now();
            backendEndedBeforeFirstChunk = slowEndedAt !== 0;
            // The backend is still holding back its last chunk; let it go now.
            setImmediate(() => releaseSlow());
          }
        });
        response.on("end", () => resolve({ chunks, firstAt }));
        response.on("error", reject);
      });
      req.on("error", reject);
    });
    assert.equal(chunks.join(""), "first;last");
    assert.equal(chunks[0], "first;", "the first chunk arrived on its own");
    assert.ok(slowEndedAt !== 0, "the backend ended its response");
    assert.equal(backendEndedBeforeFirstChunk, false, "the first chunk reached the client before the backend ended the response");
    assert.ok(firstAt - started < 2_000, `first chunk after ${firstAt - started} ms`);
    assert.ok(chunks.length >= 2, `received ${chunks.length} chunk(s)`);
  });
});

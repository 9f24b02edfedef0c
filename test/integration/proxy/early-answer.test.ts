// "An oversized upload must see its 413, not a connection reset." Rampart answers some requests before
// it has read their body: 413 over limits.maxBodySize (declared Content-Length, or a chunked body counted
// while it streams), 429 over a rate limit, 403 for a client denylisted through a trusted proxy, 404 when
// no route matches. The client is usually still sending then; if the gateway closed at once, the kernel
// would answer the rest of the body with a reset, and the reset discards the answer the client has not
// read yet. So the gateway lingers: it sends the answer, closes its side (FIN) and discards incoming
// bytes for at most limits.lingerTime / limits.lingerBytes before closing for good.
//
// What is asserted, over plain HTTP/1.1 and HTTPS:
// - curl (the real binary) uploading 2 MiB against a 1 MiB limit prints 413 and the JSON body
//   {"error":"body_too_large","requestId":"..."} and exits 0, every time: 100 of 100 with a declared
//   Content-Length and no Expect, 30 of 30 for Expect: 100-continue and for chunked bodies;
// - a raw writer that pushes 2 MiB as fast as the socket takes it, without waiting for an answer, reads
//   the whole 413 and then the gateway's FIN, and never sees a reset (100 of 100, Content-Length and
//   chunked). The writers run in a worker thread: on the gateway's own event loop they would take turns
//   with it and never hit the race between a closing gateway and a client still sending;
// - lingering is bounded: a writer that never stops is cut off after about lingerBytes, one that
//   trickles is cut off after lingerTime;
// - 429, 404 and 403 answered before the body are read the same way (20 raw writers, 20 curls each);
// - the backend never receives a refused request (a chunked one may reach it, but never whole).
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { simpleConfig, startGateway, type TestGateway } from "../../helpers/gateway.js";
import { headerOf } from "../../helpers/proxy-tools.js";
import { bodyFile, inPool, killCurls, rawUploadsInWorker, recordingBackend, runCurl, tally, type CurlResult, type RawUploadResult, type Upload } from "../../helpers/uploads.js";

const MiB = 1024 * 1024;
const BODY = 2 * MiB;
const CONCURRENCY = 8;

type Scheme = "http" | "https";

function portOf(gw: TestGateway, scheme: Scheme): number {
  return scheme === "https" ? gw.httpsPort : gw.httpPort;
}

/** Why a JSON error body is not `{"error": error, "requestId": <requestId or any non-empty string>}`; undefined when it is. */
function jsonBodyProblem(body: string, error: string, requestId?: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return `body not JSON: ${JSON.stringify(body.slice(0, 80))}`;
  }
  const object = parsed as { error?: unknown; requestId?: unknown };
  if (object.error !== error) return `body error ${JSON.stringify(object.error)}`;
  if (typeof object.requestId !== "string" || object.requestId === "") return "body without requestId";
  if (requestId !== undefined && object.requestId !== requestId) return "body requestId differs from X-Request-Id";
  return undefined;
}

/** What went wrong with one curl run, undefined when it printed `status` and the JSON error body and exited 0. */
function curlProblem(result: CurlResult, status: number, error: string): string | undefined {
  if (result.timedOut) return `curl timed out (http_code ${result.httpCode})`;
  if (result.exitCode !== 0) {
    const message = result.stderr.replace(/^curl: /, "").replace(/, errno \d+$/, "");
    return `curl exit ${result.exitCode} with http_code ${result.httpCode}: ${message}`;
  }
  if (result.httpCode !== String(status)) return `http_code ${result.httpCode}`;
  return jsonBodyProblem(result.body, error);
}

/**
 * What went wrong with one raw writer whose whole body fits in the linger bounds; undefined when it read
 * a complete `status` answer with the JSON error body, then the gateway's FIN, and never saw a reset.
 */
function rawProblem(result: RawUploadResult, status: number, error: string): string | undefined {
  if (!result.responseComplete) {
    if (result.error !== undefined) return `${result.error} before a complete response (${result.status === 0 ? "nothing read" : "partial"})`;
    return result.timedOut ? "timed out without a complete response" : "closed without a complete response";
  }
  if (result.status !== status) return `status ${result.status}`;
  const requestId = headerOf(result.text, "x-request-id");
  const problem = jsonBodyProblem(result.responseBody, error, requestId);
  if (problem !== undefined) return problem;
  if (result.error !== undefined) return `${result.error} after the response${result.finReceived ? " and FIN" : ", no FIN"}`;
  if (!result.finReceived) {
    const connection = headerOf(result.text, "connection") ?? "keep-alive";
    return result.writerFinished ? `no FIN within 2 s after the writer stopped (answer said connection: ${connection})` : "timed out while writing";
  }
  if (!result.writerFinished) return "writer did not finish";
  return undefined;
}

function assertAll(label: string, problems: readonly (string | undefined)[]): void {
  const failed = problems.filter((problem) => problem !== undefined).length;
  assert.equal(failed, 0, `${label}: ${failed} of ${problems.length} failed: ${tally(problems)}`);
}

function curlArgs(scheme: Scheme, port: number, path: string, file: string, extra: readonly string[]): string[] {
  return ["--http1.1", ...(scheme === "https" ? ["-k"] : []), "--data-binary", `@${file}`, ...extra, `${scheme}://127.0.0.1:${port}${path}`];
}

function uploadHead(path: string, framing: "cl" | "chunked", declared = BODY, extraHeaders = ""): string {
  const length = framing === "cl" ? `Content-Length: ${declared}\r\n` : "Transfer-Encoding: chunked\r\n";
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n${length}${extraHeaders}\r\n`;
}

// ------------------------------------------------------------------------------------------------------

describe("413 over maxBodySize: the client reads the answer, not a reset", () => {
  let backend: Backend;
  let gw: TestGateway;
  let dir: string;
  let file: string;
  const uploads: Upload[] = [];

  before(async () => {
    ({ dir, file } = await bodyFile(BODY));
    backend = await startBackend(recordingBackend(uploads));
    gw = await startGateway(simpleConfig(backend.url, { top: { limits: { maxBodySize: "1MiB" }, tls: { redirectHttp: false } } }));
  });

  after(async () => {
    killCurls();
    await gw?.close();
    await backend?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  // The two main cases (Content-Length, no Expect) 100 times each; the other six combinations 30 times
  // each, so the whole file stays near a minute on a loaded two-core machine (a curl run costs ~60 ms).
  const curlCases: { scheme: Scheme; framing: "cl" | "chunked"; expect: boolean; runs: number }[] = [];
  for (const scheme of ["http", "https"] as const) {
    for (const framing of ["cl", "chunked"] as const) {
      for (const expect of [false, true]) curlCases.push({ scheme, framing, expect, runs: framing === "cl" && !expect ? 100 : 30 });
    }
  }

  for (const { scheme, framing, expect, runs } of curlCases) {
    const label = `curl over ${scheme.toUpperCase()}, ${framing === "cl" ? "Content-Length" : "chunked"}, ${expect ? "Expect: 100-continue" : "no Expect"}`;
    test(`${label}: ${runs} of ${runs} print 413 with {"error":"body_too_large"} and exit 0`, { timeout: 60_000 }, async () => {
      const headers = [
        "-H",
        expect ? "Expect: 100-continue" : "Expect:",
        ...(framing === "chunked" ? ["-H", "Transfer-Encoding: chunked"] : []),
      ];
      const tag = `curl-${scheme}-${framing}-${expect ? "expect" : "noexpect"}`;
      const results = await inPool(runs, CONCURRENCY, (i) => runCurl(curlArgs(scheme, portOf(gw, scheme), `/upload/${tag}-${i}`, file, headers)));
      assertAll(label, results.map((result) => curlProblem(result, 413, "body_too_large")));
    });
  }

  for (const scheme of ["http", "https"] as const) {
    for (const framing of ["cl", "chunked"] as const) {
      const label = `raw writer over ${scheme.toUpperCase()}, ${framing === "cl" ? "Content-Length: 2097152" : "chunked"}, writing without waiting`;
      test(`${label}: 100 of 100 read the whole 413, then the gateway's FIN, and no reset`, { timeout: 60_000 }, async () => {
        const tag = `raw-${scheme}-${framing}`;
        const attempts = Array.from({ length: 100 }, (_, i) => ({
          port: portOf(gw, scheme),
          tls: scheme === "https",
          head: uploadHead(`/upload/${tag}-${i}`, framing),
          body: { kind: framing === "cl" ? ("length" as const) : ("chunked" as const), bytes: BODY },
        }));
        const results = await rawUploadsInWorker(attempts, CONCURRENCY);
        assertAll(label, results.map((result) => rawProblem(result, 413, "body_too_large")));
      });
    }
  }

  test("the gateway still serves afterwards, and the backend never received a refused body", async () => {
    const alive = await request({ port: gw.httpPort, method: "POST", path: "/upload/small", body: Buffer.alloc(1024, 1) });
    assert.equal(alive.status, 200, alive.body);
    assert.equal(alive.body, "got 1024");
    // Declared too large: refused before anything goes upstream.
    const declared = backend.requests.map((req) => req.url ?? "").filter((url) => url.includes("-cl-"));
    assert.deepEqual(declared, [], "requests with a declared Content-Length over the limit reached the backend");
    // Chunked: forwarded while it streams and cut off at the limit, so the backend may see a start, never all of it.
    const whole = uploads.filter((upload) => upload.url.includes("-chunked-") && (upload.complete || upload.bytes > MiB));
    assert.deepEqual(
      whole.map((upload) => `${upload.url}: ${upload.bytes} bytes${upload.complete ? ", complete" : ""}`),
      [],
      "chunked bodies over the limit reached the backend whole or past the limit",
    );
  });
});

// ------------------------------------------------------------------------------------------------------

describe("lingering is bounded by limits.lingerBytes and limits.lingerTime", () => {
  let backend: Backend;
  let gw: TestGateway;
  const lingerBytes = 2 * MiB;
  const lingerTime = 3_000;

  before(async () => {
    backend = await startBackend(recordingBackend([]));
    gw = await startGateway(
      simpleConfig(backend.url, { top: { limits: { maxBodySize: "1MiB", lingerBytes: "2MiB", lingerTime: "3s" }, tls: { redirectHttp: false } } }),
    );
  });

  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  test("a writer that never stops (100 MiB declared, full speed) is cut off after about lingerBytes, long before lingerTime", { timeout: 60_000 }, async () => {
    const declared = 100 * MiB;
    // Kernel socket buffers on both sides hold several MiB the gateway never read: generous slack.
    const slack = 8 * MiB;
    for (const scheme of ["http", "https"] as const) {
      const attempts = Array.from({ length: 4 }, (_, i) => ({
        port: portOf(gw, scheme),
        tls: scheme === "https",
        head: uploadHead(`/upload/forever-${scheme}-${i}`, "cl", declared),
        body: { kind: "length" as const, bytes: declared },
        ms: 20_000,
      }));
      const results = await rawUploadsInWorker(attempts, 4);
      for (const result of results) {
        const seen = `${scheme}: ${JSON.stringify({ status: result.status, accepted: result.bodyBytesAccepted, error: result.error, at: result.at, timedOut: result.timedOut })}`;
        assert.equal(result.timedOut, false, `never cut off: ${seen}`);
        assert.equal(result.writerFinished, false, `the whole 100 MiB was accepted: ${seen}`);
        assert.ok(result.bodyBytesAccepted < lingerBytes + slack, `pushed ${result.bodyBytesAccepted} bytes past a ${lingerBytes} byte bound: ${seen}`);
        // Cut by the byte bound, well before the time bound would have ended it.
        assert.ok(result.at.close < lingerTime - 500, `cut off only after ${result.at.close} ms: ${seen}`);
        // Whether the 413 is read before the cut depends on the client: Node's socket stops reading at
        // the first write error (EPIPE), curl reads on. Whatever was read must be the 413.
        if (result.status !== 0) assert.equal(result.status, 413, seen);
      }
    }
    assert.deepEqual(backend.requests.map((req) => req.url), [], "the backend received a refused request");
  });

  test("a writer that trickles (1 KiB every 100 ms) reads its 413 and FIN, and is cut off after lingerTime", { timeout: 30_000 }, async () => {
    const schemes = ["http", "https"] as const;
    const attempts = schemes.map((scheme) => ({
      port: portOf(gw, scheme),
      tls: scheme === "https",
      head: uploadHead(`/upload/trickle-${scheme}`, "cl"),
      body: { kind: "length" as const, bytes: BODY, piece: 1024 },
      paceMs: 100,
      ms: 15_000,
    }));
    const results = await rawUploadsInWorker(attempts, attempts.length);
    for (const [index, result] of results.entries()) {
      const scheme = schemes[index]!;
      const seen = `${scheme}: ${JSON.stringify({ status: result.status, accepted: result.bodyBytesAccepted, error: result.error, fin: result.finReceived, at: result.at, timedOut: result.timedOut })}`;
      assert.equal(result.responseComplete, true, `no complete answer: ${seen}`);
      assert.equal(result.status, 413, seen);
      assert.equal(jsonBodyProblem(result.responseBody, "body_too_large", headerOf(result.text, "x-request-id")), undefined, seen);
      assert.equal(result.finReceived, true, `the answer was not followed by a FIN: ${seen}`);
      assert.equal(result.timedOut, false, `never cut off: ${seen}`);
      assert.equal(result.writerFinished, false, seen);
      const answeredAt = result.at.response!;
      const cutAt = result.at.error ?? result.at.close;
      const lingered = cutAt - answeredAt;
      assert.ok(lingered >= lingerTime - 500, `cut off ${lingered} ms after the answer, before lingerTime (${lingerTime} ms): ${seen}`);
      assert.ok(lingered <= lingerTime + 2_500, `cut off ${lingered} ms after the answer, long after lingerTime (${lingerTime} ms): ${seen}`);
    }
  });
});

// ------------------------------------------------------------------------------------------------------

describe("every answer given before the body is read lingers: 429, 404, 403", () => {
  let backend: Backend;
  let gw: TestGateway;
  let dir: string;
  let file: string;
  const uploads: Upload[] = [];

  before(async () => {
    ({ dir, file } = await bodyFile(BODY));
    backend = await startBackend(recordingBackend(uploads));
    gw = await startGateway({
      services: { app: { targets: [{ url: backend.url }] } },
      routes: [
        { name: "api", match: { pathPrefix: "/api" }, service: "app" },
        { name: "limited", match: { pathPrefix: "/limited" }, service: "app", rateLimit: "one" },
      ],
      rateLimits: { one: { limit: 1, window: "10m" } },
      trustedProxies: ["127.0.0.1/32"],
      denylist: ["203.0.113.0/24"],
      limits: { maxBodySize: "8MiB" },
      tls: { redirectHttp: false },
    });
    // The one request the limit allows; every upload to /limited after it is over the limit.
    const first = await request({ port: gw.httpPort, path: "/limited/first" });
    assert.equal(first.status, 200, first.body);
  });

  after(async () => {
    killCurls();
    await gw?.close();
    await backend?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const cases = [
    { name: "429 over a rate limit", status: 429, error: "rate_limited", path: "/limited/upload", forwardedFor: undefined },
    { name: "404 no route", status: 404, error: "no_route", path: "/elsewhere/upload", forwardedFor: undefined },
    { name: "403 denylisted through a trusted proxy", status: 403, error: "denied", path: "/api/upload", forwardedFor: "203.0.113.7" },
  ];

  for (const { name, status, error, path, forwardedFor } of cases) {
    test(`${name} with a 2 MiB body: 20 raw writers and 20 curls per scheme read the answer`, { timeout: 60_000 }, async () => {
      const problems: string[] = [];
      for (const scheme of ["http", "https"] as const) {
        const port = portOf(gw, scheme);
        const extra = forwardedFor === undefined ? "" : `X-Forwarded-For: ${forwardedFor}\r\n`;
        const raw = await rawUploadsInWorker(
          Array.from({ length: 20 }, (_, i) => ({
            port,
            tls: scheme === "https",
            head: uploadHead(`${path}-raw-${scheme}-${i}`, "cl", BODY, extra),
            body: { kind: "length" as const, bytes: BODY },
          })),
          CONCURRENCY,
        );
        const rawTally = tally(raw.map((result) => rawProblem(result, status, error)));
        if (rawTally !== "") problems.push(`raw writer over ${scheme.toUpperCase()}: ${rawTally}`);
        // Half the curls wait for 100 Continue, half do not.
        const curls = await inPool(20, CONCURRENCY, (i) => {
          const headers = ["-H", i % 2 === 0 ? "Expect:" : "Expect: 100-continue"];
          if (forwardedFor !== undefined) headers.push("-H", `X-Forwarded-For: ${forwardedFor}`);
          return runCurl(curlArgs(scheme, port, `${path}-curl-${scheme}-${i}`, file, headers));
        });
        const curlTally = tally(curls.map((result) => curlProblem(result, status, error)));
        if (curlTally !== "") problems.push(`curl over ${scheme.toUpperCase()}: ${curlTally}`);
      }
      assert.deepEqual(problems, [], `${name}: ${problems.join(" | ")}`);
    });
  }

  test("the backend received none of the refused requests", () => {
    assert.deepEqual(
      backend.requests.map((req) => req.url),
      ["/limited/first"],
    );
    assert.deepEqual(uploads.filter((upload) => upload.bytes > 0), []);
  });
});

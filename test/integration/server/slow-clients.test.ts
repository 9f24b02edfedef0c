// Slow clients, on raw sockets against a real gateway and a real node:http backend: slowloris, slow
// bodies, slow readers (pipelined, over HTTP and HTTPS) and many-range requests from 127.0.0.1 while a
// legitimate client on 127.0.0.2 keeps being served; once the attacker is gone, everything it held (the
// in-flight count, upstream sockets) is released within seconds. Then each defence alone: sendTimeout
// (a response whose bytes stop moving is aborted both ways), bodyTimeout (a stalled body → 408, the
// upstream attempt aborted), maxRequestsInFlightPerIp (→ 429 for that address only), and what they must
// not break: an idle WebSocket, a large download, a slow but steady reader.
//
// Timeouts are short (2 s) so the file runs in about a minute; attacks are 400–1000 connections.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http from "node:http";
import net from "node:net";
import { describe, test, type TestContext } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import type { Backend } from "../../helpers/backend.js";
import { perTest } from "../../helpers/fixtures.js";
import { simpleConfig, type ConfigObject, type TestGateway } from "../../helpers/gateway.js";
import { getOnce } from "../../helpers/client.js";
import { describeOutcomes } from "../../helpers/load.js";
import { bodyOf, captureLogger, fetchMetrics, statusOf, waitFor } from "../../helpers/proxy-tools.js";
import {
  metricSum,
  rangeAttack,
  slowBody,
  slowloris,
  slowRead,
  steadyClient,
  type AttackHandle,
  type AttackTarget,
} from "../../helpers/slow-clients.js";

const MiB = 1024 * 1024;
const ATTACKER = "127.0.0.1";
const LEGIT = "127.0.0.2";
/** sendTimeout, bodyTimeout and headersTimeout in the test config. */
const TIMEOUT_MS = 2_000;
/** Attacks last this long once ramped (the slow-read regression: REGRESSION_MS). */
const ATTACK_MS = 5_000;
const REGRESSION_MS = 8_000;
/** After the attacker stops, everything it held must be released within this. */
const RELEASE_MS = 5_000;
/** Backend connections still open once released: the pool's few warm sockets at most. */
const HANDFUL = 8;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the backend -----------------------------------------------------------------------------------

/** 1 MiB of a fixed pattern; larger bodies repeat it. */
const PATTERN = Buffer.alloc(MiB);
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = (i * 31 + (i >> 11)) & 0xff;

function patternDigest(mib: number): string {
  const hash = createHash("sha256");
  for (let i = 0; i < mib; i++) hash.update(PATTERN);
  return hash.digest("hex");
}

/** What the backend saw of one request, and how its exchange ended. */
interface Exchange {
  readonly method: string;
  readonly url: string;
  readonly declaredLength: number | undefined;
  bodyBytes: number;
  bodyComplete: boolean;
  responseFinished: boolean;
  /** The exchange ended without its response finishing (the gateway aborted it). */
  aborted: boolean;
  closedAt: number | undefined;
}

interface TestBackend {
  readonly backend: Backend;
  readonly exchanges: Exchange[];
  /** Server sockets open right now. */
  openConnections(): Promise<number>;
}

/**
 * /small: a short JSON answer. /big?mib=N (default 1): N MiB, honouring Range naively (every range
 * served, overlapping or not, as multipart/byteranges; invalid ones skipped). /huge?mib=N: N MiB
 * streamed with backpressure. /slow?ms=N: 200 after N ms. POST: the body counted, 200 once complete.
 */
async function startTestBackend(perTestScope: { backend: (handler: (req: http.IncomingMessage, res: http.ServerResponse) => void) => Promise<Backend> }): Promise<TestBackend> {
  const exchanges: Exchange[] = [];
  const backend = await perTestScope.backend((req, res) => {
    const url = new URL(req.url ?? "/", "http://backend");
    const declared = req.headers["content-length"];
    const exchange: Exchange = {
      method: req.method ?? "",
      url: req.url ?? "",
      declaredLength: declared === undefined ? undefined : Number(declared),
      bodyBytes: 0,
      bodyComplete: false,
      responseFinished: false,
      aborted: false,
      closedAt: undefined,
    };
    exchanges.push(exchange);
    req.on("data", (chunk: Buffer) => (exchange.bodyBytes += chunk.length));
    req.on("end", () => (exchange.bodyComplete = true));
    req.on("error", () => {});
    res.on("error", () => {});
    res.on("finish", () => (exchange.responseFinished = true));
    res.on("close", () => {
      exchange.closedAt = Date.now();
      exchange.aborted = !res.writableFinished;
    });

    if (req.method === "POST") {
      req.on("end", () => res.writeHead(200, { "content-type": "text/plain" }).end(`got ${exchange.bodyBytes}`));
      return;
    }
    switch (url.pathname) {
      case "/small":
        res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
        return;
      case "/big":
        serveBig(req, res, Number(url.searchParams.get("mib") ?? "1") * MiB);
        return;
      case "/huge":
        streamPattern(res, Number(url.searchParams.get("mib") ?? "32"));
        return;
      case "/slow": {
        const timer = setTimeout(() => res.writeHead(200, { "content-type": "text/plain" }).end("slow"), Number(url.searchParams.get("ms") ?? "2000"));
        res.on("close", () => clearTimeout(timer));
        return;
      }
      default:
        res.writeHead(404).end();
    }
  });
  return {
    backend,
    exchanges,
    openConnections: () => new Promise((resolve, reject) => backend.server.getConnections((error, count) => (error ? reject(error) : resolve(count)))),
  };
}

function serveBig(req: http.IncomingMessage, res: http.ServerResponse, size: number): void {
  const range = req.headers.range;
  const specs = range?.startsWith("bytes=") ? range.slice(6).split(",") : [];
  const ranges: [number, number][] = [];
  for (const spec of specs) {
    const [first, last] = spec.split("-");
    const start = first === "" ? size - Number(last) : Number(first);
    const end = first === "" || last === "" ? size - 1 : Math.min(Number(last), size - 1);
    if (Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end) ranges.push([start, end]);
  }
  if (ranges.length === 0) {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
    writeSpan(res, 0, size - 1);
    res.end();
    return;
  }
  if (ranges.length === 1) {
    const [start, end] = ranges[0]!;
    res.writeHead(206, { "content-type": "application/octet-stream", "content-range": `bytes ${start}-${end}/${size}` });
    writeSpan(res, start, end);
    res.end();
    return;
  }
  const boundary = "rampart-test-boundary";
  res.writeHead(206, { "content-type": `multipart/byteranges; boundary=${boundary}` });
  for (const [start, end] of ranges) {
    res.write(`--${boundary}\r\ncontent-type: application/octet-stream\r\ncontent-range: bytes ${start}-${end}/${size}\r\n\r\n`);
    writeSpan(res, start, end);
    res.write("\r\n");
  }
  res.end(`--${boundary}--\r\n`);
}

/** Bytes start..end (inclusive) of the repeated pattern, as views of PATTERN (Node queues them, no copy). */
function writeSpan(res: http.ServerResponse, start: number, end: number): void {
  for (let at = start; at <= end; ) {
    const offset = at % MiB;
    const length = Math.min(MiB - offset, end - at + 1);
    res.write(PATTERN.subarray(offset, offset + length));
    at += length;
  }
}

/** `mib` MiB of the pattern, one MiB per write, waiting for drain: the backend never buffers ahead. */
function streamPattern(res: http.ServerResponse, mib: number): void {
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": mib * MiB });
  let sent = 0;
  const more = () => {
    while (sent < mib && !res.destroyed) {
      sent++;
      if (sent === mib) {
        res.end(PATTERN);
        return;
      }
      if (!res.write(PATTERN)) {
        res.once("drain", more);
        return;
      }
    }
  };
  more();
}

// --- the gateway -----------------------------------------------------------------------------------

function gatewayConfig(backendUrl: string, limits: ConfigObject = {}, keepAlive: ConfigObject = {}): ConfigObject {
  return simpleConfig(backendUrl, {
    top: {
      shutdownGrace: "1s",
      tls: { redirectHttp: false },
      limits: { sendTimeout: "2s", bodyTimeout: "2s", headersTimeout: "2s", maxConnectionsPerIp: 2000, ...limits },
    },
    // Pooled sockets idle for a second are dropped, so "the backend has only a handful of connections
    // left" tells leaked (pinned) upstream sockets from warm ones.
    service: { keepAlive: { idleTimeout: "1s", ...keepAlive } },
  });
}

async function inFlight(gw: TestGateway): Promise<number> {
  return metricSum(await fetchMetrics(gw.adminPort), "rampart_requests_in_flight");
}

function readyz(gw: TestGateway): Promise<number> {
  return getOnce({ port: gw.adminPort, path: "/readyz", timeoutMs: 2_000 }).then((res) => res.status);
}

interface Released {
  readonly ok: boolean;
  readonly afterMs: number;
  readonly inFlight: number;
  readonly backendConnections: number;
  readonly readyz: number;
}

/** Polls until in-flight is 0, the backend has a handful of connections at most and /readyz is 200. */
async function waitReleased(gw: TestGateway, backend: TestBackend, ms = RELEASE_MS): Promise<Released> {
  const started = Date.now();
  for (;;) {
    let state: Released;
    try {
      const [flying, connections, ready] = await Promise.all([inFlight(gw), backend.openConnections(), readyz(gw)]);
      state = { ok: flying === 0 && connections <= HANDFUL && ready === 200, afterMs: Date.now() - started, inFlight: flying, backendConnections: connections, readyz: ready };
    } catch (error) {
      state = { ok: false, afterMs: Date.now() - started, inFlight: NaN, backendConnections: NaN, readyz: 0 };
      if (Date.now() - started > ms) throw error;
    }
    if (state.ok || Date.now() - started > ms) return state;
    await sleep(100);
  }
}

// --- the attacks -----------------------------------------------------------------------------------

// Why the slow reads below are 40 connections on an 8 MiB answer, not 1000 on 1 MiB: Node cannot shrink
// a socket's receive buffer (slowhttptest sets SO_RCVBUF to ~1 KiB), and on loopback (64 KiB MSS) the
// kernel takes ~3.7 MiB of a response sent to a paused reader before the sender's writes block. A
// 1 MiB × 3 "slow read" from Node is therefore a fast download as far as the gateway can tell; only an
// answer larger than that makes it wait on the reader, pin its upstream socket and need sendTimeout.
// That costs ~4 MiB of kernel memory per attacking connection, hence 40 of them (≈160 MB at most).
// To show pool exhaustion at that scale the upstream pool is 32 sockets and the per-address in-flight
// limit 8: the defaults' 256 and 64, scaled down by the same ratio.
const TRUE_SLOW_READ = { limits: { maxRequestsInFlightPerIp: 8 }, keepAlive: { maxSockets: 32 } };
const SLOW_READ_PATH = "/big?mib=8";

interface AttackCase {
  readonly name: string;
  readonly tls: boolean;
  readonly durationMs: number;
  /** limits and service keepAlive keys merged into the test config. */
  readonly limits?: ConfigObject;
  readonly keepAlive?: ConfigObject;
  /**
   * Whether the legitimate client's ≥ 99% is asserted (always measured and printed). Not for the
   * 1000-connection regression: see its comment.
   */
  readonly assertLegit: boolean;
  start(target: AttackTarget): AttackHandle;
}

const attacks: AttackCase[] = [
  {
    name: "slowloris: 1000 connections, a header line every 1.5 s, never finishing the head",
    tls: false,
    durationMs: ATTACK_MS,
    assertLegit: true,
    start: (target) => slowloris(target, { connections: 1000, intervalMs: 1_500, rampMs: 500, path: "/small" }),
  },
  {
    // 1 byte a second is faster than bodyTimeout: maxRequestsInFlightPerIp is what bounds it.
    name: "slow body: 500 connections declaring 1 MiB, then 1 byte a second",
    tls: false,
    durationMs: ATTACK_MS,
    assertLegit: true,
    start: (target) => slowBody(target, { connections: 500, intervalMs: 1_000, rampMs: 500, contentLength: MiB, path: "/upload" }),
  },
  {
    name: "slow read: 40 connections × 3 pipelined GETs of 8 MiB, 16 bytes read every 2 s",
    tls: false,
    durationMs: ATTACK_MS,
    ...TRUE_SLOW_READ,
    assertLegit: true,
    start: (target) => slowRead(target, { connections: 40, pipelined: 3, path: SLOW_READ_PATH, readBytes: 16, intervalMs: 2_000, rampMs: 500 }),
  },
  {
    name: "slow read over HTTPS: 40 connections × 3 pipelined GETs of 8 MiB, 16 bytes read every 2 s",
    tls: true,
    durationMs: ATTACK_MS,
    ...TRUE_SLOW_READ,
    assertLegit: true,
    start: (target) => slowRead(target, { connections: 40, pipelined: 3, path: SLOW_READ_PATH, readBytes: 16, intervalMs: 2_000, rampMs: 500 }),
  },
  {
    name: "Range: 40 connections × 3 GETs of 8 MiB with bytes=0-,5-0,5-1,... (500 overlapping ranges), read slowly",
    tls: false,
    durationMs: ATTACK_MS,
    ...TRUE_SLOW_READ,
    assertLegit: true,
    start: (target) => rangeAttack(target, { connections: 40, pipelined: 3, path: SLOW_READ_PATH, ranges: 500, readBytes: 16, intervalMs: 2_000, rampMs: 500 }),
  },
  {
    // The regression: after this, rampart_requests_in_flight stayed ~1,900 for good, the upstream pool
    // stayed pinned and new requests hung. What is asserted is the release once the attacker is gone.
    // The legitimate client's success during it is printed, not asserted: from Node on loopback these
    // 3 GB are absorbed by kernel buffers as fast as the gateway can copy them (see above), so it
    // measures bulk throughput, and Node 20 (libuv 1.46) accepts about one connection per event-loop
    // iteration, so a new connection waits behind every attacker connection still in the accept queue.
    name: "slow read, the regression: 1000 connections × 3 pipelined GETs of 1 MiB for 8 s, then the attacker vanishes",
    tls: false,
    durationMs: REGRESSION_MS,
    assertLegit: false,
    start: (target) => slowRead(target, { connections: 1000, pipelined: 3, path: "/big", readBytes: 16, intervalMs: 2_000 }),
  },
];

describe("slow clients", () => {
  const scope = perTest();

  async function setUp(limits: ConfigObject = {}, options: Parameters<typeof scope.gateway>[1] = {}, keepAlive: ConfigObject = {}) {
    const backend = await startTestBackend(scope);
    const gw = await scope.gateway(gatewayConfig(backend.backend.url, limits, keepAlive), options);
    return { backend, gw };
  }

  for (const attack of attacks) {
    test(`${attack.name}: a client on another address is served, and all is released after`, async (t: TestContext) => {
      const { backend, gw } = await setUp(attack.limits, {}, attack.keepAlive);
      const port = attack.tls ? gw.httpsPort : gw.httpPort;
      const attacker = attack.start({ port, tls: attack.tls, localAddress: ATTACKER });
      scope.defer(() => attacker.stop());
      await attacker.ramped;
      await sleep(500);

      const legit = steadyClient({ port, tls: attack.tls, path: "/small", localAddress: LEGIT, ratePerSecond: 5, timeoutMs: 3_000 });
      scope.defer(() => legit.stop());
      await sleep(attack.durationMs);
      const outcomes = await legit.stop();
      const duringAttack = `in flight ${await inFlight(gw).catch(() => NaN)}, backend connections ${await backend.openConnections()}`;
      const attackSummary = attacker.describe();
      attacker.stop();

      const released = await waitReleased(gw, backend);
      // A normal request from the attacker's own address: nothing it held may still count against it.
      const after = await getOnce({ port, tls: attack.tls, path: "/small", localAddress: ATTACKER, timeoutMs: Math.max(500, RELEASE_MS - released.afterMs) });

      const succeeded = outcomes.filter((outcome) => outcome.status === 200).length;
      t.diagnostic(`attacker: ${attackSummary}`);
      t.diagnostic(`during the attack: ${duringAttack}; legitimate: ${succeeded}/${outcomes.length} ok (${describeOutcomes(outcomes)})${attack.assertLegit ? "" : " [not asserted]"}`);
      t.diagnostic(`after: ${JSON.stringify(released)}; request from ${ATTACKER}: ${after.status || after.error}`);

      const problems: string[] = [];
      if (attack.assertLegit) {
        if (outcomes.length < 20) problems.push(`only ${outcomes.length} legitimate requests were made`);
        if (succeeded < Math.ceil(outcomes.length * 0.99)) problems.push(`legitimate client: ${succeeded}/${outcomes.length} succeeded (${describeOutcomes(outcomes)})`);
      }
      if (released.inFlight !== 0) problems.push(`rampart_requests_in_flight is ${released.inFlight} ${released.afterMs} ms after the attacker left`);
      if (!(released.backendConnections <= HANDFUL)) problems.push(`the backend still has ${released.backendConnections} connections open ${released.afterMs} ms after the attacker left`);
      if (released.readyz !== 200) problems.push(`/readyz answered ${released.readyz}`);
      if (after.status !== 200) problems.push(`a request from ${ATTACKER} after the attack: ${after.status || after.error}`);
      assert.deepEqual(problems, [], `${problems.join("; ")}\nattacker: ${attackSummary}`);
    });
  }

  test("sendTimeout: a client that never reads its 32 MiB response is cut off after ~2 s, both ways, and it is logged", async () => {
    const capture = captureLogger();
    const { backend, gw } = await setUp({}, { accessLog: capture.accessLog });
    // A 1 KiB high-water mark (not in the typings, honoured by net.Socket): Node itself buffers next to nothing.
    const connectOptions = { host: "127.0.0.1", port: gw.httpPort, readableHighWaterMark: 1024 };
    const socket = net.connect(connectOptions);
    scope.defer(() => socket.destroy());
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write("GET /huge?mib=32 HTTP/1.1\r\nHost: a.test\r\n\r\n");
    const sentAt = Date.now();
    // No 'data' listener: the socket reads up to its tiny high-water mark and then stops (never read).

    const upstream = await waitFor(() => backend.exchanges.find((exchange) => exchange.url.startsWith("/huge")), 2_000, "the request upstream");
    const line = await waitFor(
      () => capture.lines.find((entry) => String(entry.path).startsWith("/huge")),
      TIMEOUT_MS + 3_000,
      "an access-log line for the stalled response (it was never aborted)",
    ).catch((error: Error) => error);
    const loggedAfter = Date.now() - sentAt;
    assert.ok(!(line instanceof Error), `${line instanceof Error ? line.message : ""}; backend exchange: ${JSON.stringify(upstream)}`);
    assert.ok(line.status === 499 || line.failure !== undefined, `access log: ${JSON.stringify(line)}`);
    assert.ok(loggedAfter >= TIMEOUT_MS - 500 && loggedAfter <= TIMEOUT_MS + 2_500, `aborted after ${loggedAfter} ms (sendTimeout ${TIMEOUT_MS} ms)`);

    // The upstream side is released: the backend's response was cut off, not left pinned.
    await waitFor(() => (upstream.closedAt !== undefined ? true : undefined), 1_000, "the backend's response to close").catch(() => {});
    assert.equal(upstream.aborted, true, `backend exchange: ${JSON.stringify(upstream)}`);
    assert.equal(upstream.responseFinished, false);

    // The client side is closed: reading now drains what was buffered, then the connection ends,
    // well short of 32 MiB.
    const drained = await new Promise<{ bytes: number; closed: boolean }>((resolve) => {
      let bytes = 0;
      const timer = setTimeout(() => resolve({ bytes, closed: false }), 5_000);
      socket.on("data", (chunk: Buffer) => (bytes += chunk.length));
      socket.once("close", () => {
        clearTimeout(timer);
        resolve({ bytes, closed: true });
      });
      socket.resume();
    });
    assert.equal(drained.closed, true, `the client connection is still open after ${drained.bytes} bytes`);
    assert.ok(drained.bytes < 32 * MiB, `the client received ${drained.bytes} bytes: the whole response`);
    assert.equal(await inFlight(gw), 0);
  });

  test("sendTimeout does not cut a slow but steady reader: 6 MiB at ~2 MiB/s arrive intact", async () => {
    const { gw } = await setUp();
    // 6 MiB is more than loopback's kernel buffers take (~3.7 MiB), so the gateway's writes really wait
    // on this reader for ~1.5 s, in steps of 100 ms, never for sendTimeout.
    type Result = { status: number; bytes: number; digest: string; ms: number; error?: string };
    const result = await new Promise<Result>((settle) => {
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const resolve = (result: Result) => {
        clearInterval(timer);
        settle(result);
      };
      const req = http.get({ host: "127.0.0.1", port: gw.httpPort, path: "/huge?mib=6", agent: false }, (res) => {
        const hash = createHash("sha256");
        let bytes = 0;
        let window = 0;
        timer = setInterval(() => {
          window = 0;
          res.resume();
        }, 100);
        res.on("data", (chunk: Buffer) => {
          hash.update(chunk);
          bytes += chunk.length;
          window += chunk.length;
          if (window >= 200 * 1024) res.pause();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes, digest: hash.digest("hex"), ms: Date.now() - started }));
        res.on("error", (error) => resolve({ status: 0, bytes, digest: "", ms: Date.now() - started, error: String(error) }));
        res.on("aborted", () => resolve({ status: 0, bytes, digest: "", ms: Date.now() - started, error: "aborted" }));
      });
      req.on("error", (error) => resolve({ status: 0, bytes: 0, digest: "", ms: Date.now() - started, error: String(error) }));
      scope.defer(() => {
        clearInterval(timer);
        req.destroy();
      });
    });
    assert.equal(result.error, undefined, `after ${result.bytes} bytes in ${result.ms} ms`);
    assert.equal(result.status, 200);
    assert.equal(result.bytes, 6 * MiB);
    assert.equal(result.digest, patternDigest(6));
    assert.ok(result.ms > TIMEOUT_MS, `took only ${result.ms} ms: the reader never outlasted sendTimeout`);
  });

  test("bodyTimeout: a body that stalls after 10 of 1000 bytes → 408 within ~2 s, and the upstream attempt is aborted", async () => {
    const { backend, gw } = await setUp();
    const socket = net.connect({ host: "127.0.0.1", port: gw.httpPort });
    scope.defer(() => socket.destroy());
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    let text = "";
    let firstByteAt: number | undefined;
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.on("data", (chunk: Buffer) => {
      firstByteAt ??= Date.now();
      text += chunk.toString("latin1");
    });
    socket.write("POST /upload?stall=1 HTTP/1.1\r\nHost: a.test\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n" + "x".repeat(10));
    const sentAt = Date.now();
    await Promise.race([closed, sleep(TIMEOUT_MS + 4_000)]);

    const answeredAfter = firstByteAt === undefined ? undefined : firstByteAt - sentAt;
    assert.equal(statusOf(text), 408, `answer after ${answeredAfter} ms: ${JSON.stringify(text.slice(0, 300))}`);
    assert.ok(answeredAfter !== undefined && answeredAfter <= TIMEOUT_MS + 1_500, `answered after ${answeredAfter} ms (bodyTimeout ${TIMEOUT_MS} ms)`);
    const body = JSON.parse(bodyOf(text)) as { error: string; requestId?: string };
    assert.ok(body.error === "request_timeout" || body.error === "body_timeout", `error ${body.error}`);

    // Whatever went upstream was abandoned with its body incomplete.
    await sleep(300);
    const upstream = backend.exchanges.filter((exchange) => exchange.url.startsWith("/upload?stall=1"));
    for (const exchange of upstream) {
      assert.equal(exchange.bodyComplete, false, `backend exchange: ${JSON.stringify(exchange)}`);
      assert.notEqual(exchange.closedAt, undefined, `the backend's request is still open: ${JSON.stringify(exchange)}`);
    }
    assert.equal(await inFlight(gw), 0);
  });

  test("maxRequestsInFlightPerIp 4: a fifth concurrent request from one address → 429, another address is served, a disconnect frees its slot", async () => {
    const { backend, gw } = await setUp({ maxRequestsInFlightPerIp: 4 });
    const port = gw.httpPort;
    const slowCount = () => backend.exchanges.filter((exchange) => exchange.url.startsWith("/slow")).length;

    const four = Array.from({ length: 4 }, (_, i) => getOnce({ port, path: `/slow?ms=2000&i=${i}`, localAddress: ATTACKER, timeoutMs: 6_000 }));
    await waitFor(() => (slowCount() >= 4 ? true : undefined), 2_000, "four slow requests upstream");
    const [fifth, otherSlow, otherSmall] = await Promise.all([
      getOnce({ port, path: "/slow?ms=2000&i=5", localAddress: ATTACKER, timeoutMs: 1_500 }),
      getOnce({ port, path: "/slow?ms=500&other=1", localAddress: LEGIT, timeoutMs: 3_000 }),
      getOnce({ port, path: "/small", localAddress: LEGIT, timeoutMs: 1_500 }),
    ]);
    assert.equal(fifth.status, 429, `fifth from ${ATTACKER}: ${fifth.status || fifth.error} ${fifth.body.toString()}`);
    assert.equal(otherSlow.status, 200, `slow request from ${LEGIT}: ${otherSlow.status || otherSlow.error}`);
    assert.equal(otherSmall.status, 200, `request from ${LEGIT}: ${otherSmall.status || otherSmall.error}`);
    const firstFour = await Promise.all(four);
    assert.deepEqual(
      firstFour.map((res) => res.status),
      [200, 200, 200, 200],
    );

    // Four more that the client abandons while the backend still works on them: their slots are freed
    // when the client disconnects, not when the backend answers 2 s later.
    const abandoned = Array.from({ length: 4 }, (_, i) =>
      http.get({ host: "127.0.0.1", port, path: `/slow?ms=3000&abandoned=${i}`, localAddress: ATTACKER, agent: false, headers: { host: "a.test" } }).on("error", () => {}),
    );
    scope.defer(() => abandoned.forEach((req) => req.destroy()));
    await waitFor(() => (backend.exchanges.filter((exchange) => exchange.url.includes("abandoned=")).length >= 4 ? true : undefined), 2_000, "four abandoned requests upstream");
    for (const req of abandoned) req.destroy();
    const freedAt = Date.now();
    let freed = await getOnce({ port, path: "/small", localAddress: ATTACKER, timeoutMs: 1_000 });
    while (freed.status !== 200 && Date.now() - freedAt < 1_000) {
      await sleep(50);
      freed = await getOnce({ port, path: "/small", localAddress: ATTACKER, timeoutMs: 1_000 });
    }
    assert.equal(freed.status, 200, `a request from ${ATTACKER} ${Date.now() - freedAt} ms after it disconnected: ${freed.status || freed.error}`);
    assert.ok(Date.now() - freedAt < 1_500, `freed only after ${Date.now() - freedAt} ms`);
    await waitFor(
      () => (backend.exchanges.filter((exchange) => exchange.url.includes("abandoned=")).every((exchange) => exchange.aborted) ? true : undefined),
      1_000,
      "the abandoned requests to be aborted upstream",
    );
  });

  test("an idle WebSocket outlives sendTimeout, and a 64 MiB download read at full speed arrives intact", async () => {
    const { backend, gw } = await setUp();
    const wss = new WebSocketServer({ server: backend.backend.server });
    const serverSockets: WebSocket[] = [];
    wss.on("connection", (socket) => {
      serverSockets.push(socket);
      socket.on("message", (data: WebSocket.RawData) => socket.send(`echo:${String(data)}`));
    });
    scope.defer(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    scope.defer(() => serverSockets.forEach((socket) => socket.terminate()));

    const client = await new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${gw.httpPort}/chat`);
      socket.once("open", () => resolve(socket));
      socket.once("error", reject);
      socket.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)));
    });
    scope.defer(() => client.terminate());
    const nextMessage = () =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no message within 2 s")), 2_000);
        client.once("message", (data: WebSocket.RawData) => {
          clearTimeout(timer);
          resolve(String(data));
        });
      });
    let clientClosed = false;
    client.on("close", () => (clientClosed = true));

    await sleep(TIMEOUT_MS + 1_500);
    assert.equal(clientClosed, false, "the idle WebSocket was closed");
    assert.equal(client.readyState, WebSocket.OPEN);
    const echoed = nextMessage();
    client.send("after the wait");
    assert.equal(await echoed, "echo:after the wait");
    const pushed = nextMessage();
    serverSockets[0]!.send("pushed by the server");
    assert.equal(await pushed, "pushed by the server");

    const download = await getOnce({ port: gw.httpPort, path: "/huge?mib=64", timeoutMs: 30_000 });
    assert.equal(download.error, undefined);
    assert.equal(download.status, 200);
    assert.equal(download.body.length, 64 * MiB);
    assert.equal(createHash("sha256").update(download.body).digest("hex"), patternDigest(64));
  });
});

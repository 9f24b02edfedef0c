// HTTP/2 (issue 12), everything over TLS on loopback with h2load (nghttp2-client) as the load generator:
//   (a) Rampart, h2 by ALPN: h2load -c 10 -m 10 (10 connections × 10 streams)
//   (b) the same Rampart, HTTP/1.1 by ALPN: h2load --h1 -c 100 -m 1 (100 connections, 1 request each)
//   (c) nginx terminating h2 (`listen … ssl http2`), h2load -c 10 -m 10; skipped without nginx
//   (d) the same Rampart, gRPC unary calls to a @grpc/grpc-js backend behind a `protocol: h2c` service:
//       h2load -c 10 -m 10 POSTing one gRPC frame (5-byte header + 100-byte message) with
//       content-type: application/grpc and te: trailers, to /bench.Echo/Unary
// Ratios: CPU per request of (a) ÷ (b) (goal ≤ 1.0), (a) ÷ (c), and (d) ÷ (b) (goal ≤ 1.0: a unary call
// costs Rampart no more than an HTTP/1.1 request of the same size: 100 bytes answered).
//
// Why (b) is `h2load --h1 -c 100 -m 1`: the same tool on every target, and the same 100 requests in
// flight. HTTP/1.1 has no multiplexing, so a client gets concurrency from connections (one request at a
// time on each); `--h1 -m 10` would be pipelining, which no browser or proxy client uses and whose
// responses queue behind each other. Equal requests in flight keep the proxy equally busy and its reads
// and writes equally batched, which is what CPU per request depends on; equal connections (10 × 1 for
// HTTP/1.1) would give h2 ten times the concurrency. The extra TLS handshakes of 100 connections are not
// charged: h2load warms up on its connections within the same run (--warm-up-time BENCH_WARMUP) and CPU
// is sampled as it reports its measured part starting and ending (BENCH_WARMUP=0 charges them).
//
// Fairness: Rampart and nginx serve the same ECDSA P-256 certificate (made with openssl for this run),
// run pinned to the proxy CPU, and reach the same backend as core's (nginx when installed, else
// bench/backend.ts) over HTTP/1.1 keep-alive; the backends and h2load run on the other CPU. Rampart has
// core's configuration (every guard on unless BENCH_GUARDS=off, its access log written to a file, or to
// BENCH_ACCESS_LOG as core's); nginx has access_log off. Both allow 100 streams per connection and raise
// the requests one HTTP/2 connection may carry (h2load does not reconnect after a GOAWAY). Rampart's
// limits.maxRequestsInFlightPerIp is raised above the 100 in flight from 127.0.0.1 (default 64).
//
// Every run fails the scenario when h2load counts a request failed, errored, timed out or not 2xx, when
// ALPN chose another protocol, or when Rampart's access log shows a request it did not get a 2xx for
// from a target (its own gRPC answers are HTTP 200 without a target; 499s, the requests in flight when
// h2load stops its clients at the end of a run, are only counted). Before the rounds, a real
// @grpc/grpc-js client's unary call through Rampart's HTTPS listener must answer the 100 bytes.
// BENCH_CONNECTIONS does not apply: the issue fixes 100 requests in flight.
import { execFileSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { accessLogUnproxied } from "../access-log.js";
import { BODY } from "../body.js";
import { grpcFrame, UNARY_PATH, waitForUnary } from "../grpc.js";
import { h2loadBinary, h2loadGenerator, type H2load } from "../h2load.js";
import type { LoadGenerator } from "../load.js";
import { runRounds, type Target } from "../measure.js";
import { freePort, sleep, which } from "../processes.js";
import { BREAKER } from "../rampart-config.js";
import { printRatios, printTable, ratio, type Ratio } from "../report.js";
import { roundOptions, type ScenarioContext, type ScenarioResult } from "../scenario.js";
import { H2_MAX_REQUESTS_PER_CONNECTION, rampartPorts, startBackends, startGrpcBackend, startNginxH2Proxy, startRampart } from "../targets.js";

/** Connections and streams per connection of the h2 targets; HTTP/1.1 gets CLIENTS × STREAMS connections. */
const CLIENTS = 10;
const STREAMS = 10;
const IN_FLIGHT = CLIENTS * STREAMS;
const GRPC_HEADERS = ["content-type: application/grpc", "te: trailers"];

interface Certificate {
  readonly certFile: string;
  readonly keyFile: string;
}

/** A self-signed ECDSA P-256 certificate for localhost and 127.0.0.1 (the key type of Rampart's own self-signed ones). */
function makeCertificate(dir: string): Certificate {
  const openssl = which("openssl");
  if (openssl === undefined) throw new Error("openssl is not installed (apt-get install -y openssl): the h2 scenario needs it for its certificate");
  const certFile = path.join(dir, "bench-cert.pem");
  const keyFile = path.join(dir, "bench-key.pem");
  execFileSync(
    openssl,
    [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", keyFile, "-out", certFile, "-days", "2",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return { certFile, keyFile };
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

export async function runH2({ load, dir, settings }: ScenarioContext): Promise<ScenarioResult> {
  if (h2loadBinary() === undefined) throw new Error("h2load is not installed (apt-get install -y nghttp2-client)");
  const notes: string[] = [];
  const guards = settings.guards;
  const certificate = makeCertificate(dir);
  const [backendPort, grpcPort, nginxPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const backend = await startBackends(dir, [backendPort]);
  const grpcBackend = await startGrpcBackend(dir, grpcPort);
  const accessLog = process.env.BENCH_ACCESS_LOG || path.join(dir, "rampart-access.log");
  // Core's guards on both services (none able to fire); the gRPC one is health-checked with the gRPC health protocol.
  const serviceGuards = (healthCheck: string) => (guards ? { healthCheck, circuitBreaker: BREAKER, retry: "{ attempts: 2 }" } : {});
  const ports = await rampartPorts();
  const rampart = await startRampart(
    dir,
    {
      name: "rampart",
      ports,
      targets: backend.urls,
      edgeGuards: guards,
      ...serviceGuards("{ path: /, interval: 5s, timeout: 2s }"),
      services: { grpc: { targets: [grpcBackend.url], protocol: "h2c", ...serviceGuards("{ grpc: true, interval: 5s, timeout: 2s }") } },
      routes: [
        { name: "all", pathPrefix: "/" },
        { name: "grpc", pathPrefix: path.posix.dirname(UNARY_PATH), service: "grpc" },
      ],
      limits: `{ maxRequestsInFlightPerIp: ${IN_FLIGHT * 10} }`,
      http2: `{ maxRequestsPerConnection: ${H2_MAX_REQUESTS_PER_CONNECTION} }`,
      certificate,
    },
    accessLog,
  );
  const nginx = await startNginxH2Proxy(dir, nginxPort, backend.urls[0]!, certificate);
  if (nginx === undefined) notes.push("(c) nginx h2 skipped: nginx is not installed (apt-get install -y nginx)");

  // The spot check: a real gRPC client through Rampart (TLS, ALPN h2), outside the measured runs.
  const message = Buffer.from(BODY);
  await waitForUnary(`127.0.0.1:${ports.https}`, message, Buffer.from(BODY), rampart.process, { rootCert: readFileSync(certificate.certFile) });
  const grpcSpotCheck = `a @grpc/grpc-js client's ${UNARY_PATH} call via Rampart's HTTPS listener (TLS, h2) answered the ${BODY.length}-byte message`;
  console.log(`  spot check: ${grpcSpotCheck}`);
  const requestFile = path.join(dir, "grpc-request.bin");
  writeFileSync(requestFile, grpcFrame(message));

  const h2load = (key: string, label: string, protocol: "h2" | "http/1.1", more: { dataFile?: string; headers?: readonly string[] } = {}): H2load =>
    h2loadGenerator({
      label: `(${key}) ${label}`,
      protocol,
      clients: protocol === "h2" ? CLIENTS : IN_FLIGHT,
      streams: protocol === "h2" ? STREAMS : 1,
      logFile: path.join(dir, `h2load-${key}.log`),
      ...more,
    });
  const loads: Record<string, H2load> = {
    a: h2load("a", "rampart h2", "h2"),
    b: h2load("b", "rampart http/1.1", "http/1.1"),
    ...(nginx === undefined ? {} : { c: h2load("c", "nginx h2", "h2") }),
    d: h2load("d", "rampart gRPC unary", "h2", { dataFile: requestFile, headers: GRPC_HEADERS }),
  };

  // After each Rampart run: every access-log line since the last check is a 2xx from a target. pino
  // writes asynchronously, so a run's last lines may be checked after the next run (and at the end).
  let logOffset = fileSize(accessLog);
  let logLines = 0;
  let clientClosed = 0;
  const checkAccessLog = (after: string) => {
    const check = accessLogUnproxied(accessLog, logOffset);
    logOffset = check.end;
    logLines += check.lines;
    clientClosed += check.clientClosed;
    const bad = Object.entries(check.counts);
    if (bad.length > 0) {
      throw new Error(`Rampart's access log (${accessLog}) after ${after}: requests not answered 2xx by a target: ${bad.map(([key, count]) => `${count} × ${key}`).join(", ")}`);
    }
  };
  const checked = (key: string): LoadGenerator => {
    const own = loads[key]!.load;
    return {
      ...own,
      runWindowed: async (url, warmup, seconds, connections, window) => {
        const result = await own.runWindowed!(url, warmup, seconds, connections, window);
        checkAccessLog(`(${key})`);
        return result;
      },
    };
  };
  const shape = (protocol: string) => (protocol === "h2" ? `${CLIENTS} conn × ${STREAMS} streams` : `${IN_FLIGHT} conn × 1`);
  const targets: Target[] = [
    { key: "a", label: `rampart h2 (${shape("h2")})`, url: rampart.httpsUrl, charged: [rampart.process], load: checked("a") },
    { key: "b", label: `rampart HTTP/1.1 (${shape("http/1.1")})`, url: rampart.httpsUrl, charged: [rampart.process], load: checked("b") },
    ...(nginx === undefined ? [] : [{ key: "c", label: `${nginx.version} h2 (${shape("h2")})`, url: nginx.url, charged: [nginx.process], load: loads.c!.load }]),
    {
      key: "d",
      label: `rampart gRPC unary (${shape("h2")})`,
      url: `${rampart.httpsUrl}${UNARY_PATH.slice(1)}`,
      charged: [rampart.process],
      load: checked("d"),
    },
  ];
  const commands: Record<string, string> = {};
  for (const target of targets) {
    commands[target.key] = loads[target.key]!.command(target.url, settings.warmup, settings.duration);
    console.log(`  (${target.key}) ${commands[target.key]}`);
  }

  // Every target has its own h2load; the scenario's load generator (wrk or autocannon) is not used.
  const summaries = await runRounds(load, targets, roundOptions(settings, settings.rounds));
  // The last run's lines, once pino has written them.
  await sleep(500);
  checkAccessLog("the last run");

  const s = (key: string) => summaries[key];
  const ratios: Ratio[] = [
    {
      name: "a/b CPU per request",
      value: ratio(s("a")?.cpuUsPerRequest, s("b")?.cpuUsPerRequest),
      goal: { max: 1.0 },
      note: `Rampart h2 ÷ HTTP/1.1 over TLS, ${IN_FLIGHT} requests in flight`,
    },
    { name: "a/b req/s", value: ratio(s("a")?.rps, s("b")?.rps), note: "Rampart h2 ÷ HTTP/1.1" },
    ...(s("c") === undefined
      ? []
      : [
          { name: "a/c CPU per request", value: ratio(s("a")?.cpuUsPerRequest, s("c")?.cpuUsPerRequest), note: "Rampart h2 ÷ nginx h2" },
          { name: "a/c req/s", value: ratio(s("a")?.rps, s("c")?.rps), note: "Rampart h2 ÷ nginx h2" },
        ]),
    {
      name: "d/b CPU per request",
      value: ratio(s("d")?.cpuUsPerRequest, s("b")?.cpuUsPerRequest),
      goal: { max: 1.0 },
      note: "Rampart: gRPC unary call (h2c upstream) ÷ HTTP/1.1 request, 100-byte answers",
    },
  ];
  const protocolOf = (key: string) => {
    const last = loads[key]?.last;
    return last === undefined ? "" : `${last.alpn ?? "?"}, ${last.tlsProtocol ?? "?"} ${last.cipher ?? "?"}`;
  };
  printTable(`h2 (${settings.rounds} rounds, ${IN_FLIGHT} requests in flight)`, summaries, [{ title: "ALPN, TLS", cell: protocolOf }]);
  printRatios("h2 ratios", ratios);

  const ciphers = new Set(targets.map((target) => loads[target.key]?.last?.cipher ?? null));
  if (ciphers.size > 1) notes.push(`the targets negotiated different TLS ciphers: ${targets.map((target) => `(${target.key}) ${loads[target.key]?.last?.cipher ?? "?"}`).join(", ")}`);
  const accessLogBytes = fileSize(accessLog);
  if (accessLogBytes === 0 && accessLog !== "/dev/null") notes.push("Rampart wrote no access log");
  return {
    title: "h2",
    rounds: settings.rounds,
    targets: summaries,
    ratios,
    details: {
      backend: backend.kind,
      guards,
      nginx: nginx?.version ?? null,
      inFlight: IN_FLIGHT,
      commands,
      negotiated: Object.fromEntries(targets.map((target) => [target.key, { alpn: loads[target.key]?.last?.alpn ?? null, tls: loads[target.key]?.last?.tlsProtocol ?? null, cipher: loads[target.key]?.last?.cipher ?? null }])),
      grpcSpotCheck,
      // 499: requests in flight when h2load stopped its clients at the end of a run (the warm-up's requests are logged too).
      accessLog: { file: accessLog, bytes: accessLogBytes, requestLinesChecked: logLines, clientClosed },
    },
    notes,
  };
}

// Idle keep-alive connections (performance goal 7: "Memory: RSS with 10,000 idle keep-alive client
// connections, reported per connection"). An edge proxy holds far more idle keep-alive connections than
// busy ones (browsers keep theirs open between page loads), so what one costs bounds how many a box can hold.
// Rampart runs with every guard of the core scenario on (edge guards with the memory store, health checks,
// a breaker, retries), one worker, and only `limits.idleTimeout` raised (120 s, so no connection is closed
// during the measurement); maxConnectionsPerIp stays at its default of 256, since the client spreads its
// connections over source addresses 127.0.0.2, 127.0.0.3, … (at most 200 each). The client process
// (bench/idle-clients.ts) opens BENCH_IDLE_CONNECTIONS (default 10,000) connections, at most 200 connecting
// at once, sends one keep-alive GET on each over HTTP/1.1 and reads the whole 200, then leaves them idle.
// The proxy's VmRSS (and V8 heap used, both after a full GC through the inspector) is read before
// (after a warm-up of 200 connections, opened and closed, so first-use code and pools are in the baseline),
// with half of them open, with all of them open and idle for 2 s, and after they closed:
//   per connection = (with N − before) ÷ N;  marginal = (with N − with N/2) ÷ (N − N/2).
// Peers, measured the same way one after another against the same backend: nginx (Debian's, one worker,
// worker_connections 9/8 × (N + 256), keepalive_timeout 120 s) as a reverse proxy to the backend like Rampart,
// and bare node:http (bench/backend.ts: a server answering 200 itself, the floor of any Node server).
// The scenario fails unless Rampart held all N connections open (its rampart_connections_open gauge and
// `ss`) and every request got 200. Kernel socket memory is not in any process's RSS and is not counted.
// The client and each server need N + 256 open files: checked against the limit first (see checkOpenFiles).
import path from "node:path";
import { IdleClients, openFilesLimit, serverSockets, ssAvailable, startNginxIdleProxy, type ClientStatus, type Opened } from "../idle-support.js";
import { heapUsedAfterGcMb } from "../inspector.js";
import { PROXY_CPU, freePort, launch, residentMemory, sleep, stop, waitForHttp, type Managed } from "../processes.js";
import { BREAKER } from "../rampart-config.js";
import { fmt, printRatios, printRows, ratio, type Ratio } from "../report.js";
import { fetchText, metricValue, type ScenarioContext, type ScenarioResult } from "../scenario.js";
import { envInt } from "../settings.js";
import { rampartPorts, repoRoot, startBackends, startRampart } from "../targets.js";

/** Connections per source address: under Rampart's default maxConnectionsPerIp (256). */
const PER_ADDRESS = 200;
/** Connections being opened at once, at most; and at most this many per source address (under maxRequestsInFlightPerIp, 64). */
const MAX_CONCURRENCY = 200;
const MAX_CONCURRENCY_PER_ADDRESS = 32;
/** Opened, answered and closed before the baseline reading. */
const WARMUP_CONNECTIONS = 200;
/** How long every connection sits idle before a reading. */
const IDLE_MS = 2_000;
/** Open files each process needs beyond one per connection (listeners, upstream sockets, logs, inspector). */
const FD_MARGIN = 256;

interface Reading {
  /** VmRSS of the process and its children (nginx: master + worker). */
  readonly rssMb: number | null;
  /** V8 heap used after a full GC; null for nginx. */
  readonly heapMb: number | null;
}

interface Subject {
  readonly key: "rampart" | "nginx" | "node";
  readonly label: string;
  readonly port: number;
  readonly process: Managed;
  /** Node processes: the inspector port, for a full GC and the heap reading. */
  readonly inspectPort?: number;
  /** Connections the server itself counts as open (Rampart's gauge). */
  readonly openGauge?: () => Promise<number | undefined>;
}

interface Figures {
  readonly label: string;
  readonly baseline: Reading;
  readonly half: Reading;
  readonly full: Reading;
  readonly closed: Reading;
  readonly halfCount: number;
  readonly warmup: Opened;
  readonly opened: readonly Opened[];
  readonly openSeconds: number;
  readonly client: ClientStatus;
  /** Server-side ESTABLISHED sockets with all N open, from `ss`. */
  readonly established: number | undefined;
  /** Rampart's rampart_connections_open{listener="http"} with all N open. */
  readonly gauge: number | undefined;
  readonly rssKbPerConnection: number | null;
  readonly heapKbPerConnection: number | null;
  readonly marginalRssKbPerConnection: number | null;
  /** What went wrong (not all N open and answered 200); empty when all is well. */
  readonly problems: readonly string[];
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function reading(subject: Subject): Promise<Reading> {
  let heapMb: number | null = null;
  if (subject.inspectPort !== undefined) {
    heapMb = await heapUsedAfterGcMb(subject.inspectPort);
    await sleep(500);
  }
  return { rssMb: residentMemory(subject.process.pid)?.rssMb ?? null, heapMb };
}

/** KB per connection between two readings `count` connections apart. */
function perConnection(from: number | null, to: number | null, count: number): number | null {
  return from === null || to === null || count <= 0 ? null : ((to - from) * 1024) / count;
}

/** Waits until the server has closed its side of every connection (ss, and the gauge when there is one). */
async function waitClosed(subject: Subject, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let sockets: number | undefined;
  let gauge: number | undefined;
  while (Date.now() < deadline) {
    sockets = serverSockets(subject.port, "connected");
    gauge = subject.openGauge === undefined ? undefined : await subject.openGauge();
    if ((sockets ?? 0) === 0 && (gauge ?? 0) === 0) return;
    await sleep(200);
  }
  throw new Error(`${subject.label}: connections still open ${timeoutMs / 1_000} s after the client closed them (ss: ${sockets ?? "n/a"}, gauge: ${gauge ?? "n/a"})`);
}

async function measure(subject: Subject, dir: string, count: number): Promise<Figures> {
  const addresses = Math.ceil(count / PER_ADDRESS);
  const concurrency = Math.min(MAX_CONCURRENCY, addresses * MAX_CONCURRENCY_PER_ADDRESS);
  const client = await IdleClients.start(dir, `${subject.key}-clients`, subject.port, count, PER_ADDRESS, concurrency);
  try {
    const warmup = await client.open(Math.min(WARMUP_CONNECTIONS, count));
    if (warmup.failed > 0) throw new Error(`${subject.label}: ${warmup.failed} of the warm-up connections failed: ${JSON.stringify({ statuses: warmup.statuses, errors: warmup.errors })}`);
    await client.close();
    await waitClosed(subject);
    await sleep(IDLE_MS);
    const baseline = await reading(subject);

    const halfCount = Math.floor(count / 2);
    const first = await client.open(halfCount);
    await sleep(IDLE_MS);
    const half = await reading(subject);
    const second = await client.open(count - halfCount);
    await sleep(IDLE_MS);
    const full = await reading(subject);
    const status = await client.status();
    const established = serverSockets(subject.port, "established");
    const gauge = subject.openGauge === undefined ? undefined : await subject.openGauge();
    console.log(
      `  ${subject.label}: ${fmt.int(status.open)} connections open and idle (${first.seconds.toFixed(1)} + ${second.seconds.toFixed(1)} s to open); ` +
        `RSS ${fmt.mb(baseline.rssMb)} → ${fmt.mb(full.rssMb)} MB`,
    );

    await client.close();
    await waitClosed(subject);
    await sleep(IDLE_MS);
    const closed = await reading(subject);

    const opened = [first, second];
    const ok = first.ok + second.ok;
    const problems: string[] = [];
    const failed = opened.filter((batch) => batch.failed > 0);
    if (ok !== count || failed.length > 0) {
      problems.push(`${fmt.int(count - ok)} of ${fmt.int(count)} requests did not get 200 (${failed.map((batch) => JSON.stringify({ statuses: batch.statuses, errors: batch.errors })).join(", ")})`);
    }
    if (status.open !== count) problems.push(`the client held ${fmt.int(status.open)} connections open, not ${fmt.int(count)}`);
    if (status.closedByServer > 0) problems.push(`the server closed ${fmt.int(status.closedByServer)} idle connections`);
    if (established !== undefined && established !== count) problems.push(`ss counted ${fmt.int(established)} established server-side connections, not ${fmt.int(count)}`);
    if (gauge !== undefined && gauge !== count) problems.push(`rampart_connections_open{listener="http"} was ${gauge}, not ${count}`);
    return {
      label: subject.label,
      baseline,
      half,
      full,
      closed,
      halfCount,
      warmup,
      opened,
      openSeconds: first.seconds + second.seconds,
      client: status,
      established,
      gauge,
      rssKbPerConnection: perConnection(baseline.rssMb, full.rssMb, count),
      heapKbPerConnection: perConnection(baseline.heapMb, full.heapMb, count),
      marginalRssKbPerConnection: perConnection(half.rssMb, full.rssMb, count - halfCount),
      problems,
    };
  } finally {
    await client.end();
  }
}

/**
 * Fails unless one process may hold `count` connections plus its own files (the client and the server
 * each). Node raises its own soft limit to the hard one at start-up, and the children it spawns (nginx
 * too) inherit that, so what this process has is what they get: in practice the hard limit counts.
 */
function checkOpenFiles(count: number): { readonly soft: number; readonly hard: number } | undefined {
  const limit = openFilesLimit();
  const needed = count + FD_MARGIN;
  if (limit !== undefined && limit.soft < needed) {
    throw new Error(
      `idle: ${fmt.int(count)} connections need about ${fmt.int(needed)} open files in the client process and as many in the server under test, ` +
        `but the open-files limit is ${limit.soft} (hard ${limit.hard}; Node already raises its soft limit to the hard one by itself). ` +
        `Raise the hard limit (as root: \`ulimit -Hn ${needed}\` in the shell that runs the benchmark, limits.conf, or the service manager's LimitNOFILE) ` +
        `or lower BENCH_IDLE_CONNECTIONS to ${Math.max(0, limit.soft - FD_MARGIN)} or less.`,
    );
  }
  return limit;
}

function figureCells(figures: Figures): string[] {
  const mb = (value: number | null) => fmt.mb(value);
  const kb = (value: number | null) => (value === null ? "n/a" : value.toFixed(2));
  const heap = figures.baseline.heapMb === null ? "n/a" : [figures.baseline, figures.full, figures.closed].map((entry) => mb(entry.heapMb)).join(" / ");
  return [
    figures.label,
    [figures.baseline, figures.half, figures.full, figures.closed].map((entry) => mb(entry.rssMb)).join(" / "),
    heap,
    kb(figures.rssKbPerConnection),
    kb(figures.heapKbPerConnection),
    kb(figures.marginalRssKbPerConnection),
    `${figures.established === undefined ? "n/a" : fmt.int(figures.established)} / ${figures.gauge === undefined ? "-" : fmt.int(figures.gauge)}`,
    figures.openSeconds.toFixed(1),
  ];
}

export async function runIdle({ dir }: ScenarioContext): Promise<ScenarioResult> {
  const count = envInt("BENCH_IDLE_CONNECTIONS", 10_000, 10, 1_000_000);
  const limit = checkOpenFiles(count);
  const notes: string[] = [];
  if (!ssAvailable) notes.push("ss (iproute2) is missing: server-side socket counts were not checked, only Rampart's gauge and the client's own count");
  const [backendPort, rampartInspect, nginxPort, nodePort, nodeInspect] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const backend = await startBackends(dir, [backendPort]);
  const results: Partial<Record<Subject["key"], Figures>> = {};

  // (a) Rampart, every guard of the core scenario on.
  const ports = await rampartPorts();
  const rampart = await startRampart(dir, {
    name: "rampart-idle",
    ports,
    targets: backend.urls,
    edgeGuards: true,
    healthCheck: "{ path: /, interval: 5s, timeout: 2s }",
    circuitBreaker: BREAKER,
    retry: "{ attempts: 2 }",
    limits: "{ idleTimeout: 120s }",
    nodeArgs: [`--inspect=127.0.0.1:${rampartInspect}`],
  });
  const openGauge = async () => metricValue(await fetchText(`${rampart.adminUrl}/metrics`), "rampart_connections_open", '{listener="http"}');
  const rampartFigures = await measure({ key: "rampart", label: "rampart http", port: ports.http, process: rampart.process, inspectPort: rampartInspect, openGauge }, dir, count);
  results.rampart = rampartFigures;
  await stop(rampart.process);
  if (rampartFigures.problems.length > 0) throw new Error(`idle: Rampart did not hold ${fmt.int(count)} answered connections open: ${rampartFigures.problems.join("; ")}`);

  // (b) nginx as a reverse proxy to the same backend. Once fewer than 1/16 of its worker_connections are
  // free, nginx closes idle keep-alive connections to make room (ngx_drain_connections), so it gets an
  // eighth more slots than it will use. It allocates them at start, so they are in its baseline: a second
  // nginx with the default 1,024 slots shows what the extra slots cost.
  const workerConnections = Math.ceil(((count + FD_MARGIN) * 9) / 8);
  let nginxVersion: string | null = null;
  let nginxSlotKb: number | null = null;
  let nginxStartRssMb: { readonly small: number | null; readonly sized: number | null } | null = null;
  const nginx = await startNginxIdleProxy(dir, "nginx-idle", nginxPort, backend.urls[0]!, workerConnections);
  if (nginx === undefined) {
    notes.push("nginx is not installed: no nginx figures");
  } else {
    nginxVersion = nginx.version;
    try {
      await sleep(500);
      const sized = residentMemory(nginx.process.pid)?.rssMb ?? null;
      let small: number | null = null;
      if (workerConnections > 1024) {
        const smallPort = await freePort();
        const smallNginx = await startNginxIdleProxy(dir, "nginx-1024", smallPort, backend.urls[0]!, 1024);
        if (smallNginx !== undefined) {
          await sleep(500);
          small = residentMemory(smallNginx.process.pid)?.rssMb ?? null;
          await stop(smallNginx.process);
        }
        nginxSlotKb = perConnection(small, sized, workerConnections - 1024);
      }
      nginxStartRssMb = { small, sized };
      const figures = await measure({ key: "nginx", label: `${nginx.version} (proxy)`, port: nginxPort, process: nginx.process }, dir, count);
      results.nginx = figures;
      if (figures.problems.length > 0) notes.push(`nginx: ${figures.problems.join("; ")}: its figures are not comparable`);
    } catch (error) {
      notes.push(`nginx: ${message(error)}`);
    } finally {
      await stop(nginx.process);
    }
  }

  // (c) bare node:http answering 200 itself.
  const bareNode = await launch({
    name: "bare node:http",
    command: process.execPath,
    args: [`--inspect=127.0.0.1:${nodeInspect}`, path.join(repoRoot, "dist/bench/backend.js"), String(nodePort)],
    cpu: PROXY_CPU,
    stderrFile: path.join(dir, "bare-node.err"),
  });
  try {
    await waitForHttp(`http://127.0.0.1:${nodePort}/`, bareNode);
    const figures = await measure({ key: "node", label: "bare node:http (answers 200)", port: nodePort, process: bareNode, inspectPort: nodeInspect }, dir, count);
    results.node = figures;
    if (figures.problems.length > 0) notes.push(`bare node:http: ${figures.problems.join("; ")}: its figures are not comparable`);
  } catch (error) {
    notes.push(`bare node:http: ${message(error)}`);
  } finally {
    await stop(bareNode);
  }

  const usable = (key: Subject["key"]) => (results[key] !== undefined && results[key].problems.length === 0 ? results[key] : undefined);
  const nginxFigures = usable("nginx");
  const nodeFigures = usable("node");
  const n = fmt.int(count);
  const ratios: Ratio[] = [
    { name: "Rampart RSS per idle keep-alive connection", value: rampartFigures.rssKbPerConnection, unit: "KB", note: `(VmRSS with ${n} idle − before) ÷ ${n}, after a full GC` },
    { name: "Rampart V8 heap per idle connection", value: rampartFigures.heapKbPerConnection, unit: "KB", note: "V8 heap used after a full GC, the same way" },
    ...(nginxFigures === undefined
      ? []
      : [
          { name: "nginx RSS per idle keep-alive connection", value: nginxFigures.rssKbPerConnection, unit: "KB", note: `${nginxVersion ?? "nginx"} proxy, master + worker; slots preallocated at start not counted` },
          { name: "Rampart/nginx RSS per idle connection", value: ratio(rampartFigures.rssKbPerConnection, nginxFigures.rssKbPerConnection), note: "Rampart ÷ nginx" },
        ]),
    ...(nodeFigures === undefined
      ? []
      : [
          { name: "bare node:http RSS per idle keep-alive connection", value: nodeFigures.rssKbPerConnection, unit: "KB", note: "node:http answering 200 itself: the floor of any Node server" },
          { name: "bare node:http V8 heap per idle connection", value: nodeFigures.heapKbPerConnection, unit: "KB", note: "after a full GC" },
          { name: "Rampart/bare node:http RSS per idle connection", value: ratio(rampartFigures.rssKbPerConnection, nodeFigures.rssKbPerConnection), note: "Rampart ÷ bare node:http" },
        ]),
  ];

  console.log(`\nidle (${n} keep-alive connections over ${Math.ceil(count / PER_ADDRESS)} source addresses, idle ${IDLE_MS / 1_000} s before each reading; backend: ${backend.kind})`);
  printRows(
    ["target", "RSS MB before / N/2 / N / closed", "V8 heap MB before / N / closed", "RSS KB/conn", "heap KB/conn", "RSS KB/conn N/2→N", "open at N: ss / gauge", "open s"],
    (["rampart", "nginx", "node"] as const).flatMap((key) => (results[key] === undefined ? [] : [figureCells(results[key])])),
  );
  printRatios("idle figures (no goal in the issue: reported per connection)", ratios, { name: "figure", note: "what" });
  if (nginxSlotKb !== null) {
    const withSlots = nginxFigures?.rssKbPerConnection == null ? "" : `; counting them, ${(nginxFigures.rssKbPerConnection + (nginxSlotKb * workerConnections) / count).toFixed(2)} KB per connection`;
    notes.push(`nginx allocates its ${fmt.int(workerConnections)} worker_connections slots at start: ${nginxSlotKb.toFixed(2)} KB of RSS each (vs 1,024 slots), in its baseline, not in the per-connection figure${withSlots}`);
  }
  return {
    title: "idle",
    rounds: 1,
    targets: {},
    ratios,
    details: {
      connections: count,
      perAddress: PER_ADDRESS,
      sourceAddresses: Math.ceil(count / PER_ADDRESS),
      idleMsBeforeReading: IDLE_MS,
      warmupConnections: Math.min(WARMUP_CONNECTIONS, count),
      openFilesLimit: limit ?? null,
      backend: backend.kind,
      nginx: nginxVersion === null ? null : { version: nginxVersion, workerConnections, startRssMb: nginxStartRssMb, slotKb: nginxSlotKb },
      targets: results,
    },
    notes,
  };
}

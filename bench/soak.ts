// `npm run bench:soak`: a soak test on loopback. Rampart with `workers: 2` and `store.kind: redis` (a real
// redis-server, no persistence) in front of two node backends (bench/app-backend.ts), under a fixed-rate
// open-loop mix from one bounded client (bench/paced.ts, keep-alive): GET 100 B, GET 256 KiB, POST 64 KiB,
// GETs of an unrouted path (404), GETs of a route limited to 5 req/s per IP (200 or 429). Meanwhile,
// faults on a schedule (seeded, SOAK_SEED): a config reload every 30 s (alternately POST /api/reload and
// SIGHUP to the primary, the config alternating between two valid versions), and, one at a time in a
// shuffled rotation, a backend SIGKILLed and restarted 5 s later on its port, redis-server SIGKILLed and
// restarted 5 s later (empty) on its port, a worker SIGKILLed (found with pgrep -P <primary>; the primary
// replaces it).
//
// Reports every failed request (unexpected status, client error, timeout, short body) grouped by cause and
// by the fault active when it happened (from the fault's start to 3 s after its recovery), so that a failure
// no fault explains stands out; and the RSS of every gateway process (/proc, every 5 s) with a linear
// regression slope after the warm-up, plus the workers' V8 heap and RSS as the admin /metrics aggregates them.
//
// Environment: SOAK_SECONDS (default 600), SOAK_RPS (default 100), SOAK_WARMUP (s, default 20% of the run,
// 15–120), SOAK_SEED, BENCH_KEEP_TMP=1 (keep configs and logs). Writes bench/results/soak.json. Exit code 1
// only when the run could not be completed; missed goals are reported, not turned into a failure.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { accessLogFailures } from "./access-log.js";
import { percentile } from "./measure.js";
import { runPaced, type Outcome, type PacedRequest } from "./paced.js";
import { LOAD_CPU, PROXY_CPU, installCleanup, ownRssMb, pinSelf, pinning, processTree, runMain, sleep, stopAll, which } from "./processes.js";
import { BREAKER, type RampartOptions } from "./rampart-config.js";
import { startRedis, type RedisServer } from "./redis.js";
import { printRatios, printRows, verdict, type Ratio, writeResults } from "./report.js";
import { envInt } from "./settings.js";
import { fetchText, metricValue } from "./scenario.js";
import { startGateway, stopGateway, successfulReloads, withExtraRoute, type Gateway } from "./scenarios/workers.js";
import { rampartPorts, repoRoot, snapshotRampart, startAppBackend, type AppBackend } from "./targets.js";

const RELOAD_EVERY_MS = 30_000;
const BACKEND_DOWN_MS = 5_000;
const REDIS_DOWN_MS = 5_000;
/** A failure up to this long after a fault's recovery is still put down to it. */
const SETTLE_MS = 3_000;
const SAMPLE_EVERY_MS = 5_000;
const SLOPE_GOAL_MB_PER_MIN = 1;
const MIN_SLOPE_SAMPLES = 6;
const REQUEST_TIMEOUT_MS = 10_000;
const RATE_LIMIT_PER_S = 5;
/** The most requests one run may send (SOAK_SECONDS × SOAK_RPS). */
const MAX_REQUESTS = 1_000_000;
/** After a worker is replaced, the sum of the workers' heap only counts again after this long (the new worker's own warm-up). */
const WORKER_WARMUP_MS = 20_000;

/** mulberry32: a small seeded generator, so a run's fault schedule can be repeated. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

// ---- traffic ----

const POST_BODY = Buffer.alloc(64 * 1_024, "p");
const BIG_BYTES = 256 * 1_024;
const REQUESTS = {
  small: { kind: "GET 100 B", method: "GET", path: "/app/small", expect: [200], bytes: 100 },
  big: { kind: "GET 256 KiB", method: "GET", path: `/app/bytes/${BIG_BYTES}`, expect: [200], bytes: BIG_BYTES },
  post: { kind: "POST 64 KiB", method: "POST", path: "/app/upload", body: POST_BODY, expect: [200] },
  missing: { kind: "GET unrouted (404)", method: "GET", path: "/missing", expect: [404] },
  limited: { kind: "GET rate-limited (200/429)", method: "GET", path: "/limited/x", expect: [200, 429] },
} as const satisfies Record<string, PacedRequest>;
/** 20 slots: 50% small, 15% 256 KiB, 15% POST, 10% 404, 10% on the limited route. */
const MIX: readonly (keyof typeof REQUESTS)[] = [
  "small", "big", "small", "post", "small", "missing", "small", "limited", "small", "big",
  "small", "post", "small", "limited", "small", "big", "small", "post", "small", "missing",
];

// ---- faults ----

type FaultKind = "backend kill" | "redis kill" | "worker kill" | "reload";

interface Fault {
  readonly kind: FaultKind;
  readonly label: string;
  /** Epoch ms. */
  readonly start: number;
  /** When the system was whole again (epoch ms); null while it is not. */
  end: number | null;
  detail: string;
}

class Timeline {
  readonly faults: Fault[] = [];
  constructor(readonly t0: number) {}

  open(kind: FaultKind, label: string): Fault {
    const fault: Fault = { kind, label, start: Date.now(), end: null, detail: "" };
    this.faults.push(fault);
    console.log(`  ${this.offset(fault.start)} ${label}`);
    return fault;
  }

  close(fault: Fault, detail: string): void {
    fault.end = Date.now();
    fault.detail = detail;
    console.log(`  ${this.offset(fault.end)} ${fault.label}: ${detail}`);
  }

  /** The faults whose window (start to recovery + SETTLE_MS) overlaps [start, end]. */
  during(start: number, end: number): Fault[] {
    return this.faults.filter((fault) => start <= (fault.end ?? Number.POSITIVE_INFINITY) + SETTLE_MS && end >= fault.start);
  }

  offset(at: number): string {
    return `+${((at - this.t0) / 1_000).toFixed(1).padStart(6)} s`;
  }
}

/** The gateway's workers: the primary's children (pgrep -P, as an operator would find them). */
function workerPidsOf(primary: number): number[] {
  if (which("pgrep") !== undefined) {
    try {
      return execFileSync("pgrep", ["-P", String(primary)], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map(Number);
    } catch {
      return []; // pgrep exits 1 when there is none
    }
  }
  return processTree(primary).slice(1);
}

async function readyz(gateway: Gateway): Promise<number | null> {
  try {
    const response = await fetch(`${gateway.adminUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
    await response.text();
    return response.status;
  } catch {
    return null;
  }
}

async function storeUp(gateway: Gateway): Promise<boolean> {
  try {
    return metricValue(await fetchText(`${gateway.adminUrl}/metrics`, 3_000), "rampart_store_up", '{kind="redis"}') === 1;
  } catch {
    return false;
  }
}

/** Polls `check` every 200 ms until it holds or `timeoutMs` passed; true when it held. */
async function until(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(200);
  }
  return false;
}

interface Soak {
  readonly dir: string;
  readonly gateway: Gateway;
  readonly backends: AppBackend[];
  redis: RedisServer;
  readonly timeline: Timeline;
  readonly rng: () => number;
  stopping: boolean;
}

async function killBackend(soak: Soak, index: number): Promise<void> {
  const victim = soak.backends[index]!;
  const fault = soak.timeline.open("backend kill", `backend ${index + 1} (${victim.url}) SIGKILLed`);
  process.kill(victim.process.pid, "SIGKILL");
  await victim.process.exit;
  await sleep(BACKEND_DOWN_MS);
  soak.backends[index] = await startAppBackend(soak.dir, `backend-${index + 1}`, { port: victim.port, statsPort: victim.statsPort });
  soak.timeline.close(fault, `restarted on its port after ${((Date.now() - fault.start) / 1_000).toFixed(1)} s`);
}

async function killRedis(soak: Soak): Promise<void> {
  const victim = soak.redis;
  const fault = soak.timeline.open("redis kill", `redis-server (port ${victim.port}) SIGKILLed`);
  process.kill(victim.process.pid, "SIGKILL");
  await victim.process.exit;
  await sleep(REDIS_DOWN_MS);
  const restarted = await startRedis(soak.dir, victim.port);
  if (restarted === undefined) throw new Error("redis-server vanished");
  soak.redis = restarted;
  const up = await until(() => storeUp(soak.gateway), 20_000);
  soak.timeline.close(
    fault,
    `restarted (empty) after ${((Date.now() - fault.start) / 1_000).toFixed(1)} s; rampart_store_up{kind="redis"} ${up ? "back to 1" : "NOT back to 1 within 20 s"}`,
  );
}

async function killWorker(soak: Soak): Promise<void> {
  const primary = soak.gateway.process.pid;
  const workers = workerPidsOf(primary);
  if (workers.length === 0) throw new Error(`no worker under primary ${primary}`);
  const victim = workers[Math.floor(soak.rng() * workers.length)]!;
  const fault = soak.timeline.open("worker kill", `worker ${victim} SIGKILLed (workers: ${workers.join(", ")})`);
  process.kill(victim, "SIGKILL");
  let replacement: number[] = [];
  const back = await until(async () => {
    replacement = workerPidsOf(primary);
    return replacement.length === workers.length && !replacement.includes(victim) && (await readyz(soak.gateway)) === 200;
  }, 30_000);
  for (const pid of replacement) soak.gateway.workerPids.add(pid);
  soak.timeline.close(fault, back ? `replaced by ${replacement.filter((pid) => !workers.includes(pid)).join(", ")}, /readyz 200` : `NOT replaced within 30 s (workers now: ${replacement.join(", ") || "none"})`);
}

interface ReloadResult {
  readonly via: "POST /api/reload" | "SIGHUP";
  readonly ok: boolean;
}

async function reload(soak: Soak, index: number, variants: readonly string[]): Promise<ReloadResult> {
  const via = index % 2 === 0 ? "POST /api/reload" : "SIGHUP";
  writeFileSync(soak.gateway.configFile, variants[(index + 1) % 2]!);
  const fault = soak.timeline.open("reload", `reload ${index + 1} (${via})`);
  const before = (await successfulReloads(soak.gateway).catch(() => ({ primary: null }))).primary;
  let ok: boolean;
  if (via === "SIGHUP") {
    process.kill(soak.gateway.process.pid, "SIGHUP");
    ok = before !== null && (await until(async () => ((await successfulReloads(soak.gateway).catch(() => ({ primary: null }))).primary ?? 0) > before, 10_000));
    soak.timeline.close(fault, ok ? "rampart_config_reloads_total{result=success} +1" : "no successful reload counted within 10 s");
  } else {
    let status: number | string;
    try {
      const response = await fetch(`${soak.gateway.adminUrl}/api/reload`, { method: "POST", signal: AbortSignal.timeout(10_000) });
      await response.text();
      status = response.status;
    } catch (error) {
      status = error instanceof Error ? error.message : String(error);
    }
    ok = status === 200;
    soak.timeline.close(fault, `answered ${status}`);
  }
  return { via, ok };
}

async function reloadLoop(soak: Soak, endAt: number): Promise<ReloadResult[]> {
  const variants = [soak.gateway.config, withExtraRoute(soak.gateway.config)];
  const results: ReloadResult[] = [];
  for (let index = 0; ; index++) {
    const due = soak.timeline.t0 + (index + 1) * RELOAD_EVERY_MS;
    if (due > endAt) break;
    while (!soak.stopping && Date.now() < due) await sleep(Math.min(500, due - Date.now()));
    if (soak.stopping) break;
    results.push(await reload(soak, index, variants));
  }
  return results;
}

async function faultLoop(soak: Soak, seconds: number, endAt: number): Promise<void> {
  const gapMin = Math.min(30, Math.max(12, seconds / 8)) * 1_000;
  let due = soak.timeline.t0 + gapMin;
  let backendIndex = 0;
  let bag: ("backend" | "redis" | "worker")[] = [];
  for (;;) {
    // Each fault is over within ~10 s (a worker's replacement within 30 s at worst); none starts after endAt.
    if (due > endAt) break;
    while (!soak.stopping && Date.now() < due) await sleep(Math.min(500, due - Date.now()));
    if (soak.stopping) break;
    if (bag.length === 0) {
      bag = ["backend", "redis", "worker"];
      for (let i = bag.length - 1; i > 0; i--) {
        const j = Math.floor(soak.rng() * (i + 1));
        [bag[i], bag[j]] = [bag[j]!, bag[i]!];
      }
    }
    const kind = bag.shift()!;
    if (kind === "backend") await killBackend(soak, backendIndex++ % soak.backends.length);
    else if (kind === "redis") await killRedis(soak);
    else await killWorker(soak);
    due = Math.max(Date.now(), due) + gapMin * (1 + soak.rng());
  }
}

// ---- memory ----

interface Series {
  readonly pid: number;
  readonly role: "primary" | "worker";
  /** Seconds since t0. */
  readonly firstSeen: number;
  lastSeen: number;
  readonly points: [number, number][];
}

interface MetricSample {
  readonly t: number;
  readonly heapMb: number | null;
  readonly rssMb: number | null;
}

/** Least-squares slope of y over x (per unit of x); null with fewer than two distinct x. */
function slope(points: readonly (readonly [number, number])[]): number | null {
  return pooledSlope([points]);
}

/** One slope shared by several segments, each with its own level (the within-segment regression): a step between segments is not a trend. */
function pooledSlope(segments: readonly (readonly (readonly [number, number])[])[]): number | null {
  let sxy = 0;
  let sxx = 0;
  for (const points of segments) {
    if (points.length < 2) continue;
    const mx = points.reduce((sum, [x]) => sum + x, 0) / points.length;
    const my = points.reduce((sum, [, y]) => sum + y, 0) / points.length;
    for (const [x, y] of points) {
      sxy += (x - mx) * (y - my);
      sxx += (x - mx) ** 2;
    }
  }
  return sxx === 0 ? null : sxy / sxx;
}

async function sampleLoop(soak: Soak, series: Map<number, Series>, metrics: MetricSample[]): Promise<void> {
  while (!soak.stopping) {
    const t = (Date.now() - soak.timeline.t0) / 1_000;
    const primary = soak.gateway.process.pid;
    for (const pid of processTree(primary)) {
      const mb = ownRssMb(pid);
      if (mb === undefined) continue;
      let entry = series.get(pid);
      if (entry === undefined) {
        entry = { pid, role: pid === primary ? "primary" : "worker", firstSeen: t, lastSeen: t, points: [] };
        series.set(pid, entry);
        if (pid !== primary) soak.gateway.workerPids.add(pid);
      }
      entry.lastSeen = t;
      entry.points.push([t, mb]);
    }
    try {
      const text = await fetchText(`${soak.gateway.adminUrl}/metrics`, 3_000);
      const heap = metricValue(text, "nodejs_heap_size_used_bytes");
      const rss = metricValue(text, "process_resident_memory_bytes");
      metrics.push({ t, heapMb: heap === undefined ? null : heap / 1_048_576, rssMb: rss === undefined ? null : rss / 1_048_576 });
    } catch {
      metrics.push({ t, heapMb: null, rssMb: null });
    }
    const next = soak.timeline.t0 + (Math.floor(t * 1_000 / SAMPLE_EVERY_MS) + 1) * SAMPLE_EVERY_MS;
    while (!soak.stopping && Date.now() < next) await sleep(Math.min(250, next - Date.now()));
  }
}

/** Level ≥ warn lines of the gateway's log (pino JSON on stdout, shared with the access log), by level and message. */
function logSummary(file: string): Record<string, number> {
  const names: Record<number, string> = { 40: "warn", 50: "error", 60: "fatal" };
  const counts: Record<string, number> = {};
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return counts;
  }
  for (const line of text.split("\n")) {
    if (!line.startsWith("{") || line.includes('"msg":"request"')) continue;
    try {
      const record = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if (typeof record.level !== "number" || record.level < 40) continue;
      const key = `${names[record.level] ?? record.level}: ${String(record.msg)}`;
      counts[key] = (counts[key] ?? 0) + 1;
    } catch {
      // a partial line
    }
  }
  return counts;
}

function stderrTail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-10).join("\n");
  } catch {
    return "";
  }
}

async function main(): Promise<number> {
  installCleanup();
  const seconds = envInt("SOAK_SECONDS", 600, 30, 86_400);
  const rps = envInt("SOAK_RPS", 100, 1, 2_000);
  if (seconds * rps > MAX_REQUESTS) throw new Error(`SOAK_SECONDS × SOAK_RPS = ${seconds * rps}: at most ${MAX_REQUESTS} requests per run`);
  const warmup = envInt("SOAK_WARMUP", Math.min(120, Math.max(15, Math.round(seconds * 0.2))), 0, seconds - 30);
  const seed = envInt("SOAK_SEED", Math.floor(Math.random() * 2_147_483_647) + 1, 1, 2_147_483_647);
  if (which("redis-server") === undefined) {
    console.error("redis-server is not installed. On Debian/Ubuntu: sudo apt-get install -y redis-server (then run npm run bench:soak again).");
    return 2;
  }
  pinSelf(LOAD_CPU);
  snapshotRampart();
  const dir = mkdtempSync(path.join(os.tmpdir(), "rampart-soak-"));
  process.on("exit", () => {
    if (process.env.BENCH_KEEP_TMP === "1") console.log(`temp dir kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  const redis = await startRedis(dir);
  if (redis === undefined) throw new Error("redis-server did not start");
  const backends = [await startAppBackend(dir, "backend-1"), await startAppBackend(dir, "backend-2")];
  const options: RampartOptions = {
    name: "rampart-soak",
    ports: await rampartPorts(),
    targets: backends.map((backend) => backend.url),
    edgeGuards: false,
    redisUrl: redis.url,
    healthCheck: "{ path: /health, interval: 1s, timeout: 1s, unhealthyThreshold: 2, healthyThreshold: 2 }",
    circuitBreaker: BREAKER,
    retry: "{ attempts: 2 }",
    logLevel: "warn",
    accessLog: true,
    rateLimits: { soak: `{ limit: ${RATE_LIMIT_PER_S}, window: 1s, key: ip }` },
    routes: [
      { name: "app", pathPrefix: "/app" },
      { name: "limited", pathPrefix: "/limited", rateLimit: "soak" },
    ],
    readyPath: "/app/ready",
  };
  const started: { gateway?: Gateway } = {};
  // Worker processes are not the bench's children: on any way out, kill the ones of this gateway still running.
  process.on("exit", () => {
    const live = started.gateway;
    if (live === undefined) return;
    for (const pid of [...live.workerPids, ...workerPidsOf(live.process.pid)]) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(live.configFile)) process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  });
  const gateway = await startGateway(dir, options, 2);
  started.gateway = gateway;
  if (!(await until(() => storeUp(gateway), 15_000))) throw new Error('rampart_store_up{kind="redis"} did not reach 1 within 15 s');
  const restartsBefore = await fetchText(`${gateway.adminUrl}/metrics`).then((text) => metricValue(text, "rampart_worker_restarts_total") ?? 0);

  console.log(
    `rampart soak: ${seconds} s at ${rps} req/s (${MIX.length}-slot mix: 50% GET 100 B, 15% GET 256 KiB, 15% POST 64 KiB, 10% unrouted 404, 10% limited to ${RATE_LIMIT_PER_S}/s per IP), ` +
      `keep-alive, ${REQUEST_TIMEOUT_MS / 1_000} s timeout; workers: 2 (primary ${gateway.process.pid}, workers ${workerPidsOf(gateway.process.pid).join(", ")}), store redis, 2 backends; ` +
      `warm-up ${warmup} s; RSS sampled every ${SAMPLE_EVERY_MS / 1_000} s; seed ${seed} (SOAK_SEED); ` +
      (pinning ? `gateway on CPU ${PROXY_CPU}, client + backends + redis on CPU ${LOAD_CPU}` : "no CPU pinning"),
  );
  console.log("fault timeline:");

  const t0 = Date.now();
  const soak: Soak = { dir, gateway, backends, redis, timeline: new Timeline(t0), rng: random(seed), stopping: false };
  const series = new Map<number, Series>();
  const metricSamples: MetricSample[] = [];
  const sampler = sampleLoop(soak, series, metricSamples);
  const reloads = reloadLoop(soak, t0 + (seconds - 5) * 1_000);
  const faults = faultLoop(soak, seconds, t0 + (seconds - 20) * 1_000);
  // Handled here, examined once the traffic is done: a failed fault must not crash the run as an unhandled rejection.
  for (const task of [sampler, reloads, faults]) task.catch(() => undefined);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32, scheduling: "fifo" });
  const traffic = runPaced({
    baseUrl: gateway.httpUrl,
    rps,
    seconds,
    timeoutMs: REQUEST_TIMEOUT_MS,
    maxOutstanding: rps * 5,
    agent,
    next: (index) => REQUESTS[MIX[index % MIX.length]!],
  });
  const trafficDone = await Promise.allSettled([traffic]);
  soak.stopping = true;
  agent.destroy();
  // Settled before anything else is stopped: a fault in progress completes (restarting what it killed).
  const [faultsDone, reloadsDone] = await Promise.allSettled([faults, reloads, sampler]);
  if (trafficDone[0].status === "rejected") throw trafficDone[0].reason;
  if (faultsDone.status === "rejected") throw faultsDone.reason;
  if (reloadsDone.status === "rejected") throw reloadsDone.reason;
  const outcomes: Outcome[] = trafficDone[0].value;
  const reloadResults: ReloadResult[] = reloadsDone.value;
  const wall = (Date.now() - t0) / 1_000;
  const metricsText = await fetchText(`${gateway.adminUrl}/metrics`).catch(() => "");
  const reloadCount = (await successfulReloads(gateway).catch(() => ({ primary: null }))).primary;
  const restarts = metricValue(metricsText, "rampart_worker_restarts_total");
  await sleep(1_200); // the access log's last batch
  const leftovers = await stopGateway(gateway);
  const gatewayErrors = logSummary(gateway.accessLog);
  const rampartFailures = accessLogFailures(gateway.accessLog);
  await stopAll();

  // ---- requests ----
  const byKind = new Map<string, Outcome[]>();
  for (const outcome of outcomes) {
    const list = byKind.get(outcome.kind) ?? [];
    list.push(outcome);
    byKind.set(outcome.kind, list);
  }
  console.log(`\nrequests (${outcomes.length} in ${wall.toFixed(0)} s):`);
  printRows(
    ["kind", "sent", "ok", "failed", "p50 ms (ok)", "p99 ms (ok)", "statuses"],
    [...byKind].map(([kind, list]) => {
      const ok = list.filter((outcome) => outcome.ok).map((outcome) => outcome.ms);
      const statuses = new Map<string, number>();
      for (const outcome of list) if (outcome.ok) statuses.set(outcome.cause, (statuses.get(outcome.cause) ?? 0) + 1);
      return [
        kind,
        String(list.length),
        String(ok.length),
        String(list.length - ok.length),
        ok.length > 0 ? percentile(ok, 50).toFixed(1) : "n/a",
        ok.length > 0 ? percentile(ok, 99).toFixed(1) : "n/a",
        [...statuses].map(([status, count]) => `${count} × ${status}`).join(", "),
      ];
    }),
  );

  // ---- failures by cause and fault ----
  const timeline = soak.timeline;
  interface Group {
    cause: string;
    during: string;
    count: number;
    kinds: Map<string, number>;
  }
  const groups = new Map<string, Group>();
  const unexplained: Outcome[] = [];
  for (const outcome of outcomes) {
    if (outcome.ok) continue;
    const active = timeline.during(outcome.start, outcome.start + outcome.ms);
    const during = active.length === 0 ? "none: UNEXPLAINED" : [...new Set(active.map((fault) => fault.kind))].join(" + ");
    if (active.length === 0) unexplained.push(outcome);
    const key = `${outcome.cause}\u0000${during}`;
    const group = groups.get(key) ?? { cause: outcome.cause, during, count: 0, kinds: new Map<string, number>() };
    group.count++;
    group.kinds.set(outcome.kind, (group.kinds.get(outcome.kind) ?? 0) + 1);
    groups.set(key, group);
  }
  const failedCount = outcomes.filter((outcome) => !outcome.ok).length;
  console.log(`\nfailed requests (${failedCount}), by cause and by the fault active when they happened (fault start to ${SETTLE_MS / 1_000} s after its recovery):`);
  if (groups.size === 0) console.log("  none");
  else
    printRows(
      ["cause", "during fault", "count", "requests"],
      [...groups.values()]
        .sort((a, b) => b.count - a.count)
        .map((group) => [group.cause, group.during, String(group.count), [...group.kinds].map(([kind, count]) => `${count} × ${kind}`).join(", ")]),
      [0, 1, 3],
    );
  if (unexplained.length > 0) {
    console.log(`\nfailures no injected fault explains (first ${Math.min(10, unexplained.length)} of ${unexplained.length}):`);
    for (const outcome of unexplained.slice(0, 10)) console.log(`  ${timeline.offset(outcome.start)} ${outcome.kind}: ${outcome.cause} after ${outcome.ms.toFixed(0)} ms`);
  }
  const faultCounts = new Map<FaultKind, number>();
  for (const fault of timeline.faults) faultCounts.set(fault.kind, (faultCounts.get(fault.kind) ?? 0) + 1);
  console.log(`\nfaults injected: ${[...faultCounts].map(([kind, count]) => `${count} × ${kind}`).join(", ") || "none"}`);
  console.log(
    `Rampart's access log, non-2xx (404 and 429 are expected): ${
      Object.entries(rampartFailures)
        .sort((a, b) => b[1] - a[1])
        .map(([key, count]) => `${count} × ${key}`)
        .join(", ") || "none"
    }`,
  );
  console.log(`Rampart's log, warn and above: ${Object.entries(gatewayErrors).map(([key, count]) => `${count} × ${key}`).join("; ") || "none"}`);
  const stderr = stderrTail(path.join(dir, "rampart-soak.err"));
  if (stderr !== "") console.log(`Rampart's stderr (tail):\n${stderr}`);

  // ---- memory ----
  const workerKills = timeline.faults.filter((fault) => fault.kind === "worker kill");
  const memoryRows: string[][] = [];
  const slopeGoals: Ratio[] = [];
  for (const entry of series.values()) {
    // A process started during the run (a replacement worker) gets its own warm-up.
    const from = Math.max(warmup, entry.firstSeen + (entry.firstSeen > 0 ? Math.min(warmup, WORKER_WARMUP_MS / 1_000) : 0));
    const points = entry.points.filter(([t]) => t >= from);
    const perMinute = points.length >= MIN_SLOPE_SAMPLES ? slope(points.map(([t, mb]) => [t / 60, mb] as [number, number])) : null;
    const first = entry.points[0]?.[1];
    const last = entry.points.at(-1)?.[1];
    const died = workerKills.some((fault) => fault.label.startsWith(`worker ${entry.pid} `));
    memoryRows.push([
      String(entry.pid),
      entry.role + (died ? " (killed)" : ""),
      `${entry.firstSeen.toFixed(0)}–${entry.lastSeen.toFixed(0)} s`,
      String(points.length),
      `${first?.toFixed(1) ?? "?"} → ${last?.toFixed(1) ?? "?"}`,
      `${Math.max(...entry.points.map(([, mb]) => mb)).toFixed(1)}`,
      perMinute === null ? `n/a (< ${MIN_SLOPE_SAMPLES} samples after warm-up)` : perMinute.toFixed(2),
    ]);
    if (perMinute !== null) {
      slopeGoals.push({
        name: `RSS slope after warm-up, ${entry.role} ${entry.pid}`,
        value: Number(perMinute.toFixed(2)),
        unit: "MB/min",
        goal: { max: SLOPE_GOAL_MB_PER_MIN },
        note: `${points.length} samples from ${from.toFixed(0)} s; ${points[0]![1].toFixed(1)} → ${points.at(-1)![1].toFixed(1)} MB`,
      });
    }
  }
  console.log(`\ngateway processes, RSS from /proc every ${SAMPLE_EVERY_MS / 1_000} s (warm-up ${warmup} s; slope = least squares over the samples after it):`);
  printRows(["pid", "role", "seen", "samples after warm-up", "RSS first → last MB", "peak MB", "slope MB/min"], memoryRows, [0, 1, 2]);

  // The admin's aggregated figures (sums over the workers): one level per stretch between worker replacements.
  const cuts = workerKills.map((fault) => ({ from: (fault.start - t0) / 1_000, to: ((fault.end ?? fault.start) - t0 + WORKER_WARMUP_MS) / 1_000 }));
  const segmented = (pick: (sample: MetricSample) => number | null): [number, number][][] => {
    const segments: [number, number][][] = [[]];
    let cut = 0;
    for (const sample of metricSamples) {
      const value = pick(sample);
      if (sample.t < warmup || value === null) continue;
      while (cut < cuts.length && sample.t >= cuts[cut]!.from) {
        segments.push([]);
        cut++;
      }
      if (cuts.some((window) => sample.t >= window.from && sample.t < window.to)) continue;
      segments.at(-1)!.push([sample.t / 60, value]);
    }
    return segments.filter((segment) => segment.length >= 2);
  };
  const heapSegments = segmented((sample) => sample.heapMb);
  const rssSegments = segmented((sample) => sample.rssMb);
  const heapSamples = heapSegments.reduce((sum, segment) => sum + segment.length, 0);
  const heapSlope = heapSamples >= MIN_SLOPE_SAMPLES ? pooledSlope(heapSegments) : null;
  const rssSlope = rssSegments.reduce((sum, segment) => sum + segment.length, 0) >= MIN_SLOPE_SAMPLES ? pooledSlope(rssSegments) : null;
  const heapValues = metricSamples.map((sample) => sample.heapMb).filter((value): value is number => value !== null);
  console.log(
    `workers' V8 heap used (nodejs_heap_size_used_bytes, summed by the admin): ${heapValues[0]?.toFixed(1) ?? "?"} → ${heapValues.at(-1)?.toFixed(1) ?? "?"} MB ` +
      `(peak ${heapValues.length > 0 ? Math.max(...heapValues).toFixed(1) : "?"}); slope after warm-up ${heapSlope === null ? "n/a" : `${heapSlope.toFixed(2)} MB/min`}` +
      (workerKills.length > 0 ? ` (over ${heapSegments.length} stretch(es) between worker replacements, each from ${WORKER_WARMUP_MS / 1_000} s after a replacement)` : ""),
  );

  // ---- goals ----
  const reloadsSent = reloadResults.length;
  const goals: Ratio[] = [
    {
      name: "failures no injected fault explains",
      value: unexplained.length,
      unit: "requests",
      goal: { max: 0 },
      note: `of ${outcomes.length} sent; ${failedCount - unexplained.length} more failed during a fault`,
    },
    ...slopeGoals,
    {
      name: "workers' V8 heap slope after warm-up",
      value: heapSlope === null ? null : Number(heapSlope.toFixed(2)),
      unit: "MB/min",
      goal: { max: SLOPE_GOAL_MB_PER_MIN },
      note: "nodejs_heap_size_used_bytes summed over workers; level reset at each worker replacement",
    },
    {
      name: "workers' RSS slope after warm-up (admin)",
      value: rssSlope === null ? null : Number(rssSlope.toFixed(2)),
      unit: "MB/min",
      note: "process_resident_memory_bytes summed over workers; same stretches",
    },
    {
      name: "config reloads that succeeded",
      value: reloadCount,
      unit: "reloads",
      goal: { min: reloadsSent },
      note: `rampart_config_reloads_total{result="success"} on the primary; ${reloadResults.filter((result) => result.ok).length}/${reloadsSent} seen to succeed`,
    },
    {
      name: "workers restarted",
      value: restarts === undefined ? null : restarts - restartsBefore,
      unit: "restarts",
      goal: { min: workerKills.length, max: workerKills.length },
      note: `rampart_worker_restarts_total; ${workerKills.length} worker(s) killed`,
    },
  ];
  printRatios(`=== soak goals (${seconds} s at ${rps} req/s; RSS slope goal: ≤ ${SLOPE_GOAL_MB_PER_MIN} MB/min, i.e. flat) ===`, goals, { name: "figure", note: "detail" });
  if (seconds < 600) {
    console.log(
      `NOTE: ${seconds - warmup} s after warm-up is short for a memory trend: a slope over it is mostly garbage-collection noise (and a replacement worker's own warm-up); ` +
        "the slope goals are meant for the default 10 min run or longer.",
    );
  }
  if (leftovers.length > 0) console.log(`NOTE: worker process(es) still running after the primary's SIGTERM, killed: ${leftovers.join(", ")}`);

  writeResults(repoRoot, "soak.json", {
        date: new Date().toISOString(),
        node: process.version,
        settings: { seconds, rps, warmup, seed, requestTimeoutMs: REQUEST_TIMEOUT_MS, settleMs: SETTLE_MS },
        requests: outcomes.length,
        failed: failedCount,
        failures: [...groups.values()].map((group) => ({ cause: group.cause, during: group.during, count: group.count, kinds: Object.fromEntries(group.kinds) })),
        unexplained: unexplained.slice(0, 100).map((outcome) => ({ ...outcome, atS: (outcome.start - t0) / 1_000 })),
        faults: timeline.faults.map((fault) => ({ ...fault, atS: (fault.start - t0) / 1_000, forS: fault.end === null ? null : (fault.end - fault.start) / 1_000 })),
        rampartFailures,
        gatewayLog: gatewayErrors,
        memory: { processes: [...series.values()], adminMetrics: metricSamples },
        goals: goals.map((entry) => ({ ...entry, verdict: verdict(entry) || null })),
        leftoverWorkers: leftovers,
      });
  return 0;
}

runMain(main);

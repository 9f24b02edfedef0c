// `npm run bench:attacks`: slow-client attacks with slowhttptest against a Rampart gateway, on loopback only.
// For each attack — slowloris (-H), slow body (-B), slow read of a 1 MiB answer (-X), Range header (-R) —
// over HTTP and over HTTPS, a fresh node backend (bench/app-backend.ts) and a fresh Rampart in front of it
// (defaults: workers 1, tls.redirectHttp false, log level warn, access log off, no edge guard beyond the
// default limits). slowhttptest opens ATTACK_CONNECTIONS connections from 127.0.0.1 for ATTACK_SECONDS
// while a legitimate client, from 127.0.0.2, GETs a small path 5 times a second on a new connection each
// time (5 s timeout). Then, for 5 s after the attack stopped: does rampart_requests_in_flight (sum over
// routes, admin /metrics) return to 0, how many upstream connections does the backend still see open (and
// how many of them hold response bytes Rampart has not read: pinned by a client that stops reading), and
// does /readyz answer 200.
//
// Environment: ATTACK_SECONDS (default 60), ATTACK_CONNECTIONS (default 1000), ATTACK_ONLY (some of
// slowloris,slow-body,slow-read,range), ATTACK_PROTOCOLS (http,https), BENCH_KEEP_TMP=1 (keep configs and logs).
// Writes bench/results/attacks.json. Exit code 1 only when a row could not be run; missed goals are
// reported, not turned into a failure.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { percentile } from "./measure.js";
import { runPaced, type Outcome } from "./paced.js";
import { LOAD_CPU, PROXY_CPU, installCleanup, interrupted, launch, pinSelf, pinning, sleep, runMain, stop, stopAll, which, type Managed } from "./processes.js";
import { printRatios, printRows, verdict, type Ratio, writeResults } from "./report.js";
import { envInt } from "./settings.js";
import { fetchText, metricSum } from "./scenario.js";
import { rampartPorts, repoRoot, snapshotRampart, startAppBackend, startRampart, type AppBackend, type Rampart } from "./targets.js";

const LEGIT_ADDRESS = "127.0.0.2";
const LEGIT_RPS = 5;
const LEGIT_TIMEOUT_MS = 5_000;
const LEGIT_PATH = "/small";
const LEGIT_GOAL_PCT = 99;
const RECOVERY_MS = 5_000;
/** Rampart's default keepAlive.maxFreeSockets: idle pooled connections the pool may keep. */
const POOL_IDLE_MAX = 64;
const BIG_PATH = `/bytes/${1_048_576}`;

interface Attack {
  readonly key: "slowloris" | "slow-body" | "slow-read" | "range";
  readonly title: string;
  readonly path: string;
  readonly args: readonly string[];
}

const ATTACKS: readonly Attack[] = [
  // Unfinished headers: a 24-byte follow-up header line every 10 s.
  { key: "slowloris", title: "slowloris (-H)", path: LEGIT_PATH, args: ["-H", "-t", "GET", "-i", "10", "-x", "24"] },
  // Content-Length 8192, the body sent ≤ 10 bytes every 10 s.
  { key: "slow-body", title: "slow body (-B)", path: "/upload", args: ["-B", "-t", "POST", "-s", "8192", "-i", "10", "-x", "10"] },
  // 1 MiB answers, 3 pipelined per connection, read 32 bytes every 5 s through a 512–1024 byte window.
  { key: "slow-read", title: "slow read (-X, 1 MiB)", path: BIG_PATH, args: ["-X", "-w", "512", "-y", "1024", "-n", "5", "-z", "32", "-k", "3"] },
  // Range: bytes=0-,5-0,5-1,…,5-2999 (the "Apache killer" header) on HEAD of the 1 MiB path.
  { key: "range", title: "range header (-R)", path: BIG_PATH, args: ["-R", "-t", "HEAD", "-a", "5", "-b", "3000"] },
];
const PROTOCOLS = ["http", "https"] as const;
type Protocol = (typeof PROTOCOLS)[number];

function envList<T extends string>(name: string, all: readonly T[]): T[] {
  const text = process.env[name];
  if (text === undefined || text.trim() === "") return [...all];
  const names = text.split(",").map((item) => item.trim()).filter((item) => item !== "");
  const unknown = names.filter((item) => !(all as readonly string[]).includes(item));
  if (unknown.length > 0) throw new Error(`${name}: unknown ${unknown.join(", ")}; expected some of ${all.join(",")}`);
  return all.filter((item) => names.includes(item));
}

/** Whether this machine lets a socket bind 127.0.0.2 (all of 127/8 is loopback on Linux). */
function canBind(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(0, address, () => server.close(() => resolve(true)));
  });
}

interface SlowhttptestSummary {
  /** Highest "connected" count in its status lines (connections open at once). */
  readonly maxConnected: number | null;
  /** Its last "closed" and "error" counts: connections the server closed, connections that failed. */
  readonly closed: number | null;
  readonly errors: number | null;
  /** Its last "service available" verdict (its probe connects from 127.0.0.1, the attacker's address). */
  readonly serviceAvailable: string | null;
  readonly exitStatus: string | null;
}

function parseSlowhttptest(file: string): SlowhttptestSummary {
  let text = "";
  try {
    // Colours and cursor movements out.
    // eslint-disable-next-line no-control-regex -- ESC is what the terminal codes start with
    text = readFileSync(file, "utf8").replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
  } catch {
    return { maxConnected: null, closed: null, errors: null, serviceAvailable: null, exitStatus: null };
  }
  const connected = [...text.matchAll(/^connected:\s+(\d+)/gm)].map((match) => Number(match[1]));
  const available = [...text.matchAll(/^service available:\s+(\S+)/gm)].map((match) => match[1]!);
  const last = (label: string) => {
    const values = [...text.matchAll(new RegExp(`^${label}:\\s+(\\d+)`, "gm"))].map((match) => Number(match[1]));
    return values.at(-1) ?? null;
  };
  return {
    maxConnected: connected.length > 0 ? Math.max(...connected) : null,
    closed: last("closed"),
    errors: last("error"),
    serviceAvailable: available.at(-1) ?? null,
    exitStatus: /Exit status:\s*(.+)/.exec(text)?.[1]?.trim() ?? null,
  };
}

interface GatewayReading {
  readonly inFlight: number | null;
  readonly backendOpen: number | null;
  readonly backendBusy: number | null;
  /** Rampart's upstream sockets (to the backend's port) with bytes in their receive queue: response data it has not read. */
  readonly unread: number | null;
}

/**
 * Rampart's established connections to `port` on loopback and how many hold unread bytes, from
 * /proc/net/tcp (rx_queue of the connecting side); null without /proc.
 */
function upstreamQueues(port: number): { readonly open: number; readonly unread: number } | null {
  let text: string;
  try {
    text = readFileSync("/proc/net/tcp", "utf8");
  } catch {
    return null;
  }
  let open = 0;
  let unread = 0;
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    const remote = fields[2];
    const queues = fields[4];
    if (remote === undefined || queues === undefined || fields[3] !== "01") continue; // 01: ESTABLISHED
    if (Number.parseInt(remote.split(":")[1] ?? "", 16) !== port) continue;
    open++;
    if (Number.parseInt(queues.split(":")[1] ?? "0", 16) > 0) unread++;
  }
  return { open, unread };
}

async function read(rampart: Rampart, backend: AppBackend): Promise<GatewayReading> {
  const [metrics, stats] = await Promise.allSettled([fetchText(`${rampart.adminUrl}/metrics`, 2_000), fetchText(backend.statsUrl, 2_000)]);
  const inFlight = metrics.status === "fulfilled" ? (metricSum(metrics.value, "rampart_requests_in_flight") ?? 0) : null;
  let backendOpen: number | null = null;
  let backendBusy: number | null = null;
  if (stats.status === "fulfilled") {
    const parsed = JSON.parse(stats.value) as { open: number; busy: number };
    backendOpen = parsed.open;
    backendBusy = parsed.busy;
  }
  return { inFlight, backendOpen, backendBusy, unread: upstreamQueues(backend.port)?.unread ?? null };
}

async function readyStatus(rampart: Rampart): Promise<number | string> {
  try {
    const response = await fetch(`${rampart.adminUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
    await response.text();
    return response.status;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

interface Row {
  readonly attack: Attack["key"];
  readonly title: string;
  readonly protocol: Protocol;
  readonly attackSeconds: number;
  readonly slowhttptest: SlowhttptestSummary & { readonly ranSeconds: number };
  readonly legit: { readonly ok: number; readonly total: number; readonly okPct: number; readonly p50Ms: number | null; readonly p99Ms: number | null; readonly failures: Readonly<Record<string, number>> };
  /** Highest readings while the attack ran (sampled every second). */
  readonly peak: { readonly inFlight: number | null; readonly backendOpen: number | null };
  /** When in-flight first read 0 after the attack stopped (ms), or null if it did not within 5 s. */
  readonly inFlightZeroAfterMs: number | null;
  /** Readings 5 s after the attack stopped. */
  readonly after: GatewayReading;
  readonly readyz: number | string;
}

function maxOf(current: number | null, value: number | null): number | null {
  if (value === null) return current;
  return current === null ? value : Math.max(current, value);
}

async function runRow(dir: string, slowhttptest: string, attack: Attack, protocol: Protocol, seconds: number, connections: number): Promise<Row> {
  const name = `${attack.key}-${protocol}`;
  const backend = await startAppBackend(dir, `backend-${name}`);
  const rampart = await startRampart(dir, {
    name: `rampart-${name}`,
    ports: await rampartPorts(),
    targets: [backend.url],
    edgeGuards: false,
    logLevel: "warn",
    accessLog: false,
  });
  const base = (protocol === "https" ? rampart.httpsUrl : rampart.httpUrl).replace(/\/$/, "");
  const log = path.join(dir, `slowhttptest-${name}.log`);
  console.log(`\n--- ${attack.title} over ${protocol.toUpperCase()}: ${connections} connections for ${seconds} s against ${base}${attack.path} ---`);
  const attackStarted = Date.now();
  const attacker: Managed = await launch({
    name: `slowhttptest ${name}`,
    command: slowhttptest,
    args: [...attack.args, "-c", String(connections), "-r", "200", "-l", String(seconds), "-p", "3", "-u", `${base}${attack.path}`],
    cpu: LOAD_CPU,
    stdoutFile: log,
    stderrFile: log,
  });
  // Let the attack ramp up for a moment (200 connections/s) before the legitimate client starts.
  let peakInFlight: number | null = null;
  let peakOpen: number | null = null;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const reading = await read(rampart, backend).catch(() => undefined);
      if (reading !== undefined) {
        peakInFlight = maxOf(peakInFlight, reading.inFlight);
        peakOpen = maxOf(peakOpen, reading.backendOpen);
      }
      await sleep(1_000);
    }
  })();
  let outcomes: Outcome[];
  try {
    outcomes = await runPaced({
      baseUrl: base,
      rps: LEGIT_RPS,
      seconds,
      timeoutMs: LEGIT_TIMEOUT_MS,
      maxOutstanding: LEGIT_RPS * 10,
      agent: false,
      localAddress: LEGIT_ADDRESS,
      next: () => ({ kind: "legit", method: "GET", path: LEGIT_PATH, expect: [200] }),
    });
    // slowhttptest stops itself after -l seconds (plus its last status line); this is the backstop.
    const backstop = Math.max(0, attackStarted + (seconds + 15) * 1_000 - Date.now());
    await Promise.race([attacker.exit, sleep(backstop)]);
    if (!attacker.exited) {
      console.log(`  slowhttptest still running ${seconds + 15} s after it started: stopping it`);
      await stop(attacker);
    }
  } finally {
    sampling = false;
    await sampler;
  }
  const stoppedAt = Date.now();
  const ranSeconds = (stoppedAt - attackStarted) / 1_000;

  // Recovery: every 250 ms for 5 s.
  let zeroAfter: number | null = null;
  let after: GatewayReading = { inFlight: null, backendOpen: null, backendBusy: null, unread: null };
  while (Date.now() - stoppedAt < RECOVERY_MS) {
    after = await read(rampart, backend).catch(() => after);
    if (zeroAfter === null && after.inFlight === 0) zeroAfter = Date.now() - stoppedAt;
    await sleep(250);
  }
  after = await read(rampart, backend).catch(() => after);
  if (zeroAfter === null && after.inFlight === 0) zeroAfter = Date.now() - stoppedAt;
  const readyz = await readyStatus(rampart);

  const ok = outcomes.filter((outcome) => outcome.ok);
  const failures: Record<string, number> = {};
  for (const outcome of outcomes) if (!outcome.ok) failures[outcome.cause] = (failures[outcome.cause] ?? 0) + 1;
  const latencies = ok.map((outcome) => outcome.ms);
  const row: Row = {
    attack: attack.key,
    title: attack.title,
    protocol,
    attackSeconds: seconds,
    slowhttptest: { ...parseSlowhttptest(log), ranSeconds },
    legit: {
      ok: ok.length,
      total: outcomes.length,
      okPct: outcomes.length > 0 ? (ok.length / outcomes.length) * 100 : 0,
      p50Ms: latencies.length > 0 ? percentile(latencies, 50) : null,
      p99Ms: latencies.length > 0 ? percentile(latencies, 99) : null,
      failures,
    },
    peak: { inFlight: peakInFlight, backendOpen: peakOpen },
    inFlightZeroAfterMs: zeroAfter,
    after,
    readyz,
  };
  const failureText = Object.entries(failures).map(([cause, count]) => `${count} × ${cause}`).join(", ");
  console.log(
    `  slowhttptest: up to ${row.slowhttptest.maxConnected ?? "?"} connected at once, ${row.slowhttptest.closed ?? "?"} closed by the server, ${row.slowhttptest.errors ?? "?"} errors; ran ${ranSeconds.toFixed(0)} s, exit: ${row.slowhttptest.exitStatus ?? "?"}, ` +
      `its probe (from 127.0.0.1) last saw the service available: ${row.slowhttptest.serviceAvailable ?? "?"}`,
  );
  console.log(
    `  legitimate client (${LEGIT_ADDRESS}): ${row.legit.ok}/${row.legit.total} ok (${row.legit.okPct.toFixed(1)}%), ` +
      `p50 ${row.legit.p50Ms?.toFixed(1) ?? "n/a"} ms, p99 ${row.legit.p99Ms?.toFixed(1) ?? "n/a"} ms` +
      (failureText === "" ? "" : `; failed: ${failureText}`),
  );
  console.log(
    `  during the attack: in-flight up to ${peakInFlight ?? "?"}, backend sockets up to ${peakOpen ?? "?"}; ` +
      `${RECOVERY_MS / 1_000} s after it stopped: in-flight ${after.inFlight ?? "?"}` +
      (zeroAfter === null ? " (never 0)" : ` (0 after ${zeroAfter} ms)`) +
      `, backend sockets open ${after.backendOpen ?? "?"} (${after.unread ?? "?"} with response bytes Rampart has not read; ${after.backendBusy ?? "?"} still being answered), /readyz ${readyz}`,
  );
  await stop(rampart.process);
  await stop(backend.process);
  return row;
}

function goals(row: Row): Ratio[] {
  const label = `${row.attack} ${row.protocol}`;
  return [
    {
      name: `${label}: legitimate requests ok`,
      value: Number(row.legit.okPct.toFixed(1)),
      unit: "%",
      goal: { min: LEGIT_GOAL_PCT },
      note: `${row.legit.ok}/${row.legit.total} from ${LEGIT_ADDRESS}; p99 ${row.legit.p99Ms?.toFixed(1) ?? "n/a"} ms`,
    },
    {
      name: `${label}: in-flight ${RECOVERY_MS / 1_000} s after`,
      value: row.after.inFlight,
      unit: "requests",
      goal: { max: 0 },
      note: row.inFlightZeroAfterMs === null ? "never back to 0" : `0 after ${row.inFlightZeroAfterMs} ms`,
    },
    {
      name: `${label}: upstream sockets with unread bytes ${RECOVERY_MS / 1_000} s after`,
      value: row.after.unread,
      unit: "sockets",
      goal: { max: 0 },
      note: `response bytes waiting in Rampart's receive queue (/proc/net/tcp); the backend was still answering on ${row.after.backendBusy ?? "?"}`,
    },
    {
      name: `${label}: open upstream sockets ${RECOVERY_MS / 1_000} s after`,
      value: row.after.backendOpen,
      unit: "sockets",
      goal: { max: POOL_IDLE_MAX },
      note: `at most an idle keep-alive pool (maxFreeSockets ${POOL_IDLE_MAX}); peak during the attack ${row.peak.backendOpen ?? "?"}`,
    },
    {
      name: `${label}: /readyz after recovery`,
      value: typeof row.readyz === "number" ? row.readyz : null,
      unit: "status",
      goal: { min: 200, max: 200 },
      note: typeof row.readyz === "number" ? "" : String(row.readyz),
    },
  ];
}

function printSummary(rows: readonly Row[]): void {
  const header = ["attack", "proto", "attacker open max/closed", "legit ok/total", `goal ≥${LEGIT_GOAL_PCT}%`, "p99 ms", "in-flight peak→5 s", "goal 0", "upstream open (unread) 5 s", `goal unread 0, open ≤${POOL_IDLE_MAX}`, "/readyz", "goal 200"];
  const met = (ok: boolean | null) => (ok === null ? "n/a" : ok ? "met" : "NOT MET");
  const body = rows.map((row) => {
    const upstreamOk = row.after.unread === null || row.after.backendOpen === null ? null : row.after.unread === 0 && row.after.backendOpen <= POOL_IDLE_MAX;
    return [
      row.title,
      row.protocol,
      `${row.slowhttptest.maxConnected ?? "?"}/${row.slowhttptest.closed ?? "?"}`,
      `${row.legit.ok}/${row.legit.total} (${row.legit.okPct.toFixed(1)}%)`,
      met(row.legit.total > 0 ? row.legit.okPct >= LEGIT_GOAL_PCT : null),
      row.legit.p99Ms === null ? "n/a" : row.legit.p99Ms.toFixed(1),
      `${row.peak.inFlight ?? "?"} → ${row.after.inFlight ?? "?"}`,
      met(row.after.inFlight === null ? null : row.after.inFlight === 0),
      `${row.after.backendOpen ?? "?"} (${row.after.unread ?? "?"})`,
      met(upstreamOk),
      String(row.readyz),
      met(typeof row.readyz === "number" ? row.readyz === 200 : false),
    ];
  });
  printRows(header, body, [0, 1]);
}

async function main(): Promise<number> {
  installCleanup();
  const slowhttptest = which("slowhttptest");
  if (slowhttptest === undefined) {
    console.error("slowhttptest is not installed. On Debian/Ubuntu: sudo apt-get install -y slowhttptest (then run npm run bench:attacks again).");
    return 2;
  }
  if (!(await canBind(LEGIT_ADDRESS))) {
    console.error(`cannot bind ${LEGIT_ADDRESS}: the legitimate client needs a second loopback address (on Linux all of 127.0.0.0/8 is loopback)`);
    return 2;
  }
  pinSelf(LOAD_CPU);
  const seconds = envInt("ATTACK_SECONDS", 60, 5, 3_600);
  const connections = envInt("ATTACK_CONNECTIONS", 1_000, 1, 20_000);
  const attacks = envList("ATTACK_ONLY", ATTACKS.map((attack) => attack.key)).map((key) => ATTACKS.find((attack) => attack.key === key)!);
  const protocols = envList("ATTACK_PROTOCOLS", PROTOCOLS);
  snapshotRampart();
  const dir = mkdtempSync(path.join(os.tmpdir(), "rampart-attacks-"));
  process.on("exit", () => {
    if (process.env.BENCH_KEEP_TMP === "1") console.log(`temp dir kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });
  const rowsPlanned = attacks.length * protocols.length;
  console.log(
    `rampart attacks: ${attacks.map((attack) => attack.key).join(", ")} over ${protocols.join(" and ")}; ${connections} attacker connections from 127.0.0.1 for ${seconds} s each; ` +
      `legitimate client ${LEGIT_RPS} req/s from ${LEGIT_ADDRESS} (GET ${LEGIT_PATH}, ${LEGIT_TIMEOUT_MS / 1_000} s timeout); ` +
      `about ${Math.ceil((rowsPlanned * (seconds + RECOVERY_MS / 1_000 + 5)) / 60)} min; ` +
      (pinning ? `Rampart on CPU ${PROXY_CPU}, slowhttptest + backend + client on CPU ${LOAD_CPU}` : "no CPU pinning"),
  );

  const rows: Row[] = [];
  const errors: Record<string, string> = {};
  for (const attack of attacks) {
    for (const protocol of protocols) {
      try {
        rows.push(await runRow(dir, slowhttptest, attack, protocol, seconds, connections));
      } catch (error) {
        errors[`${attack.key}-${protocol}`] = error instanceof Error ? error.message : String(error);
        if (!interrupted) console.error(`\n${attack.key} over ${protocol} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      } finally {
        // Each row starts from nothing: no process of the previous one keeps running.
        await stopAll();
      }
      if (interrupted) return 130;
    }
  }

  console.log(`\n=== slow-client attacks: ${connections} connections, ${seconds} s each; recovery read ${RECOVERY_MS / 1_000} s after each attack stopped ===`);
  printSummary(rows);
  const allGoals = rows.flatMap(goals);
  printRatios("=== goals ===", allGoals, { name: "figure", note: "detail" });
  const failed = Object.keys(errors);
  if (failed.length > 0) console.log(`\nFAILED rows: ${failed.join(", ")} (see above)`);

  writeResults(repoRoot, "attacks.json", {
        date: new Date().toISOString(),
        node: process.version,
        settings: { seconds, connections, legitRps: LEGIT_RPS, legitTimeoutMs: LEGIT_TIMEOUT_MS, recoveryMs: RECOVERY_MS },
        rows,
        goals: allGoals.map((entry) => ({ ...entry, verdict: verdict(entry) || null })),
        errors,
      });
  return failed.length > 0 ? 1 : 0;
}

runMain(main);

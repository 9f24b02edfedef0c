// `npm run bench:instructions`: CPU instructions per request under valgrind's callgrind, for bare
// http-proxy-3, bare node:http and for Rampart (no guards; every guard; a 429; a 404; a 95/5 split with sticky cookies;
// `fault` at 0%), in one run. Time per request on a
// shared 2-core VM moves by 20% between runs; an instruction count moves far less, so this is the
// figure a change to the hot path is judged by.
//
// Each target runs under `valgrind --tool=callgrind` on loopback with a node backend. After WARMUP
// requests (JIT settled), the counters are zeroed (callgrind_control --zero), REQUESTS more are sent
// by INSTR_CLIENTS keep-alive clients, and the counters dumped: instructions ÷ REQUESTS is the
// marginal cost of one request, background timers included.
//
// Environment: INSTR_REQUESTS (default 3000), INSTR_WARMUP (default 15000), INSTR_CLIENTS (default 1),
// INSTR_ONLY (some of bare-node,bare-answer,no-guards,guards,429,404,403,fresh,closed-at-accept,split,fault), INSTR_RECORD=1 (write this run's ratios to
// bench/instructions-baseline.json), INSTR_CHECK=1 (exit 1 when a ratio to bare http-proxy-3 is more
// than 5% above that baseline). Needs Debian's `valgrind`.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { LOAD_CPU, PROXY_CPU, freePort, installCleanup, launch, pinSelf, runMain, stop, stopAll, waitForHttp, which, type Managed } from "./processes.js";
import { BREAKER, rampartConfig, type RampartOptions } from "./rampart-config.js";
import { writeResults } from "./report.js";
import { rampartCliPath, repoRoot, snapshotRampart, startBackends } from "./targets.js";

const REQUESTS = Number(process.env.INSTR_REQUESTS ?? 3_000);
/**
 * 15,000: V8 keeps optimising for thousands of requests. With 2,000 the optimizing compiler's own work was
 * 42–49% of the measured instructions and moved with how much code a configuration runs; with 15,000,
 * 29–38%, and every count fell by a fifth. The compiler's share is reported beside each count.
 */
const WARMUP = Number(process.env.INSTR_WARMUP ?? 15_000);
/**
 * One request at a time by default: each then costs one full event-loop turn in the proxy, the same in
 * every run. With several clients, how many requests share a turn depends on timing, and the count per
 * request moved by 10% between runs of the same build.
 */
const CLIENTS = Number(process.env.INSTR_CLIENTS ?? 1);
/**
 * V8's --predictable runs the compiler and the garbage collector on the main thread, in a fixed order:
 * without it the same build measured twice differed by 5% (concurrent optimisation and marking land in
 * the window or not); with it, repeat runs agree closely. Absolute counts then include the GC work the
 * helper threads would do, which is the cost a request causes anyway.
 */
const NODE_FLAGS = process.env.INSTR_PREDICTABLE === "0" ? [] : ["--predictable"];
const TOLERANCE = 0.05;
/** Every guard the issue names: ban check (denylist), rate limit, jail, breaker with health checks. */
const ALL_GUARDS = { edgeGuards: true, circuitBreaker: BREAKER, healthCheck: "{ path: /, interval: 1s }" } as const;

interface Configuration {
  readonly key: string;
  readonly name: string;
  readonly options: Omit<RampartOptions, "name" | "ports" | "targets">;
  readonly path: string;
  readonly status: number;
  /** A second service `canary` on the same backend, with the same keys as `backend` (for a split). */
  readonly canary?: boolean;
  /** How the client asks (default: keep-alive GETs from 127.0.0.1). */
  readonly client?: Client;
}

/** Request headers; a new connection per request; or connections from a denylisted address that the gate closes at accept. */
interface Client {
  readonly headers?: Readonly<Record<string, string>>;
  readonly fresh?: boolean;
  readonly closedAtAccept?: { readonly localAddress: string };
}

/** A client address on the denylist, for the closed-at-accept case. */
const DENIED_CLIENT = "127.0.0.2";

const CONFIGURATIONS: readonly Configuration[] = [
  { key: "no-guards", name: "rampart, no guards", options: { edgeGuards: false }, path: "/", status: 200 },
  { key: "guards", name: "rampart, every guard (memory)", options: ALL_GUARDS, path: "/", status: 200 },
  // Rejections, on the all-guards configuration: each should cost a fraction of a proxied request.
  {
    key: "429",
    name: "rampart, 429 over a limit",
    options: { ...ALL_GUARDS, rateLimits: { tight: "{ limit: 1, window: 1h, key: ip }" }, routes: [{ name: "limited", pathPrefix: "/", rateLimit: "tight" }] },
    path: "/",
    status: 429,
  },
  { key: "404", name: "rampart, 404 no route", options: { ...ALL_GUARDS, routes: [{ name: "app", pathPrefix: "/app" }] }, path: "/elsewhere", status: 404 },
  // Issue 13, on the all-guards configuration. The client sends no cookie back: every request is a new
  // pick and a Set-Cookie, the worst case for sticky cookies. Both sides are the one backend.
  {
    key: "split",
    name: "rampart, split 95/5 sticky cookie",
    options: { ...ALL_GUARDS, routes: [{ name: "all", pathPrefix: "/", split: { services: { backend: 95, canary: 5 }, sticky: "cookie" } }] },
    path: "/",
    status: 200,
    canary: true,
  },
  // The issue's 403: a denylisted client named by a trusted proxy's X-Forwarded-For (the connection stays open).
  {
    key: "403",
    name: "rampart, 403 denied via a trusted proxy",
    options: { ...ALL_GUARDS, trustedProxies: ["127.0.0.1/32"] },
    path: "/",
    status: 403,
    client: { headers: { "x-forwarded-for": "203.0.113.7" } },
  },
  // A banned address closed at accept, against a proxied request on a fresh connection (every guard on).
  { key: "fresh", name: "rampart, new connection per request", options: ALL_GUARDS, path: "/", status: 200, client: { fresh: true } },
  {
    key: "closed-at-accept",
    name: "rampart, denylisted, closed at accept",
    options: { ...ALL_GUARDS, denylist: ["203.0.113.0/24", `${DENIED_CLIENT}/32`] },
    path: "/",
    status: 0,
    client: { closedAtAccept: { localAddress: DENIED_CLIENT } },
  },
  {
    key: "fault",
    name: "rampart, fault at 0%",
    options: { ...ALL_GUARDS, routes: [{ name: "all", pathPrefix: "/", fault: "{ delay: { percent: 0, duration: 200ms }, abort: { percent: 0, status: 503 } }" }] },
    path: "/",
    status: 200,
  },
];

/** INSTR_ONLY=bare-node,bare-answer,no-guards,guards,429,404,403,fresh,closed-at-accept,split,fault: measure only these (bare http-proxy-3 always runs). */
const ONLY = (process.env.INSTR_ONLY ?? ["bare-node", "bare-answer", ...CONFIGURATIONS.map((each) => each.key)].join(",")).split(",");
const here = path.dirname(new URL(import.meta.url).pathname);
const baselineFile = path.join(repoRoot, "bench", "instructions-baseline.json");

interface Measured {
  readonly name: string;
  /** Main thread: what the ratios and the CI check use. */
  readonly perRequest: number;
  readonly allThreads: number;
  /** Main thread, without the instructions of V8's optimizing compiler (TurboFan/Maglev functions). */
  readonly executing: number;
}

/**
 * `count` GETs over CLIENTS keep-alive connections (or a new connection each, `fresh`); rejects on any
 * other status than `status` (when given). `closedAtAccept`: connections that must be closed unanswered.
 */
async function drive(url: string, count: number, status?: number, options: Client = {}): Promise<void> {
  if (options.closedAtAccept !== undefined) return knock(url, count, options.closedAtAccept.localAddress);
  const agent = new http.Agent({ keepAlive: options.fresh !== true, maxSockets: CLIENTS });
  let next = 0;
  const client = async () => {
    while (next < count) {
      next++;
      await new Promise<void>((resolve, reject) => {
        http
          .get(url, { agent, headers: options.headers }, (res) => {
            res.resume();
            res.on("end", () => (status === undefined || res.statusCode === status ? resolve() : reject(new Error(`${url}: status ${res.statusCode}, expected ${status}`))));
          })
          .on("error", reject);
      });
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  agent.destroy();
}

/** `count` connections from `localAddress`, one at a time, each sending a GET and waiting for the close. */
async function knock(url: string, count: number, localAddress: string): Promise<void> {
  const { hostname, port } = new URL(url);
  for (let index = 0; index < count; index++) {
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host: hostname, port: Number(port), localAddress });
      let answered = false;
      socket.on("connect", () => socket.write("GET / HTTP/1.1\r\nHost: bench\r\n\r\n"));
      socket.on("data", () => (answered = true));
      // A reset or a write after the close is the refusal itself.
      socket.on("error", () => {});
      socket.on("close", () => (answered ? reject(new Error(`${localAddress} was answered: not closed at accept`)) : resolve()));
    });
  }
}

function callgrindControl(args: readonly string[]): void {
  execFileSync("callgrind_control", args, { stdio: "ignore", timeout: 60_000 });
}

/**
 * Instructions in the newest dump callgrind wrote for `pid` in `dir`: the main thread (the event loop,
 * where a request's own work runs) and all threads (adding V8's concurrent GC and compiler threads and
 * libuv's pool, whose share varies from run to run with when the JIT happens to optimise).
 */
function dumpedInstructions(dir: string, pid: number): { readonly main: number; readonly all: number; readonly compiler: number } {
  // With --separate-threads=yes: callgrind.PID.N-TT for dump N of thread TT (01 is the main thread).
  const dumps = readdirSync(dir)
    .map((file) => /^callgrind\.(\d+)\.(\d+)-(\d+)$/.exec(file))
    .filter((match): match is RegExpExecArray => match !== null && Number(match[1]) === pid);
  const newest = Math.max(...dumps.map((match) => Number(match[2])));
  if (!Number.isFinite(newest)) throw new Error(`no callgrind dump for ${pid} in ${dir}`);
  let main = 0;
  let all = 0;
  let compiler = 0;
  for (const match of dumps.filter((each) => Number(each[2]) === newest)) {
    const summary = /^summary: (\d+)/m.exec(readFileSync(path.join(dir, match[0]), "utf8"));
    if (summary === null) throw new Error(`no summary line in ${match[0]}`);
    all += Number(summary[1]);
    if (Number(match[3]) === 1) {
      main = Number(summary[1]);
      compiler = compilerInstructions(path.join(dir, match[0]));
    }
  }
  return { main, all, compiler };
}

/** The self cost of V8's optimizing compilers' functions in one dump (--predictable runs them on the main thread). */
function compilerInstructions(file: string): number {
  const listing = execFileSync("callgrind_annotate", ["--threshold=100", file], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
  let total = 0;
  for (const line of listing.split("\n")) {
    const match = /^\s*([\d,]+) \([ \d.]+%\)\s+(.*)$/.exec(line);
    if (match !== null && /v8::internal::(compiler|maglev|turboshaft)::/.test(match[2]!)) total += Number(match[1]!.replaceAll(",", ""));
  }
  return total;
}

interface Load {
  /** Answers 200 once the target is up. */
  readonly readyUrl: string;
  readonly url: string;
  readonly status: number;
  readonly client?: Client;
}

async function measure(name: string, dir: string, load: Load, script: string, args: readonly string[]): Promise<Measured> {
  const { readyUrl, url, status, client } = load;
  const out = path.join(dir, name.replace(/[^a-z0-9]+/gi, "-"));
  mkdirSync(out);
  const managed: Managed = await launch({
    name,
    command: "valgrind",
    args: ["--tool=callgrind", `--callgrind-out-file=${path.join(out, "callgrind.%p")}`, "--dump-instr=no", "--separate-threads=yes", process.execPath, ...NODE_FLAGS, script, ...args],
    cpu: PROXY_CPU,
    cwd: repoRoot,
    stdoutFile: path.join(out, "stdout.log"),
    stderrFile: path.join(out, "stderr.log"),
  });
  try {
    await waitForHttp(readyUrl, managed, 180_000);
    // The 429 case's one allowed request goes first, whatever it answers.
    await drive(url, 1, undefined, client);
    await drive(url, WARMUP, status, client);
    callgrindControl(["--zero", String(managed.pid)]);
    await drive(url, REQUESTS, status, client);
    callgrindControl(["--dump", String(managed.pid)]);
    const counted = dumpedInstructions(out, managed.pid);
    const perRequest = counted.main / REQUESTS;
    const allThreads = counted.all / REQUESTS;
    const executing = (counted.main - counted.compiler) / REQUESTS;
    const show = (value: number) => Math.round(value).toLocaleString("en").padStart(10);
    const compilerShare = ((100 * (perRequest - executing)) / perRequest).toFixed(0);
    console.log(`${name.padEnd(28)} ${show(perRequest)} instructions per request on the main thread (${show(allThreads)} with every thread; ${show(executing)} without the optimizing compiler's ${compilerShare}%)`);
    return { name, perRequest, allThreads, executing };
  } finally {
    await stop(managed, 10_000);
  }
}

async function main(): Promise<number> {
  if (which("valgrind") === undefined || which("callgrind_control") === undefined) {
    console.error("bench:instructions needs valgrind (apt-get install -y valgrind)");
    return 1;
  }
  installCleanup();
  pinSelf(LOAD_CPU);
  snapshotRampart();
  const dir = mkdtempSync(path.join(os.tmpdir(), "rampart-instr-"));
  try {
    const backends = await startBackends(dir, [await freePort()], { node: true });
    const backendUrl = backends.urls[0]!;
    const results: Measured[] = [];
    const barePort = await freePort();
    const bareUrl = `http://127.0.0.1:${barePort}/`;
    results.push(await measure("bare http-proxy-3", dir, { readyUrl: bareUrl, url: bareUrl, status: 200 }, path.join(here, "bare-proxy.js"), [String(barePort), backendUrl.replace(/\/$/, "")]));
    // The floor under every Node proxy: http.request and pipe with the same agent, no library.
    if (ONLY.includes("bare-node")) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/`;
      results.push(await measure("bare node:http", dir, { readyUrl: url, url, status: 200 }, path.join(here, "bare-proxy.js"), [String(port), backendUrl.replace(/\/$/, ""), "node"]));
    }
    // And under every rejection: a Node server answering Rampart's 429 by itself, no gateway.
    if (ONLY.includes("bare-answer")) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/`;
      results.push(await measure("bare node:http, a 429 answer", dir, { readyUrl: `${url}ready`, url, status: 429 }, path.join(here, "bare-proxy.js"), [String(port), backendUrl.replace(/\/$/, ""), "answer"]));
    }
    for (const configuration of CONFIGURATIONS.filter((each) => ONLY.includes(each.key))) {
      const ports = { http: await freePort(), https: await freePort(), admin: await freePort() };
      const canary = configuration.canary === true ? { services: { canary: { targets: [backendUrl], circuitBreaker: ALL_GUARDS.circuitBreaker, healthCheck: ALL_GUARDS.healthCheck } } } : {};
      const options: RampartOptions = { ...configuration.options, ...canary, name: configuration.key, ports, targets: [backendUrl], logLevel: "warn" };
      const configFile = path.join(dir, `${options.name}.yaml`);
      writeFileSync(configFile, rampartConfig(dir, options));
      const load = { readyUrl: `http://127.0.0.1:${ports.admin}/healthz`, url: `http://127.0.0.1:${ports.http}${configuration.path}`, status: configuration.status, client: configuration.client };
      results.push(await measure(configuration.name, dir, load, rampartCliPath(), ["start", "-c", configFile]));
    }
    for (const backend of backends.processes) await stop(backend);
    return report(results);
  } finally {
    await stopAll();
    if (process.env.BENCH_KEEP_TMP !== "1") rmSync(dir, { recursive: true, force: true });
  }
}

/** Prints the ratios; 1 when INSTR_CHECK finds a regression. */
function report(results: readonly Measured[]): number {
  const bare = results[0]!.perRequest;
  const ratios: Record<string, number> = {};
  for (const result of results.slice(1)) ratios[result.name] = Math.round((result.perRequest / bare) * 1000) / 1000;
  const bareExecuting = results[0]!.executing;
  const goals: Record<string, number> = { "rampart, no guards": 1.05, "rampart, every guard (memory)": 1.1 };
  console.log("\nratio to bare http-proxy-3 (instructions per request):");
  for (const [name, value] of Object.entries(ratios)) {
    const goal = goals[name];
    console.log(`  ${name.padEnd(32)} ${value.toFixed(3)}${goal === undefined ? "" : `  goal ≤ ${goal}: ${value <= goal ? "met" : "missed"}`}`);
  }
  // The same without the optimizing compiler's work: what a request costs once the JIT has settled.
  console.log("\nthe same without V8's optimizing compiler (TurboFan's own functions):");
  for (const result of results.slice(1)) console.log(`  ${result.name.padEnd(32)} ${(result.executing / bareExecuting).toFixed(3)}`);
  // Rejecting must be cheaper than serving: each answer Rampart gives itself, against a proxied request.
  const proxied = results.find((result) => result.name === "rampart, every guard (memory)")?.perRequest;
  const rejections = results.filter((result) => /^rampart, \d{3} /.test(result.name));
  if (proxied !== undefined && rejections.length > 0) {
    const proxiedExecuting = results.find((result) => result.name === "rampart, every guard (memory)")!.executing;
    console.log("\nrejection ÷ proxied request (every guard on; in brackets without the optimizing compiler):");
    for (const result of rejections) {
      const value = result.perRequest / proxied;
      console.log(`  ${result.name.padEnd(40)} ${value.toFixed(3)} (${(result.executing / proxiedExecuting).toFixed(3)})  goal ≤ 0.35: ${value <= 0.35 ? "met" : "missed"}`);
    }
    // What Node's own HTTP server spends to answer a request, whoever answers: the floor under any rejection.
    const floor = results.find((result) => result.name === "bare node:http, a 429 answer");
    if (floor !== undefined) console.log(`  ${floor.name.padEnd(40)} ${(floor.perRequest / proxied).toFixed(3)} (${(floor.executing / proxiedExecuting).toFixed(3)})  (no gateway: the floor)`);
  }
  const fresh = results.find((result) => result.name === "rampart, new connection per request");
  const closed = results.find((result) => result.name === "rampart, denylisted, closed at accept");
  if (fresh !== undefined && closed !== undefined) {
    const value = closed.perRequest / fresh.perRequest;
    console.log(`\nclosed at accept ÷ proxied request on a new connection: ${value.toFixed(3)} (${(closed.executing / fresh.executing).toFixed(3)})  goal ≤ 0.1: ${value <= 0.1 ? "met" : "missed"}`);
  }
  // Issue 13: a split route and an idle fault stage, against the same configuration with a plain route.
  const releases = [
    { name: "rampart, split 95/5 sticky cookie", goal: 1.03 },
    { name: "rampart, fault at 0%", goal: 1.02 },
  ].flatMap(({ name, goal }) => {
    const found = results.find((result) => result.name === name);
    return found === undefined ? [] : [{ name, goal, found }];
  });
  if (proxied !== undefined && releases.length > 0) {
    console.log("\nroute feature ÷ plain route (every guard on):");
    for (const { name, goal, found } of releases) {
      const value = found.perRequest / proxied;
      console.log(`  ${name.padEnd(32)} ${value.toFixed(3)}  goal ≤ ${goal}: ${value <= goal ? "met" : "missed"}`);
    }
  }
  writeResults(repoRoot, "instructions.json", { requests: REQUESTS, warmup: WARMUP, clients: CLIENTS, results, ratios });
  if (process.env.INSTR_RECORD === "1") {
    writeFileSync(baselineFile, JSON.stringify(ratios, null, 2) + "\n");
    console.log(`recorded as the baseline: ${path.relative(repoRoot, baselineFile)}`);
  }
  if (process.env.INSTR_CHECK === "1") {
    const baseline = JSON.parse(readFileSync(baselineFile, "utf8")) as Record<string, number>;
    const regressions = Object.entries(ratios).filter(([name, value]) => baseline[name] !== undefined && value > baseline[name]! * (1 + TOLERANCE));
    for (const [name, value] of regressions) console.error(`REGRESSION: ${name} ${value.toFixed(3)} > baseline ${baseline[name]!.toFixed(3)} + ${TOLERANCE * 100}%`);
    if (regressions.length > 0) return 1;
  }
  return 0;
}

runMain(main);

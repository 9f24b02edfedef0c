// `npm run bench`: loopback benchmark of (a) the backend directly, (b) bare http-proxy-3 with a keep-alive
// agent, (c) Rampart over plain HTTP with every core guard, metrics and the access log on, (d) the same
// Rampart over HTTPS. Rounds are interleaved (a b c d, a b c d, …); the table shows medians of req/s and
// latency and the lowest CPU time per request of the target's own processes (DESIGN.md Part 3).
//
// Environment: BENCH_DURATION (s, default 5), BENCH_WARMUP (s, default 2), BENCH_ROUNDS (default 3),
// BENCH_CONNECTIONS (default 50), BENCH_GUARDS=off (Rampart without the guards), BENCH_BACKEND=node
// (skip nginx), BENCH_LOADGEN=wrk|autocannon, BENCH_ACCESS_LOG=<file> (default a temp file),
// BENCH_KEEP_TMP=1 (keep the temp dir with configs and logs).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chooseLoadGenerator, type LoadGenerator, type LoadResult } from "./load.js";
import { LOAD_CPU, PROXY_CPU, cpuSeconds, freePort, installCleanup, pinSelf, pinning, stopAll, type Managed } from "./processes.js";
import { repoRoot, startBackend, startBareProxy, startRampart } from "./targets.js";

type TargetKey = "a" | "b" | "c" | "d";

interface Target {
  readonly key: TargetKey;
  readonly label: string;
  readonly url: string;
  /** The process whose CPU time (with its descendants) is charged to this target. */
  readonly process: Managed;
}

interface Sample extends LoadResult {
  readonly round: number;
  /** CPU µs per completed request of the target's processes; null without /proc. */
  readonly cpuUsPerRequest: number | null;
}

interface Summary {
  readonly label: string;
  readonly url: string;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuUsPerRequest: number | null;
  readonly non2xx: number;
  readonly errors: number;
  readonly samples: readonly Sample[];
}

function envNumber(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max) throw new Error(`${name}=${text}: expected a number from ${min} to ${max}`);
  return value;
}

const settings = {
  duration: Math.round(envNumber("BENCH_DURATION", 5, 1, 300)),
  warmup: Math.round(envNumber("BENCH_WARMUP", 2, 0, 60)),
  rounds: Math.round(envNumber("BENCH_ROUNDS", 3, 1, 20)),
  connections: Math.round(envNumber("BENCH_CONNECTIONS", 50, 1, 1_000)),
  guards: process.env.BENCH_GUARDS !== "off",
};

async function measure(load: LoadGenerator, target: Target, round: number): Promise<Sample> {
  if (target.process.exited) throw new Error(`${target.process.name} is no longer running`);
  if (settings.warmup > 0) await load.run(target.url, settings.warmup, settings.connections);
  const before = cpuSeconds(target.process.pid);
  const result = await load.run(target.url, settings.duration, settings.connections);
  const after = cpuSeconds(target.process.pid);
  if (target.process.exited) throw new Error(`${target.process.name} exited during the run`);
  const cpuUsPerRequest = before !== undefined && after !== undefined && result.requests > 0 ? ((after - before) * 1e6) / result.requests : null;
  return { ...result, round, cpuUsPerRequest };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function summarize(target: Target, samples: readonly Sample[]): Summary {
  const cpu = samples.map((s) => s.cpuUsPerRequest).filter((value): value is number => value !== null);
  return {
    label: target.label,
    url: target.url,
    rps: median(samples.map((s) => s.rps)),
    p50Ms: median(samples.map((s) => s.p50Ms)),
    p99Ms: median(samples.map((s) => s.p99Ms)),
    cpuUsPerRequest: cpu.length > 0 ? Math.min(...cpu) : null,
    non2xx: samples.reduce((sum, s) => sum + s.non2xx, 0),
    errors: samples.reduce((sum, s) => sum + s.errors, 0),
    samples,
  };
}

function ratio(numerator: number | null, denominator: number | null): number | null {
  return numerator === null || denominator === null || denominator === 0 ? null : numerator / denominator;
}

const fmt = {
  int: (n: number) => Math.round(n).toLocaleString("en-US"),
  ms: (n: number) => n.toFixed(2),
  us: (n: number | null) => (n === null ? "n/a" : n.toFixed(1)),
  ratio: (n: number | null) => (n === null ? "n/a" : n.toFixed(3)),
};

function printTable(summaries: Readonly<Record<TargetKey, Summary>>): void {
  const header = ["target", "req/s", "p50 ms", "p99 ms", "CPU µs/req"];
  const rows = (Object.keys(summaries) as TargetKey[]).map((key) => {
    const s = summaries[key];
    return [`(${key}) ${s.label}`, fmt.int(s.rps), fmt.ms(s.p50Ms), fmt.ms(s.p99Ms), fmt.us(s.cpuUsPerRequest)];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join(" | ");
  console.log(line(header));
  console.log(widths.map((width) => "-".repeat(width)).join("-|-"));
  for (const row of rows) console.log(line(row));
}

function gitDescription(): string | null {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain"], { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() !== "";
    return dirty ? `${commit}+dirty` : commit;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  installCleanup();
  // The orchestrator (and autocannon, when it is the load generator) shares the load CPU.
  pinSelf(LOAD_CPU);
  const load = chooseLoadGenerator();
  const dir = mkdtempSync(path.join(os.tmpdir(), "rampart-bench-"));
  // On every way out (success, error, SIGINT), after the children are gone.
  process.on("exit", () => {
    if (process.env.BENCH_KEEP_TMP === "1") console.log(`temp dir kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });
  const accessLog = process.env.BENCH_ACCESS_LOG || path.join(dir, "rampart-access.log");
  try {
    const [backendPort, bareProxyPort, httpPort, httpsPort, adminPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const backend = await startBackend(dir, backendPort!);
    const bare = await startBareProxy(dir, bareProxyPort!, backend.url);
    const rampart = await startRampart(dir, { http: httpPort!, https: httpsPort!, admin: adminPort! }, backend.url, settings.guards, accessLog);

    const targets: readonly Target[] = [
      { key: "a", label: `backend (${backend.kind})`, url: backend.url, process: backend.process },
      { key: "b", label: "bare http-proxy-3", url: bare.url, process: bare.process },
      { key: "c", label: `rampart http${settings.guards ? "" : " (guards off)"}`, url: rampart.httpUrl, process: rampart.process },
      { key: "d", label: `rampart https${settings.guards ? "" : " (guards off)"}`, url: rampart.httpsUrl, process: rampart.process },
    ];
    console.log(
      `rampart bench: ${load.name}, ${settings.connections} connections, ${settings.rounds} round(s) × ${settings.duration} s ` +
        `(+${settings.warmup} s warm-up) per target; ` +
        (pinning ? `proxies on CPU ${PROXY_CPU}, load + backend on CPU ${LOAD_CPU}` : "no CPU pinning (taskset or a second CPU missing)"),
    );

    const samples: Record<TargetKey, Sample[]> = { a: [], b: [], c: [], d: [] };
    for (let round = 1; round <= settings.rounds; round++) {
      for (const target of targets) {
        const sample = await measure(load, target, round);
        samples[target.key].push(sample);
        console.log(
          `  round ${round}/${settings.rounds} (${target.key}) ${target.label}: ${fmt.int(sample.rps)} req/s, p50 ${fmt.ms(sample.p50Ms)} ms, ` +
            `p99 ${fmt.ms(sample.p99Ms)} ms, ${fmt.us(sample.cpuUsPerRequest)} CPU µs/req` +
            (sample.non2xx + sample.errors > 0 ? `, ${sample.non2xx} non-2xx, ${sample.errors} errors` : ""),
        );
      }
    }

    const summaries: Record<TargetKey, Summary> = {
      a: summarize(targets[0]!, samples.a),
      b: summarize(targets[1]!, samples.b),
      c: summarize(targets[2]!, samples.c),
      d: summarize(targets[3]!, samples.d),
    };
    const ratios = {
      "b/a req/s": ratio(summaries.b.rps, summaries.a.rps),
      "c/b req/s": ratio(summaries.c.rps, summaries.b.rps),
      "c/b CPU per request": ratio(summaries.c.cpuUsPerRequest, summaries.b.cpuUsPerRequest),
      "d/c req/s": ratio(summaries.d.rps, summaries.c.rps),
      "d/c CPU per request": ratio(summaries.d.cpuUsPerRequest, summaries.c.cpuUsPerRequest),
    };

    console.log("");
    printTable(summaries);
    console.log("");
    console.log(`b/a req/s             ${fmt.ratio(ratios["b/a req/s"])}   (bare proxy ÷ backend)`);
    console.log(`c/b req/s             ${fmt.ratio(ratios["c/b req/s"])}   (goal ≥ 0.9)`);
    console.log(`c/b CPU per request   ${fmt.ratio(ratios["c/b CPU per request"])}   (Rampart ÷ bare http-proxy-3; goal ≤ 1.1)`);
    console.log(`d/c req/s             ${fmt.ratio(ratios["d/c req/s"])}   (TLS cost: HTTPS ÷ HTTP)`);
    console.log(`d/c CPU per request   ${fmt.ratio(ratios["d/c CPU per request"])}`);

    const failures = (Object.keys(summaries) as TargetKey[]).filter((key) => summaries[key].non2xx + summaries[key].errors > 0);
    if (failures.length > 0) {
      console.log(`\nWARNING: non-2xx responses or socket errors at ${failures.map((key) => `(${key})`).join(", ")}: those figures do not measure the proxy path.`);
    }
    let accessLogBytes: number | null = null;
    try {
      accessLogBytes = statSync(accessLog).size;
    } catch {
      // e.g. /dev/null
    }
    if (accessLogBytes === 0) console.log("\nWARNING: Rampart wrote no access log.");

    const results = {
      date: new Date().toISOString(),
      command: "npm run bench",
      git: gitDescription(),
      node: process.version,
      cpu: os.cpus()[0]?.model ?? null,
      cpus: os.cpus().length,
      pinning: pinning ? { proxies: PROXY_CPU, loadAndBackend: LOAD_CPU } : null,
      loadGenerator: load.name,
      backend: backend.kind,
      settings,
      accessLog: { file: accessLog, bytes: accessLogBytes },
      valid: failures.length === 0,
      targets: summaries,
      ratios,
    };
    const resultsDir = path.join(repoRoot, "bench/results");
    mkdirSync(resultsDir, { recursive: true });
    const file = path.join(resultsDir, "latest.json");
    writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
    console.log(`\nresults: ${path.relative(process.cwd(), file) || file}`);
  } finally {
    await stopAll();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    void stopAll().finally(() => process.exit(1));
  },
);

// `npm run bench`: loopback benchmark scenarios, each comparing targets measured in interleaved rounds
// within this one run (DESIGN.md Part 3), then a final block of every ratio, the performance goals with
// their verdicts, and bench/results/latest.json.
//   core       (a) backend, (b) bare http-proxy-3 + keep-alive agent, (c) Rampart HTTP with every core
//              guard, (d) the same Rampart over HTTPS, (e) bare node:http, (f) Caddy, (g) Rampart with
//              no guard configured, (h) bare node:http over HTTPS; then b, c, e and g at one fixed rate
//   guards     Rampart without edge guards vs guards on with the memory store and with the Redis store
//   bans       guards on with 1,000,000 bans loaded vs none: CPU per request and resident memory
//   balancing  three targets vs one (health checks, breakers), and failed requests when a backend is killed
//   workers    workers: 2 vs workers: 1 (CPU per request of all gateway processes), and failed requests
//              during 10 reloads under load
//   h2         h2load over TLS, 100 requests in flight: Rampart h2 (10 connections × 10 streams) vs Rampart
//              HTTP/1.1 (100 connections) vs nginx h2, and gRPC unary calls through Rampart (h2c upstream)
//   releases   a plain route vs a 95/5 split with sticky cookies (no cookie sent back: a new pick and
//              Set-Cookie per request) vs a route with `fault` at 0%, both split sides on one backend
//   certs      TLS (and mTLS) to an https target vs an http one; new TLS handshakes per core with client
//              auth vs without and with on-demand TLS vs without; on-demand first handshake vs a known
//              name; issuance time from start, DNS-01 (rfc2136, BIND) and wildcard vs HTTP-01 (pebble)
//   rejections 429, 404 and 403 vs a proxied request (keep-alive), and a denylisted address closed at
//              accept vs a proxied request on a new connection
//   resumption new TLS handshakes per core, full and resumed (session tickets), Rampart vs nginx
//   idle       resident memory per idle keep-alive client connection (BENCH_IDLE_CONNECTIONS, default
//              10,000), Rampart vs nginx
// Proxies run pinned to CPU 0; the load generator, backends and redis-server to CPU 1. Trust the CPU time
// per request (lowest across rounds) over req/s on a shared machine.
//
// Environment: BENCH_ONLY=core,guards,bans,balancing,workers,h2,releases,certs,rejections,resumption,idle (default all), BENCH_DURATION (s, default 5),
// BENCH_WARMUP (s, default 2), BENCH_ROUNDS (core, guards, workers, h2, releases and certs, default 3), BENCH_ROUNDS_SECONDARY
// (bans and balancing, default 2), BENCH_CONNECTIONS (default 50; not h2 nor certs' handshakes), BENCH_GUARDS=off (core, h2, releases and certs:
// Rampart without guards), BENCH_BACKEND=node (skip the nginx backend), BENCH_LOADGEN=wrk|autocannon (h2 always
// uses h2load), BENCH_ACCESS_LOG=<file> (core and h2 Rampart's access log, default a temp file), BENCH_BANS
// (default 1000000), BENCH_IDLE_CONNECTIONS (default 10000), BENCH_KEEP_TMP=1 (keep configs and logs).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { printPerformanceGoals } from "./goals.js";
import { chooseLoadGenerator } from "./load.js";
import { LOAD_CPU, PROXY_CPU, installCleanup, interrupted, pinSelf, pinning, runMain, stopAll } from "./processes.js";
import { printRatios, verdict, type Ratio, writeResults } from "./report.js";
import type { ScenarioContext, ScenarioResult } from "./scenario.js";
import { runBalancing } from "./scenarios/balancing.js";
import { runBans } from "./scenarios/bans.js";
import { runCerts } from "./scenarios/certs.js";
import { runCore } from "./scenarios/core.js";
import { runGuards } from "./scenarios/guards.js";
import { runH2 } from "./scenarios/h2.js";
import { runIdle } from "./scenarios/idle.js";
import { runRejections } from "./scenarios/rejections.js";
import { runReleases } from "./scenarios/releases.js";
import { runResumption } from "./scenarios/resumption.js";
import { RELOAD_RUN_SECONDS, runWorkers } from "./scenarios/workers.js";
import { readSettings, type ScenarioName, type Settings } from "./settings.js";
import { repoRoot, snapshotRampart } from "./targets.js";

const runners: Readonly<Record<ScenarioName, (context: ScenarioContext) => Promise<ScenarioResult>>> = {
  core: runCore,
  guards: runGuards,
  bans: runBans,
  balancing: runBalancing,
  workers: runWorkers,
  h2: runH2,
  releases: runReleases,
  certs: runCerts,
  rejections: runRejections,
  resumption: runResumption,
  idle: runIdle,
};

/** Measured load seconds per scenario (start-up, ban loading and the like come on top). */
function plannedSeconds(name: ScenarioName, settings: Settings): number {
  const run = settings.duration + settings.warmup;
  switch (name) {
    case "core":
      return 4 * settings.rounds * run;
    case "guards":
      return 3 * settings.rounds * run;
    case "bans":
      return 2 * settings.secondaryRounds * run;
    case "balancing":
      return 2 * settings.secondaryRounds * run + 5 + Math.min(settings.warmup, 2);
    case "workers":
      return 2 * settings.rounds * run + RELOAD_RUN_SECONDS;
    case "h2":
      // Four targets (three without nginx), each run warming up within itself.
      return 4 * settings.rounds * run;
    case "releases":
      return 3 * settings.rounds * run;
    case "certs":
      // Three upstream targets and four handshake targets, then on-demand first handshakes and
      // 3 issuances per round (a few seconds each).
      return 7 * settings.rounds * run + 10 + 3 * settings.rounds * 4;
    case "rejections":
      // Proxied, 429, 404, 403 over keep-alive; proxied and closed at accept on new connections.
      return 6 * settings.rounds * run;
    case "resumption":
      // Full and resumed handshakes, Rampart and nginx.
      return 4 * settings.rounds * run;
    case "idle":
      return 60;
  }
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

async function main(): Promise<number> {
  installCleanup();
  // The orchestrator (and autocannon, when it is the load generator) shares the load CPU.
  pinSelf(LOAD_CPU);
  const settings = readSettings();
  const load = chooseLoadGenerator();
  snapshotRampart();
  const dir = mkdtempSync(path.join(os.tmpdir(), "rampart-bench-"));
  // On every way out (success, error, SIGINT), after the children are gone.
  process.on("exit", () => {
    if (process.env.BENCH_KEEP_TMP === "1") console.log(`temp dir kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });
  const planned = settings.only.reduce((sum, name) => sum + plannedSeconds(name, settings), 0);
  console.log(
    `rampart bench: ${settings.only.join(", ")}; ${load.name}, ${settings.connections} connections, ${settings.duration} s per run ` +
      `(+${settings.warmup} s warm-up); ${settings.rounds} rounds for core, guards, workers, h2, releases and certs, ${settings.secondaryRounds} for bans and balancing; ` +
      `about ${Math.ceil(planned / 60)} min of load; ` +
      (pinning ? `proxies on CPU ${PROXY_CPU}, load + backends + redis on CPU ${LOAD_CPU}` : "no CPU pinning (taskset or a second CPU missing)"),
  );

  const results: Partial<Record<ScenarioName, ScenarioResult>> = {};
  const errors: Partial<Record<ScenarioName, string>> = {};
  const seconds: Partial<Record<ScenarioName, number>> = {};
  for (const name of settings.only) {
    console.log(`\n=== ${name} ===`);
    const scenarioDir = path.join(dir, name);
    mkdirSync(scenarioDir, { recursive: true });
    const started = Date.now();
    try {
      const result = await runners[name]({ load, dir: scenarioDir, settings });
      results[name] = result;
      for (const note of result.notes) console.log(`NOTE (${name}): ${note}`);
    } catch (error) {
      errors[name] = error instanceof Error ? error.message : String(error);
      if (!interrupted) console.error(`\n${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    } finally {
      // Each scenario starts from an idle machine: nothing of the previous one keeps running.
      await stopAll();
      seconds[name] = (Date.now() - started) / 1_000;
    }
  }

  const allRatios: Ratio[] = settings.only.flatMap((name) => (results[name]?.ratios ?? []).map((entry) => ({ ...entry, name: `${name}: ${entry.name}` })));
  printRatios("=== ratios (all measured in this run; CPU per request is the lowest across rounds, req/s the median) ===", allRatios);
  printPerformanceGoals(allRatios);
  const failed = Object.keys(errors);
  if (failed.length > 0) console.log(`\nFAILED scenarios: ${failed.join(", ")} (see above)`);
  console.log(`\nscenario wall times: ${settings.only.map((name) => `${name} ${(seconds[name] ?? 0).toFixed(0)} s`).join(", ")}`);

  const summary = {
    date: new Date().toISOString(),
    command: [
      ...Object.entries(process.env)
        .filter(([name]) => name.startsWith("BENCH_"))
        .map(([name, value]) => `${name}=${value ?? ""}`),
      "npm run bench",
    ].join(" "),
    git: gitDescription(),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? null,
    cpus: os.cpus().length,
    pinning: pinning ? { proxies: PROXY_CPU, loadBackendsRedis: LOAD_CPU } : null,
    loadGenerator: load.name,
    settings,
    scenarioSeconds: seconds,
    errors,
    ratios: allRatios.map((entry) => ({ ...entry, verdict: verdict(entry) || null })),
    scenarios: results,
  };
  writeResults(repoRoot, "latest.json", summary);
  return failed.length > 0 ? 1 : 0;
}

runMain(main);

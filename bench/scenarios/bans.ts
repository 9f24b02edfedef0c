// Ban check with 1,000,000 bans loaded (issue 4): two Ramparts with the edge guards on and the memory
// store, one whose store.dir holds a prepared bans.json of 1M distinct IPv4 addresses (never 127.0.0.1),
// the other with no bans. Compares req/s and CPU per request, and the Rampart process's resident memory.
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import path from "node:path";
import { failedTargets, runRounds, type Target } from "../measure.js";
import { freePort, residentMemory, sleep } from "../processes.js";
import { collectGarbage } from "../inspector.js";
import { BREAKER } from "../rampart-config.js";
import { fmt, printRatios, printTable, ratio, type Ratio } from "../report.js";
import { fetchText, metricValue, roundOptions, type ScenarioContext, type ScenarioResult } from "../scenario.js";
import { rampartPorts, startBackends, startRampart, type Rampart } from "../targets.js";

const BAN_COUNT = Math.round(Number(process.env.BENCH_BANS || 1_000_000));

/** Writes `${dir}/bans.json` in the memory store's format: `count` bans of 10.0.0.1, 10.0.0.2, … for a year. */
function writeBanFile(dir: string, count: number): string {
  if (!Number.isInteger(count) || count < 1 || count > 16_000_000) throw new Error(`BENCH_BANS=${count}: expected 1 to 16000000`);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "bans.json");
  const until = Date.now() + 365 * 24 * 3_600_000;
  const fd = openSync(file, "w", 0o600);
  try {
    writeSync(fd, '{"bans":[');
    const chunk: string[] = [];
    for (let i = 1; i <= count; i++) {
      const ip = `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
      chunk.push(`{"ip":"${ip}","jail":"bench","until":${until},"reason":"bench"}`);
      if (chunk.length === 50_000 || i === count) {
        writeSync(fd, (i > chunk.length ? "," : "") + chunk.join(","));
        chunk.length = 0;
      }
    }
    writeSync(fd, '],"history":[]}\n');
  } finally {
    closeSync(fd);
  }
  return file;
}

/** Polls /metrics until `rampart_bans_active` equals `count`. */
async function waitForBans(rampart: Rampart, count: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: number | undefined;
  while (Date.now() < deadline) {
    if (rampart.process.exited) throw new Error(`${rampart.process.name} exited while loading bans`);
    try {
      last = metricValue(await fetchText(`${rampart.adminUrl}/metrics`, 10_000), "rampart_bans_active");
      if (last === count) return;
    } catch {
      // busy parsing the file, or not listening yet
    }
    await sleep(250);
  }
  throw new Error(`${rampart.process.name}: rampart_bans_active is ${last ?? "unknown"}, not ${count}, after ${timeoutMs / 1_000} s`);
}

/** V8's heap in use (live objects and garbage not yet collected), from prom-client's default metrics. */
async function heapUsedMb(rampart: Rampart): Promise<number | null> {
  try {
    const bytes = metricValue(await fetchText(`${rampart.adminUrl}/metrics`), "nodejs_heap_size_used_bytes");
    return bytes === undefined ? null : bytes / 1_048_576;
  } catch {
    return null;
  }
}

interface Memory {
  /** VmRSS. */
  readonly rssMb: number | null;
  /** VmHWM, the peak RSS so far. */
  readonly peakMb: number | null;
  readonly heapUsedMb: number | null;
}

async function memoryOf(rampart: Rampart): Promise<Memory> {
  const resident = residentMemory(rampart.process.pid);
  return { rssMb: resident?.rssMb ?? null, peakMb: resident?.peakMb ?? null, heapUsedMb: await heapUsedMb(rampart) };
}

type Pair = Readonly<Record<"none" | "1m", Memory>>;

function extra(pair: Pair, field: keyof Memory): number | null {
  const withBans = pair["1m"][field];
  const without = pair.none[field];
  return withBans === null || without === null ? null : withBans - without;
}

export async function runBans({ load, dir, settings }: ScenarioContext): Promise<ScenarioResult> {
  const rounds = settings.secondaryRounds;
  const backend = await startBackends(dir, [await freePort()]);
  const started = Date.now();
  const banDir = path.join(dir, "banned-state");
  writeBanFile(banDir, BAN_COUNT);
  const fileSeconds = (Date.now() - started) / 1_000;
  // The inspector (idle, no session until the end) lets the scenario force a full GC before the last reading.
  const [inspectNone, inspectBans] = await Promise.all([freePort(), freePort()]);
  const on = { targets: backend.urls, edgeGuards: true, circuitBreaker: BREAKER };
  const noBans = await startRampart(dir, { ...on, name: "rampart-nobans", ports: await rampartPorts(), nodeArgs: [`--inspect=127.0.0.1:${inspectNone}`] });
  const loadStart = Date.now();
  const banned = await startRampart(dir, {
    ...on,
    name: "rampart-bans",
    ports: await rampartPorts(),
    stateDir: banDir,
    nodeArgs: [`--inspect=127.0.0.1:${inspectBans}`],
  });
  await waitForBans(banned, BAN_COUNT);
  const loadSeconds = (Date.now() - loadStart) / 1_000;
  const label = `${fmt.int(BAN_COUNT)} bans`;
  const short = BAN_COUNT === 1_000_000 ? "1M" : fmt.int(BAN_COUNT);
  console.log(`  bans.json written in ${fileSeconds.toFixed(1)} s; Rampart started with ${label} active after ${loadSeconds.toFixed(1)} s`);
  const loaded: Pair = { none: await memoryOf(noBans), "1m": await memoryOf(banned) };

  const targets: Target[] = [
    { key: "none", label: "guards on, no bans", url: noBans.httpUrl, charged: [noBans.process] },
    { key: "1m", label: `guards on, ${label}`, url: banned.httpUrl, charged: [banned.process] },
  ];
  const summaries = await runRounds(load, targets, roundOptions(settings, rounds));
  const afterRuns: Pair = { none: await memoryOf(noBans), "1m": await memoryOf(banned) };
  const stillActive = metricValue(await fetchText(`${banned.adminUrl}/metrics`), "rampart_bans_active");
  const notes: string[] = [];
  let afterGc: Pair | null = null;
  try {
    await Promise.all([collectGarbage(inspectNone), collectGarbage(inspectBans)]);
    await sleep(500);
    afterGc = { none: await memoryOf(noBans), "1m": await memoryOf(banned) };
  } catch (error) {
    notes.push(`no reading after a full GC: ${error instanceof Error ? error.message : String(error)}`);
  }
  const s = (key: string) => summaries[key]!;
  const ratios: Ratio[] = [
    { name: `${short} bans/no bans CPU per request`, value: ratio(s("1m").cpuUsPerRequest, s("none").cpuUsPerRequest), goal: { max: 1.05 }, note: "goal ≈ 1.0" },
    { name: `${short} bans/no bans req/s`, value: ratio(s("1m").rps, s("none").rps), goal: { min: 0.95 }, note: "goal ≈ 1.0" },
    { name: `${short} bans extra RSS`, value: extra(afterRuns, "rssMb"), unit: "MB", goal: { max: 200 }, note: "VmRSS with bans − without, after the runs" },
    { name: `${short} bans extra RSS after full GC`, value: afterGc && extra(afterGc, "rssMb"), unit: "MB", goal: { max: 200 }, note: "the same after HeapProfiler.collectGarbage" },
    { name: `${short} bans extra V8 heap after full GC`, value: afterGc && extra(afterGc, "heapUsedMb"), unit: "MB", note: "nodejs_heap_size_used_bytes: live objects only" },
  ];
  const cell = (field: keyof Memory) => (key: string) => [loaded, afterRuns, afterGc].map((pair) => fmt.mb(pair?.[key === "1m" ? "1m" : "none"][field] ?? null)).join(" / ");
  printTable(`bans (${rounds} rounds)`, summaries, [
    { title: "RSS MB loaded / after runs / after GC", cell: cell("rssMb") },
    { title: "V8 heap used MB (same)", cell: cell("heapUsedMb") },
  ]);
  printRatios("bans ratios", ratios);
  if (stillActive !== BAN_COUNT) notes.push(`rampart_bans_active was ${stillActive ?? "unknown"} after the runs, not ${BAN_COUNT}`);
  const failures = failedTargets(summaries);
  if (failures.length > 0) notes.push(`non-2xx responses or socket errors at ${failures.map((key) => `(${key})`).join(", ")}: those figures do not measure the proxy path`);
  return {
    title: "bans",
    rounds,
    targets: summaries,
    ratios,
    details: { bans: BAN_COUNT, banFileSeconds: fileSeconds, loadSeconds, memoryMb: { loaded, afterRuns, afterGc } },
    notes,
  };
}

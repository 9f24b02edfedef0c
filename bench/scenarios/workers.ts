// Workers (issue 6): Rampart with `workers: 2` (a node:cluster primary and two workers) vs `workers: 1` (one
// process, no primary), the same config otherwise: the core scenario's guards, metrics and the access log,
// plain HTTP to the nginx backend. Every gateway process runs on the proxy CPU (the primary is pinned and
// cluster workers inherit its affinity) and the load generator has the other CPU, so req/s cannot show the
// scaling: the figure is the CPU time per request of all gateway processes together (the primary and its
// descendants). Then reload under load: `workers: 2` under wrk while the config file alternates between two
// valid versions (an extra route added, then removed) and POST /api/reload is sent to the primary.
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { accessLogFailures } from "../access-log.js";
import type { LoadGenerator, LoadResult } from "../load.js";
import { failedTargets, median, runRounds, type Target } from "../measure.js";
import { PROXY_CPU, clockTicks, freePort, launch, processTree, sleep, stop, waitForHttp, type Managed } from "../processes.js";
import { BREAKER, rampartConfig, type RampartOptions } from "../rampart-config.js";
import { fmt, printRatios, printTable, ratio, type Ratio } from "../report.js";
import { fetchText, roundOptions, type ScenarioContext, type ScenarioResult } from "../scenario.js";
import { rampartPorts, repoRoot, startBackends } from "../targets.js";

/** Length of the reload-under-load run (run.ts adds it to the planned time). */
export const RELOAD_RUN_SECONDS = 6;
const RELOADS = 10;
const RELOAD_FIRST_MS = 1_000;
const RELOAD_EVERY_MS = 300;
/** The goal for CPU per request, workers: 2 ÷ workers: 1, with the cluster-shared rate limit on (issue 11, goal 3). */
const CPU_GOAL = 1.05;
const EXTRA_HEADER = "x-bench-route";

/**
 * The CLI of the snapshot run.ts took (targets.ts's snapshotRampart, dist/.bench-PID), so a rebuild during
 * the run does not change these Ramparts either; dist/src when there is no snapshot.
 */
function rampartCli(): string {
  const snapshot = path.join(repoRoot, "dist", `.bench-${process.pid}`, "src/cli.js");
  return existsSync(snapshot) ? snapshot : path.join(repoRoot, "dist/src/cli.js");
}

export interface Gateway {
  readonly workers: number;
  readonly httpUrl: string;
  readonly adminUrl: string;
  readonly configFile: string;
  readonly accessLog: string;
  /** The config as started. */
  readonly config: string;
  /** The primary (workers: 2) or the only process (workers: 1). */
  readonly process: Managed;
  /** Every worker PID seen, to kill leftovers at the end. */
  readonly workerPids: Set<number>;
}

/** The bench config with `workers: N` instead of its `workers: 1`. */
export function withWorkers(config: string, workers: number): string {
  const changed = config.replace(/^workers: 1$/m, `workers: ${workers}`);
  if (!changed.includes(`\nworkers: ${workers}\n`)) throw new Error("bench/rampart-config.ts no longer writes `workers: 1`: cannot set the worker count");
  return changed;
}

/** The config with one more route, first in the list: /extra to the same service, marked by a response header. */
export function withExtraRoute(config: string): string {
  const route = `routes:
  - name: extra
    match: { pathPrefix: /extra }
    service: backend
    responseHeaders: { set: { ${EXTRA_HEADER}: extra } }
`;
  const changed = config.replace(/^routes:\n/m, route);
  if (changed === config) throw new Error("no `routes:` in the bench config");
  return changed;
}

/** The gateway's worker processes: the primary's descendants (none with workers: 1). */
export function workerPids(gateway: Gateway): number[] {
  return processTree(gateway.process.pid).slice(1);
}

export async function startGateway(dir: string, options: RampartOptions, workers: number): Promise<Gateway> {
  const config = withWorkers(rampartConfig(dir, options), workers);
  const configFile = path.join(dir, `${options.name}.yaml`);
  writeFileSync(configFile, config);
  const accessLog = path.join(dir, `${options.name}-access.log`);
  // Cluster workers inherit the primary's stdout and stderr (these files) and its CPU affinity.
  const managed = await launch({
    name: options.name,
    command: process.execPath,
    args: [rampartCli(), "start", "-c", configFile],
    cpu: PROXY_CPU,
    cwd: repoRoot,
    stdoutFile: accessLog,
    stderrFile: path.join(dir, `${options.name}.err`),
  });
  const httpUrl = `http://127.0.0.1:${options.ports.http}/`;
  const adminUrl = `http://127.0.0.1:${options.ports.admin}`;
  const gateway: Gateway = { workers, httpUrl, adminUrl, configFile, accessLog, config, process: managed, workerPids: new Set() };
  await waitForHttp(httpUrl + (options.readyPath ?? "/").replace(/^\//, ""), managed, 30_000);
  // The primary is ready once every worker is.
  await waitForHttp(`${adminUrl}/readyz`, managed, 30_000);
  const pids = workerPids(gateway);
  const expected = workers > 1 ? workers : 0;
  if (pids.length !== expected) throw new Error(`${options.name}: expected ${expected} worker process(es) under PID ${managed.pid}, found ${pids.length}`);
  for (const pid of pids) gateway.workerPids.add(pid);
  return gateway;
}

/** utime + stime of `pid` alone (not its descendants) in µs; null once it is gone. */
function ownCpuUs(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) / clockTicks()) * 1e6;
  } catch {
    return null;
  }
}

/** "CPU list" of each gateway process (e.g. "0"), from /proc. */
function affinities(gateway: Gateway): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pid of processTree(gateway.process.pid)) {
    try {
      result[String(pid)] = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "?";
    } catch {
      // gone meanwhile
    }
  }
  return result;
}

/** SIGTERM to the primary (it drains its workers), then SIGKILL to any worker of this gateway still running. */
export async function stopGateway(gateway: Gateway): Promise<number[]> {
  for (const pid of workerPids(gateway)) gateway.workerPids.add(pid);
  await stop(gateway.process, 5_000);
  await sleep(200);
  const leftovers: number[] = [];
  for (const pid of gateway.workerPids) {
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      continue; // gone, as it should be
    }
    // Only this gateway's worker, not a process that reused the PID.
    if (!cmdline.split("\0").includes(gateway.configFile)) continue;
    leftovers.push(pid);
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  return leftovers;
}

/** Every value of `name{labels}` in Prometheus text, in order. */
function metricValues(metrics: string, name: string, labels: string): number[] {
  const prefix = `${name}${labels} `;
  return metrics
    .split("\n")
    .filter((line) => line.startsWith(prefix))
    .map((line) => Number(line.slice(prefix.length)));
}

export interface ReloadCounts {
  /** The primary's counter: its registry comes after the workers' aggregated metrics, so the last sample. */
  readonly primary: number | null;
  /** How many `rampart_config_reloads_total{result="success"}` samples /metrics has. */
  readonly samples: number;
}

export async function successfulReloads(gateway: Gateway): Promise<ReloadCounts> {
  const values = metricValues(await fetchText(`${gateway.adminUrl}/metrics`), "rampart_config_reloads_total", '{result="success"}');
  return { primary: values.at(-1) ?? null, samples: values.length };
}

/** GET on a fresh connection (so the primary hands it to either worker): status and the extra route's header. */
function probeRoute(url: string): Promise<{ status: number; extra: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, extra: res.headers[EXTRA_HEADER] === "extra" }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

interface ReloadAttempt {
  /** When the POST was sent, ms after the load started. */
  readonly atMs: number;
  readonly tookMs: number;
  /** HTTP status of POST /api/reload, or the error. */
  readonly status: number | string;
  readonly extraRoute: boolean;
  /** GET /extra right after the reload answered: whether the extra route's header was there as expected. */
  readonly routeAsExpected: boolean | null;
}

async function reloadLoop(gateway: Gateway, started: number): Promise<ReloadAttempt[]> {
  const attempts: ReloadAttempt[] = [];
  const variants = [withExtraRoute(gateway.config), gateway.config];
  for (let index = 0; index < RELOADS; index++) {
    await sleep(Math.max(0, started + RELOAD_FIRST_MS + index * RELOAD_EVERY_MS - Date.now()));
    const extraRoute = index % 2 === 0;
    writeFileSync(gateway.configFile, variants[index % 2]!);
    const sent = Date.now();
    let status: number | string;
    try {
      const response = await fetch(`${gateway.adminUrl}/api/reload`, { method: "POST", signal: AbortSignal.timeout(10_000) });
      await response.text();
      status = response.status;
    } catch (error) {
      status = error instanceof Error ? error.message : String(error);
    }
    const tookMs = Date.now() - sent;
    let routeAsExpected: boolean | null = null;
    if (status === 200) {
      try {
        const probe = await probeRoute(`${gateway.httpUrl}extra/probe`);
        routeAsExpected = probe.status === 200 && probe.extra === extraRoute;
      } catch {
        routeAsExpected = false;
      }
    }
    attempts.push({ atMs: sent - started, tookMs, status, extraRoute, routeAsExpected });
  }
  return attempts;
}


interface ReloadUnderLoad {
  readonly seconds: number;
  readonly requests: number;
  readonly rps: number;
  readonly non2xx: number;
  readonly socketErrors: number;
  readonly attempts: readonly ReloadAttempt[];
  /** POSTs answered 200. */
  readonly answered200: number;
  /** Increase of the primary's rampart_config_reloads_total{result="success"}. */
  readonly metricSuccesses: number | null;
  readonly metricSamples: number;
  /** Non-2xx lines in the access log during the run; 499 are the requests wrk abandons when it stops. */
  readonly rampartFailures: Readonly<Record<string, number>>;
}

async function runReloadUnderLoad(load: LoadGenerator, gateway: Gateway, connections: number): Promise<ReloadUnderLoad> {
  const before = await successfulReloads(gateway);
  const logOffset = statSync(gateway.accessLog).size;
  const started = Date.now();
  const loadRun: Promise<LoadResult> = load.run(gateway.httpUrl, RELOAD_RUN_SECONDS, connections);
  // Settled even when the load run fails first, so no rejection goes unhandled.
  const reloads = reloadLoop(gateway, started).then(
    (attempts) => ({ attempts, error: undefined }),
    (error: unknown) => ({ attempts: [] as ReloadAttempt[], error }),
  );
  const result = await loadRun;
  const { attempts, error } = await reloads;
  if (error !== undefined) throw error;
  for (const pid of workerPids(gateway)) gateway.workerPids.add(pid);
  const after = await successfulReloads(gateway);
  await sleep(300); // the access log's last lines
  return {
    seconds: RELOAD_RUN_SECONDS,
    requests: result.requests,
    rps: result.rps,
    non2xx: result.non2xx,
    socketErrors: result.errors,
    attempts,
    answered200: attempts.filter((attempt) => attempt.status === 200).length,
    metricSuccesses: before.primary === null || after.primary === null ? null : after.primary - before.primary,
    metricSamples: after.samples,
    rampartFailures: accessLogFailures(gateway.accessLog, logOffset),
  };
}

function percent(value: number): string {
  return `${value >= 0 ? "+" : ""}${(value * 100).toFixed(1)}%`;
}

/** About N/(1+X) × one worker's throughput on N cores when CPU per request grows by X (never more than N). */
function scaled(cores: number, cpuRatio: number): string {
  return (cores / Math.max(1, cpuRatio)).toFixed(2);
}

export async function runWorkers({ load, dir, settings }: ScenarioContext): Promise<ScenarioResult> {
  const notes: string[] = [];
  const backend = await startBackends(dir, [await freePort()]);
  // As the core scenario's Rampart (c): every guard on, none able to fire; access log and metrics on.
  const common = {
    targets: backend.urls,
    edgeGuards: true,
    healthCheck: "{ path: /, interval: 5s, timeout: 2s }",
    circuitBreaker: BREAKER,
    retry: "{ attempts: 2 }",
  };
  const gateways: Gateway[] = [];
  const leftovers: number[] = [];
  try {
    // Fixed ports (free a moment ago): the primary binds them and shares them with its workers.
    const one = await startGateway(dir, { ...common, name: "rampart-workers1", ports: await rampartPorts() }, 1);
    gateways.push(one);
    const two = await startGateway(dir, { ...common, name: "rampart-workers2", ports: await rampartPorts() }, 2);
    gateways.push(two);
    const pinnedTo = affinities(two);
    const tree = Object.entries(pinnedTo)
      .map(([pid, cpus]) => `${pid === String(two.process.pid) ? "primary" : "worker"} ${pid} on CPU ${cpus}`)
      .join(", ");
    console.log(`workers: 2 runs as ${tree}; CPU time is summed over all of them (and over the one process of workers: 1)`);
    if (Object.values(pinnedTo).some((cpus) => cpus !== String(PROXY_CPU)) && Object.keys(pinnedTo).length > 0) {
      notes.push(`not every gateway process is pinned to CPU ${PROXY_CPU}: ${JSON.stringify(pinnedTo)}`);
    }

    const targets: Target[] = [
      { key: "w1", label: "workers: 1 (one process)", url: one.httpUrl, charged: [one.process] },
      {
        key: "w2",
        label: "workers: 2 (primary + 2 workers)",
        url: two.httpUrl,
        charged: [two.process],
        // The primary's own share (shared rate-limit counters and state over IPC, accepting connections).
        counters: [{ name: "primary CPU µs", read: () => Promise.resolve(ownCpuUs(two.process.pid)) }],
      },
    ];
    const summaries = await runRounds(load, targets, roundOptions(settings, settings.rounds));
    for (const pid of workerPids(two)) two.workerPids.add(pid);
    const s = (key: string) => summaries[key]!;
    const primaryUs = s("w2").perRequest["primary CPU µs"] ?? null;
    printTable(`workers (${settings.rounds} rounds; guards on, access log on, plain HTTP; all gateway processes on CPU ${PROXY_CPU}, load on the other)`, summaries, [
      { title: "primary µs/req", cell: (key) => (key === "w2" ? fmt.us(primaryUs) : "") },
    ]);

    const cpuRatio = ratio(s("w2").cpuUsPerRequest, s("w1").cpuUsPerRequest);
    if (cpuRatio !== null) {
      const overhead = cpuRatio - 1;
      console.log(
        `\nscaling: with 2 workers the gateway spends ${percent(overhead)} CPU per request vs 1 worker (goal within +${((CPU_GOAL - 1) * 100).toFixed(0)}%). ` +
          `If CPU per request stays within X, N cores give about N/(1+X) × the single worker's throughput: ` +
          `with X = ${percent(Math.max(0, overhead))} that is 2 cores ≈ ${scaled(2, cpuRatio)}×, 4 ≈ ${scaled(4, cpuRatio)}×, 8 ≈ ${scaled(8, cpuRatio)}× ` +
          `(at the goal's limit: ${scaled(2, CPU_GOAL)}×, ${scaled(4, CPU_GOAL)}×, ${scaled(8, CPU_GOAL)}×), provided the load generator and backends have cores of their own. ` +
          `Here every gateway process shares CPU ${PROXY_CPU} and wrk has the other, so req/s cannot show it: it is bounded by the one proxy CPU and the load generator.` +
          (primaryUs !== null && primaryUs > 0
            ? ` The primary itself used ${fmt.us(primaryUs)} µs/req; as one thread it caps the whole tree at about ${fmt.int(1e6 / primaryUs)} req/s whatever the core count.`
            : ""),
      );
    }
    // The single-process gateway is not needed for the reload run.
    await stopGateway(one);

    console.log(
      `\nreload under load: workers: 2, ${RELOAD_RUN_SECONDS} s of ${load.name} (${settings.connections} connections); from ${RELOAD_FIRST_MS} ms on, ${RELOADS} × POST /api/reload ` +
        `~${RELOAD_EVERY_MS} ms apart, the config alternating between adding and removing a route`,
    );
    const reload = await runReloadUnderLoad(load, two, settings.connections);
    const failed = reload.non2xx + reload.socketErrors;
    const took = reload.attempts.map((attempt) => attempt.tookMs);
    const statuses = new Map<string, number>();
    for (const attempt of reload.attempts) statuses.set(String(attempt.status), (statuses.get(String(attempt.status)) ?? 0) + 1);
    const lastDone = reload.attempts.length > 0 ? Math.max(...reload.attempts.map((attempt) => attempt.atMs + attempt.tookMs)) : 0;
    const routeChecks = reload.attempts.filter((attempt) => attempt.routeAsExpected !== null);
    console.log(
      `  ${fmt.int(reload.requests)} requests (${fmt.int(reload.rps)} req/s): ${reload.non2xx} non-2xx, ${reload.socketErrors} socket errors` +
        (Object.keys(reload.rampartFailures).length > 0
          ? `; Rampart's access log: ${Object.entries(reload.rampartFailures).map(([key, count]) => `${count} × ${key}`).join(", ")}` +
            (Object.keys(reload.rampartFailures).some((key) => key.startsWith("499")) ? " (499: requests wrk abandoned when its run ended)" : "")
          : ""),
    );
    console.log(
      `  reloads: ${[...statuses].map(([status, count]) => `${count} × ${status}`).join(", ")}; each took ${took.length > 0 ? `${Math.min(...took)}–${Math.max(...took)} ms (median ${median(took).toFixed(0)})` : "n/a"}, ` +
        `the last done ${lastDone} ms into the run; rampart_config_reloads_total{result="success"} on the primary +${reload.metricSuccesses ?? "n/a"}; ` +
        `GET /extra right after each reload showed the route ${routeChecks.filter((attempt) => attempt.routeAsExpected === true).length}/${routeChecks.length} times as expected`,
    );
    if (lastDone > RELOAD_RUN_SECONDS * 1_000) notes.push(`the last reload finished ${lastDone} ms into a ${RELOAD_RUN_SECONDS} s run: not every reload happened under load`);
    if (reload.metricSamples > 1) {
      notes.push(
        `/metrics on the primary has ${reload.metricSamples} rampart_config_reloads_total{result="success"} samples (the workers' aggregated counter and the primary's); the primary's (the last) was used`,
      );
    }

    const ratios: Ratio[] = [
      { name: "workers 2/1 CPU per request", value: cpuRatio, goal: { max: CPU_GOAL }, note: "primary + 2 workers ÷ one process, all on one CPU" },
      { name: "workers 2/1 req/s", value: ratio(s("w2").rps, s("w1").rps), note: "both on one CPU: not a scaling figure" },
      { name: "reload under load: failed requests", value: failed, unit: "requests", goal: { max: 0 }, note: `non-2xx + socket errors of ${fmt.int(reload.requests)}, ${RELOADS} reloads` },
      {
        name: "reload under load: successful reloads",
        value: reload.metricSuccesses,
        unit: "reloads",
        goal: { min: RELOADS },
        note: `rampart_config_reloads_total{result="success"} increase; ${reload.answered200} POSTs answered 200`,
      },
    ];
    printRatios("workers ratios", ratios);
    const failures = failedTargets(summaries);
    if (failures.length > 0) notes.push(`non-2xx responses or socket errors at ${failures.map((key) => `(${key})`).join(", ")}: those figures do not measure the proxy path`);
    for (const gateway of gateways) leftovers.push(...(await stopGateway(gateway)));
    if (leftovers.length > 0) notes.push(`worker process(es) still running after the primary's SIGTERM, killed: ${leftovers.join(", ")}`);
    return {
      title: "workers",
      rounds: settings.rounds,
      targets: summaries,
      ratios,
      details: {
        backend: backend.kind,
        affinity: pinnedTo,
        primaryCpuUsPerRequest: primaryUs,
        impliedScaling: cpuRatio === null ? null : Object.fromEntries([2, 4, 8].map((cores) => [`${cores} cores`, Number(scaled(cores, cpuRatio))])),
        reloadUnderLoad: reload,
        leftoverWorkers: leftovers,
      },
      notes,
    };
  } finally {
    // On an error: still every primary and every worker, by PID (stopGateway is a no-op for what is gone).
    for (const gateway of gateways) await stopGateway(gateway);
  }
}

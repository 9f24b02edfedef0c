// Balancing (issue 3): one service of three targets with health checks (1 s) and breakers vs the same
// Rampart with one target; then a failover figure: three node backends under GET load, one SIGKILLed
// 1.5 s in, counting the requests that failed (non-2xx and socket errors) as the client saw them.
import { accessLogFailures } from "../access-log.js";
import type { LoadGenerator, LoadResult } from "../load.js";
import { failedTargets, runRounds, type Target } from "../measure.js";
import { freePort, stop } from "../processes.js";
import { BREAKER } from "../rampart-config.js";
import { fmt, printRatios, printTable, ratio, type Ratio } from "../report.js";
import { fetchText, roundOptions, type ScenarioContext, type ScenarioResult } from "../scenario.js";
import { rampartPorts, startBackends, startRampart } from "../targets.js";

const FAILOVER_SECONDS = 5;
const KILL_AFTER_MS = 1_500;

interface Failover {
  readonly seconds: number;
  readonly killedTarget: string;
  readonly killedAfterMs: number;
  readonly requests: number;
  readonly rps: number;
  readonly non2xx: number;
  readonly socketErrors: number;
  /**
   * Non-2xx lines in Rampart's access log, by "status failure". 499 (client closed) are the requests wrk
   * abandons when its run ends, not failures a client saw.
   */
  readonly rampartFailures: Readonly<Record<string, number>>;
  /** GET /api/upstreams right after the run. */
  readonly upstreams: unknown;
}


async function runFailover(load: LoadGenerator, dir: string, connections: number, warmup: number): Promise<Failover> {
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  const backends = await startBackends(dir, ports, { node: true });
  const rampart = await startRampart(dir, {
    name: "rampart-failover",
    ports: await rampartPorts(),
    targets: backends.urls,
    healthCheck: "{ path: /, interval: 500ms, unhealthyThreshold: 2 }",
    circuitBreaker: BREAKER,
    retry: "{ attempts: 2 }",
    edgeGuards: false,
  });
  if (warmup > 0) await load.run(rampart.httpUrl, warmup, connections);
  const victim = backends.processes[1]!;
  const killedTarget = backends.urls[1]!;
  let killedAt = 0;
  const started = Date.now();
  const timer = setTimeout(() => {
    killedAt = Date.now() - started;
    process.kill(victim.pid, "SIGKILL");
  }, KILL_AFTER_MS);
  let result: LoadResult;
  try {
    result = await load.run(rampart.httpUrl, FAILOVER_SECONDS, connections);
  } finally {
    clearTimeout(timer);
  }
  if (killedAt === 0) throw new Error("failover: the backend was not killed during the run");
  let upstreams: unknown = null;
  try {
    upstreams = JSON.parse(await fetchText(`${rampart.adminUrl}/api/upstreams`)) as unknown;
  } catch (error) {
    upstreams = `unavailable: ${error instanceof Error ? error.message : String(error)}`;
  }
  // A graceful stop flushes the access log.
  await stop(rampart.process);
  return {
    seconds: FAILOVER_SECONDS,
    killedTarget,
    killedAfterMs: killedAt,
    requests: result.requests,
    rps: result.rps,
    non2xx: result.non2xx,
    socketErrors: result.errors,
    rampartFailures: accessLogFailures(rampart.accessLog),
    upstreams,
  };
}

export async function runBalancing({ load, dir, settings }: ScenarioContext): Promise<ScenarioResult> {
  const rounds = settings.secondaryRounds;
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  const backends = await startBackends(dir, ports);
  const service = { healthCheck: "{ path: /, interval: 1s }", circuitBreaker: BREAKER, edgeGuards: false };
  const one = await startRampart(dir, { ...service, name: "rampart-1target", ports: await rampartPorts(), targets: backends.urls.slice(0, 1) });
  const three = await startRampart(dir, { ...service, name: "rampart-3targets", ports: await rampartPorts(), targets: backends.urls });
  const backendLabel = backends.kind === "nginx" ? "one nginx, three ports" : "three node backends";
  const targets: Target[] = [
    { key: "1", label: "one target", url: one.httpUrl, charged: [one.process] },
    { key: "3", label: `three targets (${backendLabel})`, url: three.httpUrl, charged: [three.process] },
  ];
  const summaries = await runRounds(load, targets, roundOptions(settings, rounds));
  const s = (key: string) => summaries[key]!;
  printTable(`balancing (${rounds} rounds; health checks every 1 s and breakers on in both)`, summaries);
  // The throughput Ramparts and their backends are not needed for the failover run.
  await Promise.all([one.process, three.process, ...backends.processes].map((managed) => stop(managed)));

  console.log(`\nfailover: three node backends, health checks every 500 ms (unhealthy after 2), retry 2; backend 2 SIGKILLed ${KILL_AFTER_MS} ms into a ${FAILOVER_SECONDS} s run`);
  const failover = await runFailover(load, dir, settings.connections, Math.min(settings.warmup, 2));
  const failed = failover.non2xx + failover.socketErrors;
  console.log(
    `  ${fmt.int(failover.requests)} requests (${fmt.int(failover.rps)} req/s), killed at ${failover.killedAfterMs} ms: ` +
      `${failover.non2xx} non-2xx, ${failover.socketErrors} socket errors` +
      (Object.keys(failover.rampartFailures).length > 0
        ? `; Rampart's access log: ${Object.entries(failover.rampartFailures).map(([key, count]) => `${count} × ${key}`).join(", ")}` +
          (Object.keys(failover.rampartFailures).some((key) => key.startsWith("499")) ? " (499: requests wrk abandoned when its run ended)" : "")
        : ""),
  );
  if (Array.isArray(failover.upstreams)) {
    for (const entry of failover.upstreams as readonly unknown[]) console.log(`  upstream after the run: ${JSON.stringify(entry)}`);
  }
  const ratios: Ratio[] = [
    { name: "3 targets/1 target CPU per request", value: ratio(s("3").cpuUsPerRequest, s("1").cpuUsPerRequest), goal: { max: 1.05 } },
    { name: "3 targets/1 target req/s", value: ratio(s("3").rps, s("1").rps), goal: { min: 0.95 } },
    { name: "failover: failed GETs", value: failed, unit: "requests", goal: { max: 0 }, note: `non-2xx + socket errors of ${fmt.int(failover.requests)}, one of 3 backends SIGKILLed` },
  ];
  printRatios("balancing ratios", ratios);
  const notes: string[] = [];
  const failures = failedTargets(summaries);
  if (failures.length > 0) notes.push(`non-2xx responses or socket errors at ${failures.map((key) => `(${key})`).join(", ")}: those figures do not measure the proxy path`);
  return { title: "balancing", rounds, targets: summaries, ratios, details: { backend: backends.kind, failover }, notes };
}

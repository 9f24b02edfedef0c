// Guards (issue 4): Rampart with no edge guard vs the edge guards on (rate limit, jail, denylist, breaker)
// with the memory store, and with the Redis store. Redis's CPU time is charged to the Redis target.
import { failedTargets, runRounds, type Target } from "../measure.js";
import { freePort, sleep } from "../processes.js";
import { BREAKER } from "../rampart-config.js";
import { redisStat, startRedis } from "../redis.js";
import { fmt, printRatios, printTable, ratio, type Ratio } from "../report.js";
import { fetchText, metricValue, roundOptions, type ScenarioContext, type ScenarioResult } from "../scenario.js";
import { rampartPorts, startBackends, startRampart, type Rampart } from "../targets.js";

/** Waits until Rampart reports its Redis store up, so the first measured requests do not fall back to local limits. */
async function waitForStoreUp(rampart: Rampart, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (metricValue(await fetchText(`${rampart.adminUrl}/metrics`), "rampart_store_up", '{kind="redis"}') === 1) return;
    } catch {
      // not yet
    }
    await sleep(200);
  }
  throw new Error(`${rampart.process.name}: rampart_store_up{kind="redis"} did not reach 1 within ${timeoutMs} ms`);
}

export async function runGuards({ load, dir, settings }: ScenarioContext): Promise<ScenarioResult> {
  const notes: string[] = [];
  const backend = await startBackends(dir, [await freePort()]);
  const off = await startRampart(dir, { name: "rampart-off", ports: await rampartPorts(), targets: backend.urls, edgeGuards: false });
  const on = { targets: backend.urls, edgeGuards: true, circuitBreaker: BREAKER };
  const memory = await startRampart(dir, { ...on, name: "rampart-mem", ports: await rampartPorts() });
  const targets: Target[] = [
    { key: "off", label: "guards off", url: off.httpUrl, charged: [off.process] },
    { key: "mem", label: "guards on, memory store", url: memory.httpUrl, charged: [memory.process] },
  ];
  const redis = await startRedis(dir);
  if (redis === undefined) {
    notes.push("Redis store skipped: redis-server is not installed (apt-get install -y redis-server)");
  } else {
    const withRedis = await startRampart(dir, { ...on, name: "rampart-redis", ports: await rampartPorts(), redisUrl: redis.url });
    await waitForStoreUp(withRedis);
    targets.push({
      key: "redis",
      label: "guards on, redis store",
      url: withRedis.httpUrl,
      charged: [withRedis.process, redis.process],
      counters: [
        { name: "redis commands", read: () => redisStat(redis.port, "total_commands_processed") },
        { name: "redis round trips", read: () => redisStat(redis.port, "total_reads_processed") },
      ],
    });
  }
  const summaries = await runRounds(load, targets, roundOptions(settings, settings.rounds));
  const s = (key: string) => summaries[key];
  const redisSummary = s("redis");
  const ratios: Ratio[] = [
    { name: "guards on (memory)/off CPU per request", value: ratio(s("mem")?.cpuUsPerRequest, s("off")?.cpuUsPerRequest), goal: { max: 1.05 } },
    { name: "guards on (memory)/off req/s", value: ratio(s("mem")?.rps, s("off")?.rps), goal: { min: 0.95 } },
  ];
  if (redisSummary !== undefined) {
    ratios.push(
      {
        name: "guards on (redis)/off CPU per request",
        value: ratio(redisSummary.cpuUsPerRequest, s("off")?.cpuUsPerRequest),
        goal: { max: 1.15 },
        note: "Rampart + redis-server",
      },
      {
        name: "guards on (redis)/off CPU, Rampart only",
        value: ratio(redisSummary.cpuParts["rampart-redis"], s("off")?.cpuUsPerRequest),
        note: "without redis-server's CPU",
      },
      { name: "guards on (redis)/off req/s", value: ratio(redisSummary.rps, s("off")?.rps), goal: { min: 0.85 } },
      {
        name: "guards on (redis)/(memory) CPU, Rampart only",
        value: ratio(redisSummary.cpuParts["rampart-redis"], s("mem")?.cpuUsPerRequest),
        goal: { max: 1.15 },
        note: "the Redis store ÷ the memory store, without redis-server's CPU",
      },
      {
        name: "guards on (redis): Redis round trips per request",
        value: redisSummary.perRequest["redis round trips"] ?? null,
        goal: { max: 1 },
        note: "total_reads_processed (INFO stats: reads of a client's pipelined commands) per request, median; the ban check reads memory",
      },
    );
  }
  printTable(`guards (${settings.rounds} rounds)`, summaries, [
    { title: "redis cmds/req", cell: (key) => (summaries[key]!.perRequest["redis commands"] === undefined ? "" : summaries[key]!.perRequest["redis commands"]!.toFixed(2)) },
    { title: "redis reads/req", cell: (key) => (summaries[key]!.perRequest["redis round trips"] === undefined ? "" : summaries[key]!.perRequest["redis round trips"]!.toFixed(2)) },
  ]);
  printRatios("guards ratios", ratios);
  const failures = failedTargets(summaries);
  if (failures.length > 0) notes.push(`non-2xx responses or socket errors at ${failures.map((key) => `(${key})`).join(", ")}: those figures do not measure the proxy path`);
  return {
    title: "guards",
    rounds: settings.rounds,
    targets: summaries,
    ratios,
    details: {
      backend: backend.kind,
      redis:
        redisSummary === undefined
          ? null
          : {
              cpuUsPerRequest: redisSummary.cpuParts.redis ?? null,
              commandsPerRequest: redisSummary.perRequest["redis commands"] ?? null,
              roundTripsPerRequest: redisSummary.perRequest["redis round trips"] ?? null,
            },
    },
    notes: [
      ...notes,
      ...(redisSummary === undefined ? [] : [`redis-server's own CPU (charged to the redis target): ${fmt.us(redisSummary.cpuParts.redis ?? null)} µs/req`]),
    ],
  };
}

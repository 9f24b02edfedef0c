// Releases (issue 13): what a weighted split and a configured-but-idle fault injection cost per request.
// Three Ramparts, identical but for the one route, measured in interleaved rounds:
//   (plain) the route names `service: backend`
//   (split) the route splits 95/5 between `backend` and `canary` with sticky cookies
//   (fault) the plain route with `fault` configured at 0% delay and 0% abort
// Both sides of the split (and both services of every config) point at the same backend, so only
// Rampart's own work differs. The load generator (wrk or autocannon) never sends cookies back: every
// request of the split target is a new client, so it pays a fresh pick and a Set-Cookie on every answer,
// the worst case for sticky cookies (a returning client only has its Cookie header read).
// Goals (issue 13): split ≤ 1.03× and fault ≤ 1.02× the plain route's CPU per request.
import { failedTargets, runRounds, type Target } from "../measure.js";
import { freePort } from "../processes.js";
import { BREAKER, type BenchRoute, type RampartOptions } from "../rampart-config.js";
import { fmt, printRatios, printTable, ratio, type Ratio } from "../report.js";
import { fetchText, metricSum, roundOptions, type ScenarioContext, type ScenarioResult } from "../scenario.js";
import { rampartPorts, startBackends, startRampart, type Rampart } from "../targets.js";

const SPLIT_WEIGHTS = { backend: 95, canary: 5 } as const;
const IDLE_FAULT = "{ delay: { percent: 0, duration: 200ms }, abort: { percent: 0, status: 503 } }";

/** Completed upstream requests per service, from rampart_upstream_request_duration_seconds_count{service,target}. */
function upstreamCounts(metrics: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of metrics.split("\n")) {
    if (!line.startsWith("rampart_upstream_request_duration_seconds_count{")) continue;
    const service = /service="([^"]*)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (service !== undefined && Number.isFinite(value)) counts[service] = (counts[service] ?? 0) + value;
  }
  return counts;
}

/** The Set-Cookie headers of one GET, to check that the split target sets rampart_split. */
async function setCookies(url: string): Promise<string[]> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.headers.getSetCookie();
}

export async function runReleases({ load, dir, settings }: ScenarioContext): Promise<ScenarioResult> {
  const notes: string[] = [];
  const backend = await startBackends(dir, [await freePort()]);
  // As in core: every guard on (none able to fire), a health check, a breaker and retries, on both services.
  const serviceKeys = settings.guards ? { healthCheck: "{ path: /, interval: 5s, timeout: 2s }", circuitBreaker: BREAKER, retry: "{ attempts: 2 }" } : {};
  const start = async (name: string, route: Omit<BenchRoute, "name" | "pathPrefix">): Promise<Rampart> => {
    const options: RampartOptions = {
      name,
      ports: await rampartPorts(),
      targets: backend.urls,
      edgeGuards: settings.guards,
      ...serviceKeys,
      services: { canary: { targets: backend.urls, ...serviceKeys } },
      routes: [{ name: "all", pathPrefix: "/", ...route }],
    };
    return startRampart(dir, options);
  };
  const plain = await start("rampart-plain", {});
  const split = await start("rampart-split", { split: { services: SPLIT_WEIGHTS, sticky: "cookie" } });
  const fault = await start("rampart-fault", { fault: IDLE_FAULT });

  const cookies = await setCookies(split.httpUrl);
  if (!cookies.some((cookie) => cookie.startsWith("rampart_split="))) throw new Error(`the split target set no rampart_split cookie: ${JSON.stringify(cookies)}`);

  const suffix = settings.guards ? "" : " (guards off)";
  const targets: readonly Target[] = [
    { key: "plain", label: `plain route${suffix}`, url: plain.httpUrl, charged: [plain.process] },
    { key: "split", label: `split 95/5, sticky cookie, no cookie sent${suffix}`, url: split.httpUrl, charged: [split.process] },
    { key: "fault", label: `fault at 0% delay, 0% abort${suffix}`, url: fault.httpUrl, charged: [fault.process] },
  ];
  const summaries = await runRounds(load, targets, roundOptions(settings, settings.rounds));
  const s = (key: string) => summaries[key];

  // What the split and fault Ramparts did with the traffic, as their metrics say.
  const splitMetrics = await fetchText(`${split.adminUrl}/metrics`);
  const faultMetrics = await fetchText(`${fault.adminUrl}/metrics`);
  const served = upstreamCounts(splitMetrics);
  const servedTotal = Object.values(served).reduce((sum, count) => sum + count, 0);
  const canaryPct = servedTotal > 0 ? (100 * (served.canary ?? 0)) / servedTotal : null;
  const faultsInjected = metricSum(faultMetrics, "rampart_faults_injected_total") ?? 0;
  if (canaryPct === null || Math.abs(canaryPct - SPLIT_WEIGHTS.canary) > 1) {
    notes.push(`the split target sent ${canaryPct === null ? "n/a" : canaryPct.toFixed(2)}% of ${fmt.int(servedTotal)} requests to canary (weight 5): check the config`);
  }
  if (faultsInjected > 0) notes.push(`the fault target injected ${faultsInjected} faults at 0%: its figures do not measure an idle fault stage`);
  notes.push("wrk sends no cookies back: every request on the split target is a new pick plus a Set-Cookie (the worst case for sticky cookies)");

  const ratios: Ratio[] = [
    {
      name: "split/plain CPU per request",
      value: ratio(s("split")?.cpuUsPerRequest, s("plain")?.cpuUsPerRequest),
      goal: { max: 1.03 },
      note: "95/5, sticky cookie, a new pick and Set-Cookie per request",
    },
    { name: "split/plain req/s", value: ratio(s("split")?.rps, s("plain")?.rps) },
    { name: "fault/plain CPU per request", value: ratio(s("fault")?.cpuUsPerRequest, s("plain")?.cpuUsPerRequest), goal: { max: 1.02 }, note: "fault at 0%" },
    { name: "fault/plain req/s", value: ratio(s("fault")?.rps, s("plain")?.rps) },
  ];
  printTable(`releases (${settings.rounds} rounds)`, summaries);
  printRatios("releases ratios", ratios);
  const failures = failedTargets(summaries);
  if (failures.length > 0) notes.push(`non-2xx responses or socket errors at ${failures.map((key) => `(${key})`).join(", ")}: those figures do not measure the proxy path`);
  return {
    title: "releases",
    rounds: settings.rounds,
    targets: summaries,
    ratios,
    details: {
      backend: backend.kind,
      guards: settings.guards,
      split: { weights: SPLIT_WEIGHTS, sticky: "cookie", cookiesSentBack: false, upstreamRequests: served, canaryPct },
      fault: { config: IDLE_FAULT, injected: faultsInjected },
    },
    notes,
  };
}

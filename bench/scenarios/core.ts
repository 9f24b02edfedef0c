// Core: (a) the backend directly, (b) bare http-proxy-3 with a keep-alive agent, (c) Rampart over plain
// HTTP with every core guard, metrics and the access log on, (d) the same Rampart over HTTPS, and the
// peers: (e) bare node:http (http.request and pipe, the floor of any Node proxy), (f) Caddy when installed;
// (g) Rampart over plain HTTP with no guard configured (routing, forwarding, metrics, access log); and
// (h) bare node:http behind an HTTPS listener, the floor under Rampart's HTTPS ÷ HTTP. Rampart and (h)
// serve the same ECDSA P-256 certificate.
// Then (b), (c), (e) and (g) again at one fixed rate (h2load --h1 --rps, FIXED_RATE requests/s over 50
// connections): CPU per request falls as the request rate rises (more requests per wake-up and system
// call), so a proxy measured at a higher rate looks cheaper; at one rate for all, the ratios compare
// the same work. Skipped with a note without h2load.
import { statSync } from "node:fs";
import path from "node:path";
import { h2loadBinary, h2loadGenerator } from "../h2load.js";
import { failedTargets, runRounds, type Summary, type Target } from "../measure.js";
import { makePki } from "../pki.js";
import { freePort } from "../processes.js";
import { BREAKER } from "../rampart-config.js";
import { printRatios, printTable, ratio, type Ratio } from "../report.js";
import { roundOptions, type ScenarioContext, type ScenarioResult } from "../scenario.js";
import { rampartPorts, startBackends, startBareProxy, startCaddy, startRampart } from "../targets.js";

export async function runCore({ load, dir, settings }: ScenarioContext): Promise<ScenarioResult> {
  const guards = settings.guards;
  const [backendPort, bareProxyPort, bareNodePort, bareHttpsPort, caddyPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const pki = makePki(path.join(dir, "pki"));
  pki.ca("core-ca");
  const served = pki.issue("core", "core-ca", { san: ["DNS:localhost", "IP:127.0.0.1"] });
  const certificate = { certFile: served.cert, keyFile: served.key };
  const backend = await startBackends(dir, [backendPort]);
  const bare = await startBareProxy(dir, bareProxyPort, backend.urls[0]!);
  const bareNode = await startBareProxy(dir, bareNodePort, backend.urls[0]!, "node");
  const bareHttps = await startBareProxy(dir, bareHttpsPort, backend.urls[0]!, "node-https", certificate);
  const caddy = await startCaddy(dir, caddyPort, backend.urls[0]!);
  const accessLog = process.env.BENCH_ACCESS_LOG || path.join(dir, "rampart-access.log");
  // Every guard of the core on, none able to fire: edge guards, active health checks, a breaker, retries.
  const rampart = await startRampart(
    dir,
    {
      name: "rampart",
      ports: await rampartPorts(),
      targets: backend.urls,
      certificate,
      edgeGuards: guards,
      ...(guards ? { healthCheck: "{ path: /, interval: 5s, timeout: 2s }", circuitBreaker: BREAKER, retry: "{ attempts: 2 }" } : {}),
    },
    accessLog,
  );
  // Goal 1's second half: what routing, forwarding, metrics and the access log cost without any guard.
  const unguarded = guards
    ? await startRampart(dir, { name: "rampart-unguarded", ports: await rampartPorts(), targets: backend.urls, edgeGuards: false })
    : undefined;
  const suffix = guards ? "" : " (guards off)";
  const targets: readonly Target[] = [
    { key: "a", label: `backend (${backend.kind})`, url: backend.urls[0]!, charged: backend.processes },
    { key: "b", label: "bare http-proxy-3", url: bare.url, charged: [bare.process] },
    { key: "c", label: `rampart http${suffix}`, url: rampart.httpUrl, charged: [rampart.process] },
    { key: "d", label: `rampart https${suffix}`, url: rampart.httpsUrl, charged: [rampart.process] },
    { key: "e", label: "bare node:http", url: bareNode.url, charged: [bareNode.process] },
    ...(caddy === undefined ? [] : [{ key: "f", label: "caddy", url: caddy.url, charged: [caddy.process] }]),
    ...(unguarded === undefined ? [] : [{ key: "g", label: "rampart http, no guard configured", url: unguarded.httpUrl, charged: [unguarded.process] }]),
    { key: "h", label: "bare node:http over https", url: bareHttps.url, charged: [bareHttps.process] },
  ];
  const summaries = await runRounds(load, targets, roundOptions(settings, settings.rounds));
  const s = (key: string) => summaries[key]!;
  const ratios: Ratio[] = [
    { name: "b/a req/s", value: ratio(s("b").rps, s("a").rps), note: "bare proxy ÷ backend" },
    { name: "c/b req/s", value: ratio(s("c").rps, s("b").rps), goal: { min: 0.9 }, note: "Rampart ÷ bare http-proxy-3" },
    { name: "c/b CPU per request", value: ratio(s("c").cpuUsPerRequest, s("b").cpuUsPerRequest), goal: { max: 1.1 }, note: "Rampart ÷ bare http-proxy-3" },
    { name: "c/b p99", value: ratio(s("c").p99Ms, s("b").p99Ms), goal: { max: 1.2 }, note: "Rampart ÷ bare http-proxy-3, 50 connections" },
    { name: "d/c req/s", value: ratio(s("d").rps, s("c").rps), note: "TLS cost: HTTPS ÷ HTTP" },
    { name: "d/c CPU per request", value: ratio(s("d").cpuUsPerRequest, s("c").cpuUsPerRequest), goal: { max: 1.1 }, note: "TLS cost: HTTPS ÷ HTTP (reused connections)" },
    { name: "h/e CPU per request", value: ratio(s("h").cpuUsPerRequest, s("e").cpuUsPerRequest), note: "bare node:http, HTTPS ÷ HTTP: the floor under d/c" },
    { name: "c/e CPU per request", value: ratio(s("c").cpuUsPerRequest, s("e").cpuUsPerRequest), note: "Rampart ÷ bare node:http" },
    ...(unguarded === undefined ? [] : [{ name: "g/b CPU per request", value: ratio(s("g").cpuUsPerRequest, s("b").cpuUsPerRequest), goal: { max: 1.05 }, note: "Rampart, no guard configured ÷ bare http-proxy-3" }]),
    ...(caddy === undefined ? [] : [{ name: "c/f CPU per request", value: ratio(s("c").cpuUsPerRequest, s("f").cpuUsPerRequest), goal: { max: 1 }, note: "Rampart ÷ Caddy (stretch goal)" }]),
  ];
  printTable(`core (${settings.rounds} rounds)`, summaries);
  const notes: string[] = [];
  const paced = await atFixedRate(targets.filter((target) => ["b", "c", "e", "g"].includes(target.key)), dir, settings, notes);
  if (paced !== undefined) {
    const p = (key: string) => paced[key]?.cpuUsPerRequest;
    ratios.push(
      { name: "fixed rate: c/b CPU per request", value: ratio(p("c"), p("b")), goal: { max: 1.1 }, note: `Rampart ÷ bare http-proxy-3, both at ${FIXED_RATE} requests/s` },
      { name: "fixed rate: g/b CPU per request", value: ratio(p("g"), p("b")), goal: { max: 1.05 }, note: `Rampart, no guard configured ÷ bare http-proxy-3, at ${FIXED_RATE} requests/s` },
      { name: "fixed rate: c/e CPU per request", value: ratio(p("c"), p("e")), note: `Rampart ÷ bare node:http, at ${FIXED_RATE} requests/s` },
    );
  }
  printRatios("core ratios", ratios);

  const failures = failedTargets(summaries);
  if (failures.length > 0) notes.push(`non-2xx responses or socket errors at ${failures.map((key) => `(${key})`).join(", ")}: those figures do not measure the proxy path`);
  let accessLogBytes: number | null = null;
  try {
    accessLogBytes = statSync(accessLog).size;
  } catch {
    // e.g. /dev/null
  }
  if (accessLogBytes === 0) notes.push("Rampart wrote no access log");
  return {
    title: "core",
    rounds: settings.rounds,
    targets: summaries,
    ratios,
    details: { backend: backend.kind, guards, accessLog: { file: accessLog, bytes: accessLogBytes }, fixedRate: paced === undefined ? null : { rps: FIXED_RATE, targets: paced } },
    notes,
  };
}

/** Requests per second of the fixed-rate runs: below what every plain-HTTP target here sustains. */
const FIXED_RATE = 2_500;
const FIXED_RATE_CONNECTIONS = 50;

async function atFixedRate(targets: readonly Target[], dir: string, settings: ScenarioContext["settings"], notes: string[]): Promise<Record<string, Summary> | undefined> {
  if (h2loadBinary() === undefined) {
    notes.push("fixed-rate runs skipped: h2load is not installed (apt-get install -y nghttp2-client)");
    return undefined;
  }
  const paced = targets.map((target) => ({
    ...target,
    label: `${target.label} at ${FIXED_RATE}/s`,
    load: h2loadGenerator({
      label: target.label,
      protocol: "http/1.1" as const,
      clients: FIXED_RATE_CONNECTIONS,
      streams: 1,
      rps: FIXED_RATE / FIXED_RATE_CONNECTIONS,
      logFile: path.join(dir, `fixed-rate-${target.key}.log`),
    }).load,
  }));
  const summaries = await runRounds(paced[0]!.load!, paced, roundOptions(settings, settings.rounds));
  printTable(`core at a fixed rate (${FIXED_RATE} requests/s, ${FIXED_RATE_CONNECTIONS} connections, ${settings.rounds} rounds)`, summaries);
  return summaries;
}

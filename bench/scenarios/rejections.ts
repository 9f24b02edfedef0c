// Rejections (performance goal 2): what Rampart spends answering 429, 404 and 403, and closing a
// denylisted address at accept, against what it spends proxying, in one Rampart with every guard of
// core on. Keep-alive, wrk with 50 connections: (a) a proxied GET, (b) 429 over a route's limit, (c) 404
// no route, (d) 403 to a denylisted client named by a trusted proxy's X-Forwarded-For, and (e) a bare
// Node server answering the same 429 by itself (no gateway at all: the floor under any rejection on
// Node). A new connection per request (bench/connect-load.ts, 16 loops): (f) a proxied GET with
// `Connection: close` from 127.0.0.1, (g) connections from 127.0.0.2, which is denylisted: closed at
// accept, never read, and (h) the same against a bare Node front listener that destroys 127.0.0.2's
// connections at accept (the floor under (g)). Every rejection target is checked to answer its status first, and every answer
// of the measured runs to be that status.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chooseLoadGenerator, type LoadGenerator, type LoadResult } from "../load.js";
import { runRounds, type Summary, type Target } from "../measure.js";
import { freePort, runLoadScript } from "../processes.js";
import { BREAKER } from "../rampart-config.js";
import { printRatios, printTable, ratio, type Ratio } from "../report.js";
import { roundOptions, type ScenarioContext, type ScenarioResult } from "../scenario.js";
import { rampartPorts, startBackends, startBareProxy, startRampart } from "../targets.js";

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench/scenarios
const DENIED_CLIENT = "127.0.0.2";
const DENIED_FORWARDED = "203.0.113.7";
const FRESH_LOOPS = 16;

export async function runRejections({ load, dir, settings }: ScenarioContext): Promise<ScenarioResult> {
  const [backendPort, answerPort, refusePort] = await Promise.all([freePort(), freePort(), freePort()]);
  const backend = await startBackends(dir, [backendPort]);
  const answer = await startBareProxy(dir, answerPort, backend.urls[0]!, "answer");
  const refuse = await startBareProxy(dir, refusePort, backend.urls[0]!, "refuse");
  const rampart = await startRampart(dir, {
    name: "rampart",
    ports: await rampartPorts(),
    targets: backend.urls,
    edgeGuards: true,
    healthCheck: "{ path: /, interval: 5s, timeout: 2s }",
    circuitBreaker: BREAKER,
    retry: "{ attempts: 2 }",
    denylist: ["203.0.113.0/24", `${DENIED_CLIENT}/32`],
    trustedProxies: ["127.0.0.1/32"],
    rateLimits: { once: "{ limit: 1, window: 1h, key: ip }" },
    routes: [
      { name: "proxied", pathPrefix: "/proxied" },
      { name: "limited", pathPrefix: "/limited", rateLimit: "once" },
    ],
    readyPath: "/proxied",
  });
  const origin = rampart.httpUrl.replace(/\/$/, "");
  const port = Number(new URL(origin).port);
  const forwarded = chooseLoadGenerator({ "x-forwarded-for": DENIED_FORWARDED });
  const expected: Readonly<Record<string, { readonly status: number; readonly headers?: Record<string, string> }>> = {
    b: { status: 429 },
    c: { status: 404 },
    d: { status: 403, headers: { "x-forwarded-for": DENIED_FORWARDED } },
    e: { status: 429 },
  };
  const targets: readonly Target[] = [
    { key: "a", label: "rampart, proxied", url: `${origin}/proxied`, charged: [rampart.process] },
    { key: "b", label: "rampart, 429 over a limit", url: `${origin}/limited`, charged: [rampart.process] },
    { key: "c", label: "rampart, 404 no route", url: `${origin}/nowhere`, charged: [rampart.process] },
    { key: "d", label: "rampart, 403 denylisted via a trusted proxy", url: `${origin}/proxied`, charged: [rampart.process], load: forwarded },
    { key: "e", label: "bare node:http answering 429", url: answer.url, charged: [answer.process] },
    {
      key: "f",
      label: "rampart, proxied, new connection each",
      url: `${origin}/proxied`,
      charged: [rampart.process],
      load: connectionGenerator({ port, localAddress: "127.0.0.1", request: `GET /proxied HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n` }),
    },
    { key: "g", label: "rampart, denylisted, closed at accept", url: origin, charged: [rampart.process], load: connectionGenerator({ port, localAddress: DENIED_CLIENT }) },
    { key: "h", label: "bare node:net closing at accept", url: refuse.url, charged: [refuse.process], load: connectionGenerator({ port: refusePort, localAddress: DENIED_CLIENT }) },
  ];
  for (const [key, { status, headers }] of Object.entries(expected)) {
    const target = targets.find((candidate) => candidate.key === key)!;
    // The first request to /limited is admitted (limit 1): ask twice.
    await fetch(target.url, { headers });
    const answered = (await fetch(target.url, { headers })).status;
    if (answered !== status) throw new Error(`(${key}) ${target.label}: answered ${answered}, expected ${status}`);
  }

  const summaries = await runRounds(load, targets, roundOptions(settings, settings.rounds));
  checkOutcomes(summaries, expected);
  const cpu = (key: string) => summaries[key]!.cpuUsPerRequest;
  const ratios: Ratio[] = [
    { name: "b/a CPU per request", value: ratio(cpu("b"), cpu("a")), goal: { max: 0.35 }, note: "429 over a limit ÷ a proxied request" },
    { name: "c/a CPU per request", value: ratio(cpu("c"), cpu("a")), goal: { max: 0.35 }, note: "404 no route ÷ a proxied request" },
    { name: "d/a CPU per request", value: ratio(cpu("d"), cpu("a")), goal: { max: 0.35 }, note: "403 denylisted via a trusted proxy ÷ a proxied request" },
    { name: "e/a CPU per request", value: ratio(cpu("e"), cpu("a")), note: "bare Node answering the 429 ÷ Rampart proxying: the floor under the three above" },
    { name: "g/f CPU per connection", value: ratio(cpu("g"), cpu("f")), goal: { max: 0.1 }, note: "closed at accept ÷ a proxied request on a new connection" },
    { name: "h/f CPU per connection", value: ratio(cpu("h"), cpu("f")), note: "bare Node closing at accept ÷ Rampart proxying on a new connection: the floor under the one above" },
  ];
  printTable(`rejections (${settings.rounds} rounds; f, g and h: CPU µs per connection)`, summaries);
  printRatios("rejections ratios", ratios);
  return { title: "rejections", rounds: settings.rounds, targets: summaries, ratios, details: { freshLoops: FRESH_LOOPS }, notes: [] };
}

/** Keep-alive targets answer only their status (wrk counts every non-2xx); connection targets never fail. */
function checkOutcomes(summaries: Readonly<Record<string, Summary>>, expected: Readonly<Record<string, { readonly status: number }>>): void {
  for (const [key, summary] of Object.entries(summaries)) {
    const requests = summary.samples.reduce((sum, sample) => sum + sample.requests, 0);
    const rejecting = expected[key] !== undefined;
    if (summary.errors > 0 || summary.non2xx !== (rejecting ? requests : 0)) {
      throw new Error(`(${key}) ${summary.label}: ${summary.non2xx} non-2xx of ${requests} answers, ${summary.errors} errors: not the path it measures`);
    }
  }
}

interface ConnectionOptions {
  readonly port: number;
  readonly localAddress: string;
  /** Written on each connection; without it the connection is expected to be closed at accept. */
  readonly request?: string;
}

/** A load generator whose "requests" are whole connections (bench/connect-load.ts on the load CPU). */
function connectionGenerator(connection: ConnectionOptions): LoadGenerator {
  return { name: "connections", run: (_url, seconds) => runConnections(connection, seconds) };
}

async function runConnections(connection: ConnectionOptions, seconds: number): Promise<LoadResult> {
  const spec = { host: "127.0.0.1", ...connection, seconds, concurrency: FRESH_LOOPS };
  const result = (await runLoadScript(path.join(here, "..", "connect-load.js"), spec, seconds)) as {
    connections: number;
    seconds: number;
    p50Ms: number;
    p99Ms: number;
    failed: number;
    firstFailure?: string;
  };
  if (result.failed > 0) throw new Error(`connect-load from ${connection.localAddress}: ${result.failed} of ${result.connections + result.failed} connections failed (first: ${result.firstFailure})`);
  return {
    requests: result.connections,
    seconds: result.seconds,
    rps: result.seconds > 0 ? result.connections / result.seconds : 0,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    non2xx: 0,
    errors: 0,
  };
}

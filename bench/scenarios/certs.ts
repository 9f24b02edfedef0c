// Certificates (issue 15): what TLS to targets, client certificates and on-demand TLS cost, and how long
// DNS-01 issuance takes, each against a baseline measured in this same run.
//   1. TLS to targets, wrk (or autocannon) over plain HTTP to Rampart, keep-alive on both sides, core's
//      configuration (every guard on unless BENCH_GUARDS=off); three Ramparts identical but for their one
//      service, measured in interleaved rounds, CPU per request the lowest across rounds:
//        (plain) an http:// target
//        (tls)   an https:// target whose certificate a private CA signed (`services.backend.tls.ca`)
//        (mtls)  the same with a client certificate (`tls.cert`/`tls.key`) the target requires
//      The targets are one node program (bench/tls-backend.ts) in its three modes, the same 100 bytes.
//   2. New TLS handshakes at the edge: bench/handshake-load.ts (HANDSHAKE_CONCURRENCY loops of tls.connect,
//      never resuming a session, TLS 1.3, SNI known.bench.test, ALPN http/1.1, ended at secureConnect) on
//      the load CPU against four Ramparts serving one static ECDSA P-256 certificate for that name:
//        (hs-plain)      no client auth
//        (hs-clientauth) tls.clientAuth optional, the client presenting a certificate the CA signed
//        (hs-acme)       tls.acme on (pebble), on-demand off
//        (hs-ondemand)   the same with tls.onDemand on (the name has a certificate: a Map lookup)
//      Handshakes per second per core = 1 / Rampart's CPU seconds per handshake (lowest across rounds).
//   3. On-demand first handshake: on (hs-ondemand), whose HTTP listener is pebble's HTTP-01 port, a
//      handshake for a new name the ask endpoint allows (the certificate is ordered from pebble during
//      the handshake; handshakeTimeout 9 s) vs one for the known name, ON_DEMAND_NAMES times interleaved;
//      medians, and each new certificate checked against pebble's root.
//   4. Issuance time: a fresh Rampart (new certDir and ACME account) ordering one certificate from pebble,
//      from spawning the process until an HTTPS handshake gets the issued certificate (polled every
//      50 ms): HTTP-01, DNS-01 with rfc2136 against BIND 9 (propagationInterval 100 ms), and a wildcard
//      over DNS-01; BENCH_ROUNDS interleaved rounds with new names, medians. Pebble validates against
//      that BIND (every name → 127.0.0.1) and runs with PEBBLE_VA_NOSLEEP=1 (no random 0–15 s pause).
// Parts 2 (acme and on-demand targets), 3 and 4 need pebble; part 4's DNS-01 needs BIND (`named`). What
// is missing is skipped with a note. Loopback only; every process is launched by PID and stopped.
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import net from "node:net";
import path from "node:path";
import { startBind, startPebble, type Bind, type Pebble } from "../acme-servers.js";
import { BODY } from "../body.js";
import { handshakeCounter, handshakeGenerator, handshakeOnce, perCore } from "../handshakes.js";
import { failedTargets, median, runRounds, type Summary, type Target } from "../measure.js";
import { makePki } from "../pki.js";
import { LOAD_CPU, PROXY_CPU, freePort, launch, sleep, stop, waitForHttp, type Managed } from "../processes.js";
import { BREAKER, rampartConfig, type RampartOptions } from "../rampart-config.js";
import { fmt, printRatios, printRows, printTable, ratio, type Ratio } from "../report.js";
import { fetchText, roundOptions, type ScenarioContext, type ScenarioResult } from "../scenario.js";
import { rampartCliPath, rampartPorts, repoRoot, startRampart, type Rampart } from "../targets.js";

/** Parallel handshake loops of the handshake load (one process on the load CPU). */
export const HANDSHAKE_CONCURRENCY = 16;
/** New names for the on-demand first-handshake figure. */
const ON_DEMAND_NAMES = 5;
const ZONE = "bench.test";
const KNOWN = `known.${ZONE}`;
const ISSUANCE_TIMEOUT_MS = 60_000;
const here = path.join(repoRoot, "dist/bench");

interface Backend {
  readonly url: string;
  readonly process: Managed;
}

async function waitForTcp(port: number, managed: Managed, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (managed.exited) throw new Error(`${managed.name} exited before listening on ${port}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`${managed.name} did not listen on ${port} within ${timeoutMs} ms`);
}

/** bench/tls-backend.ts: plain HTTP, HTTPS, or HTTPS requiring a client certificate. */
async function startTlsBackend(dir: string, name: string, tlsArgs: readonly string[]): Promise<Backend> {
  const port = await freePort();
  const managed = await launch({
    name,
    command: process.execPath,
    args: [path.join(here, "tls-backend.js"), String(port), ...tlsArgs],
    cpu: LOAD_CPU,
    stderrFile: path.join(dir, `${name}.err`),
  });
  await waitForTcp(port, managed);
  return { url: `${tlsArgs.length === 0 ? "http" : "https"}://127.0.0.1:${port}/`, process: managed };
}

/**
 * A Rampart spawned as startRampart does (config, CLI snapshot, pinned to the proxy CPU, log files), returned at
 * once: issuance is timed from here, and the caller waits and stops it by PID whatever happens.
 */
async function launchRampart(dir: string, options: RampartOptions): Promise<Managed> {
  const configFile = path.join(dir, `${options.name}.yaml`);
  writeFileSync(configFile, rampartConfig(dir, options));
  return launch({
    name: options.name,
    command: process.execPath,
    args: [rampartCliPath(), "start", "-c", configFile],
    cpu: PROXY_CPU,
    cwd: repoRoot,
    stdoutFile: path.join(dir, `${options.name}-access.log`),
    stderrFile: path.join(dir, `${options.name}.err`),
  });
}

/** The ask endpoint for on-demand TLS: allows names starting with "new-", counts every question. */
async function startAskServer(): Promise<{ url: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    const domain = new URL(req.url ?? "/", "http://ask").searchParams.get("domain") ?? "";
    hits.push(domain);
    res.writeHead(domain.startsWith("new-") ? 200 : 403).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/allowed`,
    hits,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** One HTTPS GET naming `servername`, with or without a client certificate; resolves the status. */
function httpsStatus(port: number, urlPath: string, servername: string, client?: { cert: string; key: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: "127.0.0.1", port, path: urlPath, servername, agent: false, rejectUnauthorized: false, timeout: 5_000, ...(client === undefined ? {} : { cert: readFileSync(client.cert), key: readFileSync(client.key) }) },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}


interface Issuance {
  readonly round: number;
  readonly kind: "http-01" | "dns-01" | "dns-01 wildcard";
  readonly domain: string;
  /** From spawning Rampart until it answered HTTP. */
  readonly readyMs: number;
  /** From spawning Rampart until a handshake got the issued certificate. */
  readonly servedMs: number;
  readonly polls: number;
}

export async function runCerts({ load, dir, settings }: ScenarioContext): Promise<ScenarioResult> {
  const notes: string[] = [];
  const details: Record<string, unknown> = { guards: settings.guards, handshakeConcurrency: HANDSHAKE_CONCURRENCY };
  const ratios: Ratio[] = [];
  const allSummaries: Record<string, Summary> = {};
  const q = JSON.stringify;

  // Certificates: the targets' private CA, the client certificate Rampart shows the mTLS target, the edge's
  // static certificate, and the edge's client CA with one client.
  const pki = makePki(path.join(dir, "pki"));
  const targetCa = pki.ca("targets");
  const target = pki.issue("target", "targets", { san: ["IP:127.0.0.1", "DNS:target.internal"] });
  const upstreamClientCa = pki.ca("upstream-clients");
  const rampartClient = pki.issue("rampart-client", "upstream-clients", { client: true });
  pki.ca("edge-ca");
  const edge = pki.issue("edge", "edge-ca", { san: [`DNS:${KNOWN}`, "DNS:localhost", "IP:127.0.0.1"] });
  const edgeClientCa = pki.ca("edge-clients");
  const alice = pki.issue("alice", "edge-clients", { client: true });
  const edgeCertificate = { certFile: edge.cert, keyFile: edge.key };

  // ---- 1. TLS to targets ----
  const plainBackend = await startTlsBackend(dir, "backend-plain", []);
  const tlsBackend = await startTlsBackend(dir, "backend-tls", [target.cert, target.key]);
  const mtlsBackend = await startTlsBackend(dir, "backend-mtls", [target.cert, target.key, upstreamClientCa]);
  const serviceGuards = settings.guards ? { healthCheck: "{ path: /, interval: 5s, timeout: 2s }", circuitBreaker: BREAKER, retry: "{ attempts: 2 }" } : {};
  const upstream = async (name: string, backend: Backend, tls?: string): Promise<Rampart> =>
    startRampart(dir, { name, ports: await rampartPorts(), targets: [backend.url], edgeGuards: settings.guards, ...serviceGuards, ...(tls === undefined ? {} : { tls }) });
  const plain = await upstream("rampart-plain", plainBackend);
  const toTls = await upstream("rampart-tls", tlsBackend, `{ ca: ${q(targetCa)} }`);
  const toMtls = await upstream("rampart-mtls", mtlsBackend, `{ ca: ${q(targetCa)}, cert: ${q(rampartClient.cert)}, key: ${q(rampartClient.key)} }`);
  // The mTLS target refuses a connection without Rampart's client certificate: a 200 shows it was sent.
  for (const rampart of [plain, toTls, toMtls]) {
    const body = await fetchText(rampart.httpUrl);
    if (body !== BODY) throw new Error(`${rampart.process.name} answered ${JSON.stringify(body.slice(0, 80))}, not the backend's body`);
  }
  const suffix = settings.guards ? "" : " (guards off)";
  const upstreamTargets: Target[] = [
    { key: "plain", label: `http:// target${suffix}`, url: plain.httpUrl, charged: [plain.process] },
    { key: "tls", label: `https:// target, private CA (tls.ca)${suffix}`, url: toTls.httpUrl, charged: [toTls.process] },
    { key: "mtls", label: `https:// target, private CA + client cert (mTLS)${suffix}`, url: toMtls.httpUrl, charged: [toMtls.process] },
  ];
  console.log("  1. TLS to targets (plain HTTP clients, keep-alive)");
  const upstreamSummaries = await runRounds(load, upstreamTargets, roundOptions(settings, settings.rounds));
  Object.assign(allSummaries, upstreamSummaries);
  printTable(`certs 1: TLS to targets (${settings.rounds} rounds, ${settings.connections} connections)`, upstreamSummaries);
  const u = (key: string) => upstreamSummaries[key];
  ratios.push(
    { name: "TLS target ÷ plain target, CPU per request", value: ratio(u("tls")?.cpuUsPerRequest, u("plain")?.cpuUsPerRequest), note: "services.*.tls.ca, keep-alive pool" },
    { name: "mTLS target ÷ plain target, CPU per request", value: ratio(u("mtls")?.cpuUsPerRequest, u("plain")?.cpuUsPerRequest), note: "tls.ca + cert/key" },
    { name: "TLS target ÷ plain target, req/s", value: ratio(u("tls")?.rps, u("plain")?.rps) },
  );
  const upstreamFailures = failedTargets(upstreamSummaries);
  if (upstreamFailures.length > 0) notes.push(`non-2xx responses or socket errors at ${upstreamFailures.map((key) => `(${key})`).join(", ")}: those figures do not measure the proxy path`);
  for (const rampart of [plain, toTls, toMtls]) await stop(rampart.process);
  await stop(tlsBackend.process);
  await stop(mtlsBackend.process);

  // ---- ACME servers (parts 2–4) ----
  const bind: Bind | undefined = await startBind(dir, ZONE);
  if (bind === undefined) notes.push("BIND (named) is not installed (apt-get install -y bind9): DNS-01 issuance skipped, pebble validates against pebble-challtestsrv");
  const pebble: Pebble | undefined = await startPebble(dir, bind?.server);
  if (pebble === undefined) notes.push("pebble is not installed (apt-get install -y pebble): the on-demand handshake ratio, the on-demand first handshake and issuance times are skipped");
  details.acme = { pebble: pebble !== undefined, bind: bind !== undefined, dnsServer: pebble?.dnsServer ?? null };
  const acmeKeys = (challenge: string, domains: readonly string[], dns?: string) =>
    `acme: { enabled: true, directoryUrl: ${q(pebble!.directoryUrl)}, caFile: ${q(pebble!.caFile)}, challenge: ${challenge}, domains: ${q(domains)}, checkInterval: 1h, retry: { initial: 1s, max: 5s }` +
    (dns === undefined ? "" : `, dns: ${dns}`) +
    " }";

  // ---- 2. New handshakes at the edge ----
  const ask = await startAskServer();
  const handshakeRampart = async (name: string, more: Partial<RampartOptions>): Promise<Rampart> =>
    startRampart(dir, { name, ports: await rampartPorts(), targets: [plainBackend.url], edgeGuards: false, certificate: edgeCertificate, ...more });
  const hsPlain = await handshakeRampart("rampart-hs-plain", {});
  const hsClientAuth = await handshakeRampart("rampart-hs-clientauth", {
    tlsKeys: [`clientAuth: { ca: ${q(edgeClientCa)}, mode: optional }`],
    routes: [
      { name: "all", pathPrefix: "/" },
      { name: "cert", pathPrefix: "/cert", requireClientCert: true },
    ],
  });
  const hsAcme = pebble === undefined ? undefined : await handshakeRampart("rampart-hs-acme", { tlsKeys: [acmeKeys("http-01", [])] });
  const hsOnDemand =
    pebble === undefined
      ? undefined
      : await handshakeRampart("rampart-hs-ondemand", {
          ports: { ...(await rampartPorts()), http: pebble.httpPort },
          tlsKeys: [acmeKeys("http-01", []), `onDemand: { enabled: true, ask: ${q(ask.url)}, suffixes: [${q(`.${ZONE}`)}], handshakeTimeout: 9s }`],
        });
  // Spot checks: the client certificate is accepted (a route requiring one answers 200 with it, 403 without).
  const withCert = await httpsStatus(Number(new URL(hsClientAuth.httpsUrl).port), "/cert", KNOWN, alice);
  const withoutCert = await httpsStatus(Number(new URL(hsClientAuth.httpsUrl).port), "/cert", KNOWN);
  if (withCert !== 200 || withoutCert !== 403) throw new Error(`tls.clientAuth spot check: /cert answered ${withCert} with the client certificate (want 200) and ${withoutCert} without (want 403)`);
  const handshakeRamparts = [hsPlain, hsClientAuth, ...(hsAcme === undefined ? [] : [hsAcme]), ...(hsOnDemand === undefined ? [] : [hsOnDemand])];
  for (const rampart of handshakeRamparts) {
    // Every handshake target serves the static certificate for the known name.
    const presented = await handshakeOnce(Number(new URL(rampart.httpsUrl).port), KNOWN, undefined);
    if (!presented.subjectaltname.includes(`DNS:${KNOWN}`)) throw new Error(`${rampart.process.name} presented ${presented.subjectaltname} for ${KNOWN}`);
  }
  const handshakeTarget = (key: string, label: string, rampart: Rampart, client?: { cert: string; key: string }): Target => ({
    key,
    label,
    url: `tls://127.0.0.1:${new URL(rampart.httpsUrl).port}`,
    charged: [rampart.process],
    counters: [handshakeCounter(rampart, "ok"), handshakeCounter(rampart, "failed")],
    load: handshakeGenerator({ servername: KNOWN, concurrency: HANDSHAKE_CONCURRENCY, ...(client === undefined ? {} : { client }) }),
  });
  const handshakeTargets: Target[] = [
    handshakeTarget("hs-plain", "no client auth", hsPlain),
    handshakeTarget("hs-clientauth", "clientAuth optional, client cert presented", hsClientAuth, alice),
    ...(hsAcme === undefined ? [] : [handshakeTarget("hs-acme", "acme on, on-demand off", hsAcme)]),
    ...(hsOnDemand === undefined ? [] : [handshakeTarget("hs-ondemand", "acme on, on-demand on (known name)", hsOnDemand)]),
  ];
  console.log(`  2. new TLS handshakes (TLS 1.3, no resumption, ${HANDSHAKE_CONCURRENCY} loops, SNI ${KNOWN})`);
  const handshakeSummaries = await runRounds(load, handshakeTargets, roundOptions(settings, settings.rounds));
  Object.assign(allSummaries, handshakeSummaries);
  const h = (key: string) => handshakeSummaries[key];
  printTable(`certs 2: new TLS handshakes (${settings.rounds} rounds; "req/s" = handshakes/s, latency = handshake)`, handshakeSummaries, [
    { title: "handshakes/s per core", cell: (key) => fmt.int(perCore(h(key)) ?? 0) },
    { title: "ok, failed per handshake (Rampart)", cell: (key) => `${(h(key)?.perRequest["handshakes ok"] ?? Number.NaN).toFixed(3)}, ${(h(key)?.perRequest["handshakes failed"] ?? Number.NaN).toFixed(3)}` },
  ]);
  ratios.push(
    { name: "handshakes/s per core, clientAuth ÷ none", value: ratio(perCore(h("hs-clientauth")), perCore(h("hs-plain"))), note: "optional mode, client presents a certificate" },
    ...(hsOnDemand === undefined || hsAcme === undefined
      ? []
      : [{ name: "handshakes/s per core, on-demand on ÷ off", value: ratio(perCore(h("hs-ondemand")), perCore(h("hs-acme"))), goal: { min: 0.95 }, note: "names with a certificate (a Map lookup)" }]),
  );
  for (const key of Object.keys(handshakeSummaries)) {
    const summary = h(key)!;
    const failedPer = summary.perRequest["handshakes failed"] ?? 0;
    if (summary.errors > 0 || failedPer > 0.001) notes.push(`(${key}): ${summary.errors} handshakes failed at the client, ${failedPer.toFixed(4)} failed per handshake at Rampart`);
  }
  details.handshakes = {
    perCore: Object.fromEntries(Object.keys(handshakeSummaries).map((key) => [key, perCore(h(key))])),
    clientCertRoute: { withCertificate: withCert, without: withoutCert },
    askQuestionsDuringRounds: ask.hits.length,
  };
  if (ask.hits.length > 0) notes.push(`the ask endpoint was asked ${ask.hits.length} times during the handshake rounds: known names should never reach it`);
  for (const rampart of [hsPlain, hsClientAuth, ...(hsAcme === undefined ? [] : [hsAcme])]) await stop(rampart.process);

  // ---- 3. On-demand first handshake ----
  if (pebble !== undefined && hsOnDemand !== undefined) {
    const port = Number(new URL(hsOnDemand.httpsUrl).port);
    const stamp = Date.now().toString(36);
    const rows: { name: string; knownMs: number; firstMs: number; againMs: number }[] = [];
    const issuedBefore = pebble.issued();
    for (let index = 1; index <= ON_DEMAND_NAMES; index++) {
      const name = `new-${stamp}-${index}.${ZONE}`;
      try {
        const known = await handshakeOnce(port, KNOWN, undefined);
        const first = await handshakeOnce(port, name, pebble.issuingRoot, 20_000);
        if (!first.authorized || first.subjectaltname !== `DNS:${name}`) {
          throw new Error(`the first handshake got ${first.subjectaltname || "no name"} (verified against pebble's root: ${first.authorized}) after ${first.ms.toFixed(0)} ms`);
        }
        const again = await handshakeOnce(port, name, pebble.issuingRoot);
        if (again.fingerprint256 !== first.fingerprint256) throw new Error("the second handshake got another certificate");
        rows.push({ name, knownMs: known.ms, firstMs: first.ms, againMs: again.ms });
      } catch (error) {
        notes.push(`on-demand ${name}: ${error instanceof Error ? error.message : String(error)} (left out of the medians)`);
      }
    }
    if (rows.length === 0) throw new Error("on-demand: no new name got its certificate in its first handshake (see the notes)");
    const knownMs = median(rows.map((row) => row.knownMs));
    const firstMs = median(rows.map((row) => row.firstMs));
    const againMs = median(rows.map((row) => row.againMs));
    console.log(`\ncerts 3: on-demand first handshake (${ON_DEMAND_NAMES} new names, HTTP-01 from pebble during the handshake)`);
    printRows(
      ["name", "known name ms", "first handshake ms", "second handshake ms"],
      rows.map((row) => [row.name, fmt.ms(row.knownMs), fmt.ms(row.firstMs), fmt.ms(row.againMs)]),
    );
    ratios.push(
      { name: "on-demand first handshake, median", value: Math.round(firstMs), unit: "ms", note: `${ON_DEMAND_NAMES} new names; the order from pebble inside the handshake` },
      { name: "handshake for a name with a certificate, median", value: Math.round(knownMs * 10) / 10, unit: "ms", note: "same Rampart, interleaved" },
      { name: "on-demand first ÷ known-name handshake", value: ratio(firstMs, knownMs) },
    );
    details.onDemand = { names: rows, medianMs: { known: knownMs, first: firstMs, second: againMs }, issued: pebble.issued() - issuedBefore, askQuestions: ask.hits.length };
    await stop(hsOnDemand.process);
  }
  await ask.close();

  // ---- 4. Issuance time ----
  if (pebble !== undefined) {
    const issuances: Issuance[] = [];
    const stamp = Date.now().toString(36);
    const kinds: Issuance["kind"][] = bind === undefined ? ["http-01"] : ["http-01", "dns-01", "dns-01 wildcard"];
    for (let round = 1; round <= settings.rounds; round++) {
      for (const kind of kinds) {
        const label = kind === "http-01" ? "h" : kind === "dns-01" ? "d" : "w";
        const base = `${label}${round}-${stamp}.${ZONE}`;
        const domain = kind === "dns-01 wildcard" ? `*.${base}` : base;
        const sni = kind === "dns-01 wildcard" ? `a.${base}` : base;
        const dns =
          kind === "http-01"
            ? undefined
            : `{ provider: rfc2136, rfc2136: { server: ${q(bind!.server)}, keyName: ${q(bind!.keyName)}, algorithm: hmac-sha256, secret: ${q(bind!.secret)} }, ` +
              `resolvers: [${q(bind!.server)}], propagationInterval: 100ms, propagationTimeout: 20s }`;
        const ports = await rampartPorts();
        const options: RampartOptions = {
          name: `rampart-issue-${label}${round}`,
          ports: kind === "http-01" ? { ...ports, http: pebble.httpPort } : ports,
          targets: [plainBackend.url],
          edgeGuards: false,
          tlsKeys: [acmeKeys(kind === "http-01" ? "http-01" : "dns-01", [domain], dns)],
        };
        const spawned = Date.now();
        const rampart = await launchRampart(dir, options);
        let readyMs = Number.NaN;
        let polls = 0;
        let servedMs: number | undefined;
        try {
          await waitForHttp(`http://127.0.0.1:${options.ports.http}/`, rampart, ISSUANCE_TIMEOUT_MS);
          readyMs = Date.now() - spawned;
          const httpsPort = options.ports.https;
          while (Date.now() - spawned < ISSUANCE_TIMEOUT_MS) {
            polls += 1;
            const presented = await handshakeOnce(httpsPort, sni, pebble.issuingRoot, 5_000).catch(() => undefined);
            if (presented?.authorized === true && presented.subjectaltname === `DNS:${domain}`) {
              servedMs = Date.now() - spawned;
              break;
            }
            if (rampart.exited) break;
            await sleep(50);
          }
          if (servedMs === undefined) throw new Error(`no certificate for ${domain} served within ${ISSUANCE_TIMEOUT_MS / 1_000} s (see ${path.join(dir, `${options.name}-access.log`)})`);
        } catch (error) {
          notes.push(`issuance round ${round} ${kind}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)} (left out of the medians)`);
          continue;
        } finally {
          await stop(rampart);
        }
        console.log(`  round ${round}/${settings.rounds} ${kind} ${domain}: answering HTTP after ${readyMs} ms, certificate served after ${servedMs} ms`);
        issuances.push({ round, kind, domain, readyMs, servedMs, polls });
      }
    }
    const medianOf = (kind: Issuance["kind"], field: "readyMs" | "servedMs") => {
      const values = issuances.filter((entry) => entry.kind === kind).map((entry) => entry[field]);
      return values.length === 0 ? null : median(values);
    };
    console.log(`\ncerts 4: issuance time from spawning Rampart (${settings.rounds} rounds, medians)`);
    printRows(
      ["challenge", "answering HTTP ms", "certificate served ms"],
      kinds.map((kind) => [kind, fmt.int(medianOf(kind, "readyMs") ?? 0), fmt.int(medianOf(kind, "servedMs") ?? 0)]),
    );
    for (const kind of kinds) ratios.push({ name: `issuance, ${kind}, start to served (median)`, value: medianOf(kind, "servedMs"), unit: "ms" });
    if (bind !== undefined) {
      ratios.push(
        { name: "issuance DNS-01 (rfc2136) ÷ HTTP-01", value: ratio(medianOf("dns-01", "servedMs"), medianOf("http-01", "servedMs")) },
        { name: "issuance DNS-01 wildcard ÷ HTTP-01", value: ratio(medianOf("dns-01 wildcard", "servedMs"), medianOf("http-01", "servedMs")) },
      );
    }
    details.issuance = { propagationInterval: "100ms", pollMs: 50, runs: issuances };
  }

  printRatios("certs figures", ratios, { name: "figure", note: "what" });
  return { title: "certs", rounds: settings.rounds, targets: allSummaries, ratios, details, notes };
}

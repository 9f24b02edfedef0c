// Session resumption (performance goal 5): new TLS connections per second per core with session
// resumption (TLS 1.3 session tickets), measured and compared with nginx in the same run. A returning
// client that offers a ticket spares the server its certificate and the signature over the handshake;
// the key exchange stays (TLS 1.3 resumes with psk_dhe_ke, a fresh X25519 exchange, unless a client asks
// for psk_ke only, which Node's does not), so a resumed handshake costs less, not nothing. This scenario
// measures how much less for Rampart and for nginx on the same certificate, and how the two servers
// compare on each kind.
//
// bench/handshake-load.ts (HANDSHAKE_CONCURRENCY loops of tls.connect, TLS 1.3, SNI resume.bench.test,
// ALPN http/1.1, no HTTP request) runs on the load CPU against two servers pinned to the proxy CPU, both
// serving one ECDSA P-256 certificate made with openssl for this run:
//   Rampart   one worker (`workers: 1`, started by the CLI as every bench Rampart is; its process tree is
//             charged), the certificate as a static `tls.certificates` entry, no self-signed one, no edge
//             guards (as certs' handshake targets; nginx has none either); Node's defaults for tickets
//             (on, keys random per process). Its one service points at a backend as core's
//             (startBackends), which start-up needs and no handshake reaches.
//   nginx     Debian's nginx, one worker, `ssl_session_tickets on` (the default, written out; keys random
//             per start, no ssl_session_cache), answering `return 200` by itself; master and worker are
//             both charged. Skipped with a note when nginx is not installed.
// Four targets in interleaved rounds (settings.rounds, settings.warmup + settings.duration each):
//   (rampart-full)    full handshakes: no loop offers a session; the run fails if any handshake resumed
//   (rampart-resumed) resumed handshakes: each loop offers its next connection the newest session
//                     ticket it got (the 'session' event, which TLS 1.3 fires after the handshake: a loop's
//                     first connection is ended as its first ticket arrives, the resumed ones at
//                     secureConnect); a server that sends no new ticket on a resumed connection (Node's,
//                     hence Rampart's) gets the same ticket again. The run fails unless at least
//                     MIN_RESUMED_SHARE of the handshakes after each loop's first were resumed
//   (nginx-full), (nginx-resumed)  the same against nginx
// A resumed run's first HANDSHAKE_CONCURRENCY handshakes (one per loop) are full ones: a few in thousands,
// charged to the resumed figure, which they make slightly pessimistic.
// Handshakes per second per core = 1e6 ÷ the server's lowest CPU µs per handshake across rounds. Before
// the rounds, a spot check on each server: a full handshake gets a ticket, the next connection offering
// it is resumed, both over TLS 1.3 with ALPN http/1.1 and the certificate for the name; the negotiated
// cipher and the tickets sent per connection are reported. No numeric goal: the issue asks for the figure
// measured and compared with nginx.
import path from "node:path";
import tls from "node:tls";
import { handshakeCounter, handshakeGenerator, MIN_RESUMED_SHARE, perCore } from "../handshakes.js";
import { runRounds, type Counter, type Target } from "../measure.js";
import { makePki } from "../pki.js";
import { freePort, type Managed } from "../processes.js";
import { fmt, printRatios, printRows, printTable, ratio, type Ratio } from "../report.js";
import { roundOptions, type ScenarioContext, type ScenarioResult } from "../scenario.js";
import { rampartPorts, startBackends, startNginxTlsServer, startRampart } from "../targets.js";
import { HANDSHAKE_CONCURRENCY } from "./certs.js";

const SERVERNAME = "resume.bench.test";
/** Spot check: how long after secureConnect a connection keeps reading for session tickets. */
const TICKET_SETTLE_MS = 100;

/** What one spot-check connection saw. */
interface Connection {
  readonly protocol: string | null;
  readonly cipher: string;
  readonly alpn: string | false | null;
  readonly resumed: boolean;
  readonly subjectaltname: string;
  /** Session tickets received within TICKET_SETTLE_MS of the handshake. */
  readonly tickets: number;
  /** The last ticket, to offer to the next connection. */
  readonly session: Buffer | undefined;
}

function connectOnce(port: number, session: Buffer | undefined): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const tickets: Buffer[] = [];
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername: SERVERNAME,
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
      ...(session === undefined ? {} : { session }),
    });
    socket.on("session", (ticket: Buffer) => tickets.push(ticket));
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no handshake with 127.0.0.1:${port} within 5 s`)));
    socket.on("error", reject);
    socket.once("secureConnect", () => {
      setTimeout(() => {
        resolve({
          protocol: socket.getProtocol(),
          cipher: socket.getCipher().standardName,
          alpn: socket.alpnProtocol,
          resumed: socket.isSessionReused(),
          subjectaltname: socket.getPeerCertificate().subjectaltname ?? "",
          tickets: tickets.length,
          session: tickets.at(-1),
        });
        socket.end();
      }, TICKET_SETTLE_MS);
    });
  });
}

interface SpotCheck {
  readonly protocol: string;
  readonly cipher: string;
  readonly ticketsAfterFull: number;
  readonly ticketsAfterResumed: number;
}

/** A full handshake that gets a ticket, then one offering it that must be resumed: TLS 1.3, ALPN http/1.1, the certificate for SERVERNAME. */
async function checkResumption(label: string, port: number): Promise<SpotCheck> {
  const full = await connectOnce(port, undefined);
  const problems: string[] = [];
  if (full.protocol !== "TLSv1.3") problems.push(`negotiated ${full.protocol ?? "no protocol"}, not TLSv1.3`);
  if (full.alpn !== "http/1.1") problems.push(`ALPN chose ${full.alpn || "nothing"}, not http/1.1`);
  if (!full.subjectaltname.includes(`DNS:${SERVERNAME}`)) problems.push(`presented a certificate for ${full.subjectaltname || "no name"}`);
  if (full.resumed) problems.push("resumed a handshake that offered no session");
  if (full.session === undefined) problems.push(`sent no session ticket within ${TICKET_SETTLE_MS} ms of a full handshake`);
  if (problems.length > 0) throw new Error(`resumption spot check, ${label}: ${problems.join("; ")}`);
  const resumed = await connectOnce(port, full.session);
  if (!resumed.resumed) throw new Error(`resumption spot check, ${label}: a connection offering the ticket of the previous one was not resumed (a full handshake)`);
  if (resumed.protocol !== "TLSv1.3") throw new Error(`resumption spot check, ${label}: the resumed connection negotiated ${resumed.protocol ?? "no protocol"}`);
  return { protocol: resumed.protocol, cipher: full.cipher, ticketsAfterFull: full.tickets, ticketsAfterResumed: resumed.tickets };
}


const rounded = (value: number | null): number | null => (value === null ? null : Math.round(value));

export async function runResumption({ load, dir, settings }: ScenarioContext): Promise<ScenarioResult> {
  const notes: string[] = [];
  const details: Record<string, unknown> = { handshakeConcurrency: HANDSHAKE_CONCURRENCY, servername: SERVERNAME, minResumedShare: MIN_RESUMED_SHARE };

  // One ECDSA P-256 certificate, signed by a throwaway CA, served by both servers.
  const pki = makePki(path.join(dir, "pki"));
  pki.ca("edge-ca");
  const edge = pki.issue("edge", "edge-ca", { san: [`DNS:${SERVERNAME}`, "DNS:localhost", "IP:127.0.0.1"] });
  const certificate = { certFile: edge.cert, keyFile: edge.key };

  const [backendPort, nginxPort] = await Promise.all([freePort(), freePort()]);
  const backend = await startBackends(dir, [backendPort]);
  const rampart = await startRampart(dir, { name: "rampart", ports: await rampartPorts(), targets: backend.urls, edgeGuards: false, certificate, selfSigned: false });
  const nginx = await startNginxTlsServer(dir, nginxPort, certificate);
  if (nginx === undefined) notes.push("nginx is not installed (apt-get install -y nginx): (nginx-full) and (nginx-resumed) skipped, no Rampart ÷ nginx ratios");
  details.nginx = nginx?.version ?? null;

  const servers: { readonly name: string; readonly port: number; readonly process: Managed; readonly counters: readonly Counter[] }[] = [
    { name: "rampart", port: Number(new URL(rampart.httpsUrl).port), process: rampart.process, counters: [handshakeCounter(rampart, "ok"), handshakeCounter(rampart, "failed")] },
    ...(nginx === undefined ? [] : [{ name: "nginx", port: nginxPort, process: nginx.process, counters: [] }]),
  ];
  const spotChecks: Record<string, SpotCheck> = {};
  for (const server of servers) spotChecks[server.name] = await checkResumption(server.name, server.port);
  details.spotChecks = spotChecks;
  console.log(
    `  spot checks: ${Object.entries(spotChecks)
      .map(([name, check]) => `${name} ${check.protocol} ${check.cipher}, tickets per connection ${check.ticketsAfterFull} (full) / ${check.ticketsAfterResumed} (resumed), a ticket resumes`)
      .join("; ")}`,
  );
  for (const [name, check] of Object.entries(spotChecks)) {
    if (check.ticketsAfterResumed === 0) {
      notes.push(
        `${name} sends no new session ticket on a resumed connection: the load offers the same ticket again; a client using each TLS 1.3 ticket once ` +
          `(as RFC 8446 C.4 advises clients to) gets a full handshake once the ${check.ticketsAfterFull} tickets of its last full handshake are spent`,
      );
    }
  }
  const ciphers = new Set(Object.values(spotChecks).map((check) => check.cipher));
  if (ciphers.size > 1) notes.push(`the servers negotiated different ciphers (${[...ciphers].join(", ")}): the comparison is not like for like`);

  const targets: Target[] = [];
  for (const server of servers) {
    for (const resume of [false, true]) {
      const generator = handshakeGenerator({ servername: SERVERNAME, concurrency: HANDSHAKE_CONCURRENCY, resume });
      const resumedCounter: Counter = { name: "resumed", read: () => Promise.resolve(generator.resumedSoFar()) };
      targets.push({
        key: `${server.name}-${resume ? "resumed" : "full"}`,
        label: `${server.name === "rampart" ? "Rampart" : (nginx?.version ?? "nginx")}, ${resume ? "resumed handshakes (ticket)" : "full handshakes"}`,
        url: `tls://127.0.0.1:${server.port}`,
        charged: [server.process],
        counters: [...server.counters, resumedCounter],
        load: generator,
      });
    }
  }
  console.log(`  new TLS connections (TLS 1.3, ${HANDSHAKE_CONCURRENCY} loops, SNI ${SERVERNAME}, ended at secureConnect or on the session ticket)`);
  const summaries = await runRounds(load, targets, roundOptions(settings, settings.rounds));
  const s = (key: string) => summaries[key];
  printTable(`resumption: new TLS connections per core (${settings.rounds} rounds; "req/s" = handshakes/s, latency = handshake)`, summaries, [
    { title: "handshakes/s per core", cell: (key) => fmt.int(perCore(s(key)) ?? 0) },
    { title: "resumed share", cell: (key) => (s(key)?.perRequest["resumed"] ?? Number.NaN).toFixed(3) },
    {
      title: "ok, failed per handshake (Rampart)",
      cell: (key) => (key.startsWith("rampart") ? `${(s(key)?.perRequest["handshakes ok"] ?? Number.NaN).toFixed(3)}, ${(s(key)?.perRequest["handshakes failed"] ?? Number.NaN).toFixed(3)}` : ""),
    },
  ]);

  const figure = (key: string, what: string): Ratio => ({
    name: what,
    value: rounded(perCore(s(key))),
    unit: "/s",
    note: `1e6 ÷ lowest CPU µs per handshake (${fmt.us(s(key)?.cpuUsPerRequest ?? null)} µs)`,
  });
  const ratios: Ratio[] = [
    figure("rampart-resumed", "Rampart resumed handshakes per core"),
    figure("rampart-full", "Rampart full handshakes per core"),
    ...(nginx === undefined ? [] : [figure("nginx-resumed", "nginx resumed handshakes per core"), figure("nginx-full", "nginx full handshakes per core")]),
    {
      name: "resumed ÷ full, Rampart, handshakes/s per core",
      value: ratio(perCore(s("rampart-resumed")), perCore(s("rampart-full"))),
      note: "how many more new connections a core takes when clients bring a ticket",
    },
    ...(nginx === undefined
      ? []
      : [
          { name: "resumed ÷ full, nginx, handshakes/s per core", value: ratio(perCore(s("nginx-resumed")), perCore(s("nginx-full"))), note: "the same for nginx" },
          { name: "Rampart ÷ nginx, resumed handshakes/s per core", value: ratio(perCore(s("rampart-resumed")), perCore(s("nginx-resumed"))), note: "same certificate, one worker each, master and worker charged" },
          { name: "Rampart ÷ nginx, full handshakes/s per core", value: ratio(perCore(s("rampart-full")), perCore(s("nginx-full"))), note: "same certificate, one worker each, master and worker charged" },
        ]),
  ];
  for (const key of Object.keys(summaries)) {
    const summary = s(key)!;
    const failedPer = summary.perRequest["handshakes failed"] ?? 0;
    if (summary.errors > 0 || failedPer > 0.001) notes.push(`(${key}): ${summary.errors} handshakes failed at the client${key.startsWith("rampart") ? `, ${failedPer.toFixed(4)} failed per handshake at Rampart` : ""}`);
  }
  details.perCore = Object.fromEntries(Object.keys(summaries).map((key) => [key, perCore(s(key))]));
  details.resumedShare = Object.fromEntries(Object.keys(summaries).map((key) => [key, s(key)?.perRequest["resumed"] ?? null]));

  console.log("\nresumption: what was compared");
  printRows(
    ["server", "protocol, cipher", "tickets per full / resumed connection"],
    Object.entries(spotChecks).map(([name, check]) => [name, `${check.protocol}, ${check.cipher}`, `${check.ticketsAfterFull} / ${check.ticketsAfterResumed}`]),
  );
  printRatios("resumption figures", ratios, { name: "figure", note: "what" });
  return { title: "resumption", rounds: settings.rounds, targets: summaries, ratios, details, notes };
}

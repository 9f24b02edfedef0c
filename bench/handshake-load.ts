// A TLS handshake load for the certs and resumption scenarios: `node dist/bench/handshake-load.js JSON`
// with {host, port, servername, seconds, concurrency, certFile?, keyFile?, resume?}. `concurrency` loops
// each open a new connection (TLS 1.3 by default), offer ALPN http/1.1, send SNI `servername` and, with
// certFile/keyFile, present a client certificate when asked; at secureConnect the connection is ended and,
// once closed, the next one opens.
//   Without `resume` (the default) tls.connect gets no `session`, so nothing is resumed: each handshake
//   is a full one.
//   With `resume: true` each loop keeps the newest session ticket it got (the 'session' event) and
//   offers it to its next connection (tls.connect `session`): its first handshake is a full one, the rest
//   should be resumed. TLS 1.3 tickets come after the handshake (NewSessionTicket, sent as the server
//   reads the client's Finished), so a connection with no ticket to keep yet (a loop's first, or one whose
//   offer was refused) is ended when its first 'session' event arrives, or after TICKET_WAIT_MS without
//   one. A resumed connection is ended at secureConnect like a full one; a new ticket the server sends on
//   it (nginx sends one; Node, hence Rampart, sends none on a resumed connection) still arrives before the
//   close and replaces the kept one, else the loop offers the same ticket again. Reusing a TLS 1.3 ticket
//   is what RFC 8446 C.4 advises clients against (for privacy) but servers accept; it keeps every
//   handshake after a loop's first a resumed one whatever the server's renewal policy.
// Stops itself after `seconds` and prints one JSON line: handshakes, seconds, p50/p99 handshake latency,
// failed handshakes, resumed sessions (socket.isSessionReused(); must be 0 without `resume`), and
// offered: handshakes that offered a session.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { percentile } from "./measure.js";
import tls from "node:tls";

interface Options {
  readonly host: string;
  readonly port: number;
  readonly servername: string;
  readonly seconds: number;
  readonly concurrency: number;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** Offer each loop's newest session ticket to its next connection. */
  readonly resume?: boolean;
}

/** With `resume`: how long a connection with no ticket to keep waits after secureConnect for one before ending without it. */
const TICKET_WAIT_MS = 200;

/** One handshake loop's state: the session its next connection offers (resume only). */
interface Loop {
  session: Buffer | undefined;
}

const options = JSON.parse(process.argv[2] ?? "{}") as Options;
if (!Number.isInteger(options.port) || !(options.seconds > 0) || !(options.concurrency > 0)) {
  console.error("usage: node dist/bench/handshake-load.js '{\"host\":\"127.0.0.1\",\"port\":8443,\"servername\":\"a.test\",\"seconds\":5,\"concurrency\":16}'");
  process.exit(2);
}
// One client context for every connection: the client's key is read and parsed once, not per handshake.
// Its session cache is not consulted (Node resumes only a session passed in explicitly).
const secureContext = tls.createSecureContext(
  options.certFile === undefined ? {} : { cert: readFileSync(options.certFile), key: readFileSync(options.keyFile ?? options.certFile) },
);

const latencies: number[] = [];
let failed = 0;
let resumed = 0;
let offered = 0;
let active = 0;
const started = performance.now();
const deadline = started + options.seconds * 1_000;

function finish(): void {
  const seconds = (performance.now() - started) / 1_000;
  const at = (p: number) => (latencies.length === 0 ? 0 : percentile(latencies, p));
  console.log(JSON.stringify({ handshakes: latencies.length, seconds, p50Ms: at(50), p99Ms: at(99), failed, resumed, offered }));
  process.exit(0);
}

function connectOnce(loop: Loop): void {
  if (performance.now() >= deadline) {
    active -= 1;
    if (active === 0) finish();
    return;
  }
  const begin = performance.now();
  let connected = false;
  let next = false;
  const session = options.resume === true ? loop.session : undefined;
  if (session !== undefined) offered += 1;
  const socket = tls.connect({
    host: options.host,
    port: options.port,
    servername: options.servername,
    secureContext,
    rejectUnauthorized: false,
    ALPNProtocols: ["http/1.1"],
    ...(session === undefined ? {} : { session }),
  });
  socket.setTimeout(10_000, () => socket.destroy(new Error("timeout")));
  if (options.resume === true) {
    let ticketWait: NodeJS.Timeout | undefined;
    let gotTicket = false;
    socket.on("session", (ticket: Buffer) => {
      loop.session = ticket;
      gotTicket = true;
      if (ticketWait !== undefined) {
        clearTimeout(ticketWait);
        ticketWait = undefined;
        socket.end();
      }
    });
    socket.once("secureConnect", () => {
      connected = true;
      latencies.push(performance.now() - begin);
      const reused = socket.isSessionReused();
      if (reused) resumed += 1;
      // A full handshake leaves the offered ticket (if any) refused: only a ticket from this connection is
      // kept. (TLS 1.2 sends its ticket within the handshake, TLS 1.3 after it.)
      if (!reused && !gotTicket) loop.session = undefined;
      if (loop.session !== undefined) socket.end();
      else
        ticketWait = setTimeout(() => {
          ticketWait = undefined;
          socket.end();
        }, TICKET_WAIT_MS);
    });
    socket.once("close", () => clearTimeout(ticketWait));
  } else {
    socket.once("secureConnect", () => {
      connected = true;
      latencies.push(performance.now() - begin);
      if (socket.isSessionReused()) resumed += 1;
      socket.end();
    });
  }
  socket.on("error", () => {
    if (!connected) failed += 1;
  });
  socket.once("close", () => {
    if (next) return;
    next = true;
    setImmediate(() => connectOnce(loop));
  });
}

for (let index = 0; index < options.concurrency; index++) {
  active += 1;
  connectOnce({ session: undefined });
}
// The backstop: never outlive the run by much, whatever the server does.
setTimeout(finish, (options.seconds + 15) * 1_000).unref();

// A TLS handshake load for the certs scenario: `node dist/bench/handshake-load.js JSON` with
// {host, port, servername, seconds, concurrency, certFile?, keyFile?}. `concurrency` loops each open a
// new connection (tls.connect without `session`, so nothing is resumed: each one is a full handshake,
// TLS 1.3 by default), offer ALPN http/1.1, send SNI `servername` and, with certFile/keyFile, present a
// client certificate when asked; at secureConnect the connection is ended and, once closed, the next
// one opens. Stops itself after `seconds` and prints one JSON line: handshakes, seconds, p50/p99 handshake
// latency, failed handshakes, and resumed sessions (must be 0).
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import tls from "node:tls";

interface Options {
  readonly host: string;
  readonly port: number;
  readonly servername: string;
  readonly seconds: number;
  readonly concurrency: number;
  readonly certFile?: string;
  readonly keyFile?: string;
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
let active = 0;
const started = performance.now();
const deadline = started + options.seconds * 1_000;

function finish(): void {
  const seconds = (performance.now() - started) / 1_000;
  latencies.sort((a, b) => a - b);
  const at = (p: number) => (latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))]!);
  console.log(JSON.stringify({ handshakes: latencies.length, seconds, p50Ms: at(50), p99Ms: at(99), failed, resumed }));
  process.exit(0);
}

function connectOnce(): void {
  if (performance.now() >= deadline) {
    active -= 1;
    if (active === 0) finish();
    return;
  }
  const begin = performance.now();
  let connected = false;
  let next = false;
  const socket = tls.connect({
    host: options.host,
    port: options.port,
    servername: options.servername,
    secureContext,
    rejectUnauthorized: false,
    ALPNProtocols: ["http/1.1"],
  });
  socket.setTimeout(10_000, () => socket.destroy(new Error("timeout")));
  socket.once("secureConnect", () => {
    connected = true;
    latencies.push(performance.now() - begin);
    if (socket.isSessionReused()) resumed += 1;
    socket.end();
  });
  socket.on("error", () => {
    if (!connected) failed += 1;
  });
  socket.once("close", () => {
    if (next) return;
    next = true;
    setImmediate(connectOnce);
  });
}

for (let index = 0; index < options.concurrency; index++) {
  active += 1;
  connectOnce();
}
// The backstop: never outlive the run by much, whatever the server does.
setTimeout(finish, (options.seconds + 15) * 1_000).unref();

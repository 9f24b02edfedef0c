// New TCP connections for the rejections scenario: `node dist/bench/connect-load.js JSON` with
// {host, port, localAddress, seconds, concurrency, request?}. `concurrency` loops each open a connection
// from `localAddress`; with `request` they write it (a whole HTTP/1.1 request asking `Connection: close`)
// and wait for the server to answer and close; without, they write nothing and wait for the server to
// close (a gate that refuses at accept). Then the next connection opens. Stops after `seconds` and prints
// one JSON line: connections completed, seconds, p50/p99 latency, failed (timeouts, or the wrong outcome:
// no `HTTP/1.1 200` with `request`, any byte without), and the first failure's reason.
import net from "node:net";
import { performance } from "node:perf_hooks";
import { percentile } from "./measure.js";

interface Options {
  readonly host: string;
  readonly port: number;
  readonly localAddress: string;
  readonly seconds: number;
  readonly concurrency: number;
  readonly request?: string;
}

const options = JSON.parse(process.argv[2] ?? "{}") as Options;
if (!Number.isInteger(options.port) || !(options.seconds > 0) || !(options.concurrency > 0) || typeof options.localAddress !== "string") {
  console.error('usage: node dist/bench/connect-load.js \'{"host":"127.0.0.1","port":8080,"localAddress":"127.0.0.2","seconds":5,"concurrency":16}\'');
  process.exit(2);
}

const latencies: number[] = [];
let failed = 0;
let firstFailure: string | undefined;
let active = 0;
const started = performance.now();
const deadline = started + options.seconds * 1_000;

function finish(): void {
  const seconds = (performance.now() - started) / 1_000;
  const at = (p: number) => (latencies.length === 0 ? 0 : percentile(latencies, p));
  console.log(JSON.stringify({ connections: latencies.length, seconds, p50Ms: at(50), p99Ms: at(99), failed, firstFailure }));
  process.exit(0);
}

function fail(reason: string): void {
  failed += 1;
  firstFailure ??= reason;
}

function connectOnce(): void {
  if (performance.now() >= deadline) {
    active -= 1;
    if (active === 0) finish();
    return;
  }
  const begin = performance.now();
  let received = "";
  let timedOut = false;
  const socket = net.connect({ host: options.host, port: options.port, localAddress: options.localAddress });
  socket.setEncoding("latin1");
  socket.setTimeout(10_000, () => {
    timedOut = true;
    socket.destroy();
  });
  if (options.request !== undefined) socket.once("connect", () => socket.write(options.request!));
  socket.on("data", (chunk: string) => (received += chunk));
  // A reset is how some closes at accept arrive; the outcome is judged at close either way.
  socket.on("error", () => {});
  socket.once("close", () => {
    if (timedOut) fail("timed out");
    else if (options.request !== undefined && !received.startsWith("HTTP/1.1 200")) fail(`answered ${JSON.stringify(received.slice(0, 40))}`);
    else if (options.request === undefined && received !== "") fail(`sent ${JSON.stringify(received.slice(0, 40))} where the connection should close at accept`);
    else latencies.push(performance.now() - begin);
    setImmediate(connectOnce);
  });
}

for (let index = 0; index < options.concurrency; index++) {
  active += 1;
  connectOnce();
}
// The backstop: never outlive the run by much, whatever the server does.
setTimeout(finish, (options.seconds + 15) * 1_000).unref();

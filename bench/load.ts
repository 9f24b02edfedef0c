// The load generator: wrk when installed (pinned to the load CPU), else autocannon in this process
// (which run.ts has pinned to the load CPU). Both report completed requests, req/s, p50 and p99.
import { spawn } from "node:child_process";
import { LOAD_CPU, pinned, track, which } from "./processes.js";

export interface LoadResult {
  /** Responses completed during the run (any status). */
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses outside 2xx/3xx: should be 0, or the figures do not measure the proxy path. */
  readonly non2xx: number;
  /** Connect, read, write errors and timeouts. */
  readonly errors: number;
}

/** The edges of a run's measured part, for a load generator that warms up within the same run. */
export interface MeasuredWindow {
  /** The measured part starts now: warm-up over, its connections open. */
  start(): void;
  /** The measured part is over. */
  end(): void;
}

export interface LoadGenerator {
  readonly name: "wrk" | "autocannon" | "h2load" | "tls-handshakes" | "connections";
  run(url: string, seconds: number, connections: number): Promise<LoadResult>;
  /**
   * One run that warms up for `warmup` s and then measures for `seconds` s on the same connections
   * (h2load --warm-up-time), calling `window.start()` and `window.end()` as the measured part begins and
   * ends; the result counts the measured part only. When a generator has it, runRounds uses it instead of
   * a separate warm-up run and samples CPU in those calls, so connection set-up (TLS handshakes) is not
   * charged to the requests.
   */
  runWindowed?(url: string, warmup: number, seconds: number, connections: number, window: MeasuredWindow): Promise<LoadResult>;
}

/** wrk or autocannon (BENCH_LOADGEN), sending `headers` with every request. */
export function chooseLoadGenerator(headers: Readonly<Record<string, string>> = {}): LoadGenerator {
  const forced = process.env.BENCH_LOADGEN;
  const wrk = forced === "autocannon" ? undefined : which("wrk");
  if (wrk !== undefined) return { name: "wrk", run: (url, seconds, connections) => runWrk(wrk, url, seconds, connections, headers) };
  if (forced === "wrk") throw new Error("BENCH_LOADGEN=wrk but wrk is not installed (apt-get install -y wrk)");
  return { name: "autocannon", run: (url, seconds, connections) => runAutocannon(url, seconds, connections, headers) };
}

async function runWrk(wrk: string, url: string, seconds: number, connections: number, headers: Readonly<Record<string, string>>): Promise<LoadResult> {
  const headerArgs = Object.entries(headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]);
  const [command, args] = pinned(LOAD_CPU, wrk, ["-t1", `-c${connections}`, `-d${seconds}s`, "--timeout", "5s", "--latency", ...headerArgs, url]);
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const managed = await track("wrk", child);
  // Bounded: wrk stops itself after `seconds`; this is the backstop.
  const killer = setTimeout(() => child.kill("SIGKILL"), (seconds + 30) * 1_000);
  await managed.exit;
  clearTimeout(killer);
  if (child.exitCode !== 0) throw new Error(`wrk exited with ${child.exitCode ?? child.signalCode}:\n${output}`);
  return parseWrk(output);
}

const TIME_UNITS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

function toMs(value: string | undefined, unit: string | undefined): number {
  const scale = TIME_UNITS[unit ?? ""];
  if (value === undefined || scale === undefined) return Number.NaN;
  return Number(value) * scale;
}

/** Parses `wrk --latency` output. Exported for checking by hand. */
export function parseWrk(output: string): LoadResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h)/.exec(output);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const p50 = /^\s*50(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(output);
  const p99 = /^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(output);
  if (!total || !rps || !p50 || !p99) throw new Error(`cannot parse wrk output:\n${output}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const errors = socket ? socket.slice(1).reduce((sum, count) => sum + Number(count), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  return {
    requests: Number(total[1]),
    seconds: toMs(total[2], total[3]) / 1_000,
    rps: Number(rps[1]),
    p50Ms: toMs(p50[1], p50[2]),
    p99Ms: toMs(p99[1], p99[2]),
    non2xx,
    errors,
  };
}

/** The part of autocannon's result used here (the package ships no types). */
interface AutocannonResult {
  readonly requests: { readonly average: number; readonly total: number };
  readonly latency: { readonly p50: number; readonly p99: number };
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly duration: number;
}

type Autocannon = (options: { url: string; connections: number; duration: number; headers: Readonly<Record<string, string>> }) => Promise<AutocannonResult>;

async function runAutocannon(url: string, seconds: number, connections: number, headers: Readonly<Record<string, string>>): Promise<LoadResult> {
  const moduleName = "autocannon";
  const autocannon = ((await import(moduleName)) as { default: Autocannon }).default;
  // autocannon skips certificate checks on https, as the self-signed certificate needs.
  const result = await autocannon({ url, connections, duration: seconds, headers });
  return {
    requests: result.requests.total,
    seconds: result.duration,
    rps: result.duration > 0 ? result.requests.total / result.duration : result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

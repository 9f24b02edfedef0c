// h2load (nghttp2-client) as a load generator for the h2 scenario: HTTP/2 with several streams per
// connection, or HTTP/1.1 (--h1), over TLS, optionally POSTing a file (gRPC frames). It warms up on the
// same connections within its run (--warm-up-time) and reports the edges of its measured part, so CPU
// samples leave connection set-up and TLS handshakes out. A run fails loudly, with h2load's output,
// when any request failed, errored or timed out, answered other than 2xx, or the protocol ALPN chose
// is not the one asked for. Latency percentiles come from h2load's per-request log (--log-file).
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import type { LoadGenerator, LoadResult, MeasuredWindow } from "./load.js";
import { percentile } from "./measure.js";
import { LOAD_CPU, pinned, pinning, track, which } from "./processes.js";

export interface H2loadSpec {
  /** Names the runs in errors. */
  readonly label: string;
  /** What ALPN must choose: h2, or http/1.1 (h2load --h1). */
  readonly protocol: "h2" | "http/1.1";
  /** Connections (-c). */
  readonly clients: number;
  /** Requests in flight per connection (-m): streams with h2; only 1 makes sense with HTTP/1.1 (more is pipelining). */
  readonly streams: number;
  /** Each request POSTs this file's bytes (-d). */
  readonly dataFile?: string;
  /** Extra request headers (-H), "name: value". */
  readonly headers?: readonly string[];
  /** h2load's per-request log (--log-file), rewritten by each run. */
  readonly logFile: string;
  /** Requests per second per connection (--rps): a fixed rate instead of as fast as the target answers. */
  readonly rps?: number;
}

/** What h2load's summary says about one run (its measured part). */
export interface H2loadSummary {
  readonly total: number;
  readonly started: number;
  readonly done: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly status: { readonly "2xx": number; readonly "3xx": number; readonly "4xx": number; readonly "5xx": number };
  readonly rps: number;
  /** "Application protocol:", e.g. h2 or http/1.1. */
  readonly alpn: string | null;
  readonly tlsProtocol: string | null;
  readonly cipher: string | null;
}

export interface H2load {
  readonly load: LoadGenerator;
  /** The command line a run executes (with the CPU pinning), for the report. */
  command(url: string, warmup: number, seconds: number): string;
  /** The summary of the latest run. */
  readonly last: H2loadSummary | undefined;
}

/** The h2load binary, or undefined when nghttp2-client is not installed. */
export function h2loadBinary(): string | undefined {
  return which("h2load");
}

export function h2loadArgs(spec: H2loadSpec, url: string, warmup: number, seconds: number): string[] {
  return [
    ...(spec.protocol === "http/1.1" ? ["--h1"] : []),
    "-t",
    "1",
    "-c",
    String(spec.clients),
    "-m",
    String(spec.streams),
    "-D",
    String(seconds),
    ...(warmup > 0 ? ["--warm-up-time", String(warmup)] : []),
    ...(spec.rps === undefined ? [] : ["--rps", String(spec.rps)]),
    ...(spec.dataFile === undefined ? [] : ["-d", spec.dataFile]),
    ...(spec.headers ?? []).flatMap((header) => ["-H", header]),
    "--log-file",
    spec.logFile,
    url,
  ];
}

/**
 * A load generator running `spec` with h2load pinned to the load CPU. Its connection count is the
 * spec's (the `connections` argument of run() is ignored): the h2 scenario fixes requests in flight.
 */
export function h2loadGenerator(spec: H2loadSpec): H2load {
  const binary = h2loadBinary();
  if (binary === undefined) throw new Error("h2load is not installed (apt-get install -y nghttp2-client)");
  let last: H2loadSummary | undefined;
  const runOnce = async (url: string, warmup: number, seconds: number, window: MeasuredWindow | undefined): Promise<LoadResult> => {
    const { result, summary } = await runH2load(binary, spec, url, warmup, seconds, window);
    last = summary;
    return result;
  };
  return {
    load: {
      name: "h2load",
      run: (url, seconds) => runOnce(url, 0, seconds, undefined),
      runWindowed: (url, warmup, seconds, _connections, window) => runOnce(url, warmup, seconds, window),
    },
    command: (url, warmup, seconds) => {
      const [command, args] = pinned(LOAD_CPU, binary, h2loadArgs(spec, url, warmup, seconds));
      return [command, ...args].map(shellWord).join(" ");
    },
    get last() {
      return last;
    },
  };
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const MEASURED_START = "Main benchmark duration is started";
const MEASURED_END = "Main benchmark duration is over";

async function runH2load(
  binary: string,
  spec: H2loadSpec,
  url: string,
  warmup: number,
  seconds: number,
  window: MeasuredWindow | undefined,
): Promise<{ result: LoadResult; summary: H2loadSummary }> {
  rmSync(spec.logFile, { force: true });
  const [command, args] = pinned(LOAD_CPU, binary, h2loadArgs(spec, url, warmup, seconds));
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  let pending = "";
  let started = false;
  let ended = false;
  // h2load ends each progress line with std::endl (a flush): the edges arrive as they happen.
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
    pending += chunk;
    for (let newline = pending.indexOf("\n"); newline >= 0; newline = pending.indexOf("\n")) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.startsWith(MEASURED_START) && !started) {
        started = true;
        window?.start();
      } else if (line.startsWith(MEASURED_END) && started && !ended) {
        ended = true;
        window?.end();
      }
    }
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const managed = await track("h2load", child, [], pinning ? LOAD_CPU : undefined);
  // Bounded: h2load stops itself after warm-up + duration; this is the backstop.
  const backstopSeconds = warmup + seconds + 30;
  let killed = false;
  const killer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, backstopSeconds * 1_000);
  await managed.exit;
  await closed;
  clearTimeout(killer);
  const failure = (why: string) => new Error(`h2load (${spec.label}) ${why}: ${[command, ...args].map(shellWord).join(" ")}\n${output.trim()}`);
  if (killed) throw failure(`did not exit within ${backstopSeconds} s and was killed`);
  if (child.exitCode !== 0) throw failure(`exited with ${child.exitCode ?? child.signalCode}`);
  if (!started || !ended) throw failure("did not report the start and end of its measured part");
  const summary = parseH2load(output);
  if (summary === undefined) throw failure("printed no summary");
  const non2xx = summary.status["3xx"] + summary.status["4xx"] + summary.status["5xx"];
  if (summary.failed + summary.errored + summary.timeout + non2xx > 0 || summary.done === 0 || summary.succeeded !== summary.done) {
    throw failure(
      `had failures: ${summary.done} done, ${summary.succeeded} succeeded, ${summary.failed} failed, ${summary.errored} errored, ` +
        `${summary.timeout} timeout, ${non2xx} not 2xx`,
    );
  }
  if (summary.alpn !== spec.protocol) throw failure(`negotiated ${summary.alpn ?? "no protocol"}, not ${spec.protocol}`);
  const latencies = readLatenciesMs(spec.logFile);
  return {
    summary,
    result: {
      requests: summary.done,
      seconds: summary.rps > 0 ? summary.done / summary.rps : seconds,
      rps: summary.rps,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      non2xx,
      errors: summary.errored + summary.timeout,
    },
  };
}

/** Parses h2load's closing summary; undefined when it is not there. Exported for checking by hand. */
export function parseH2load(output: string): H2loadSummary | undefined {
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(output);
  const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(output);
  const finished = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(output);
  if (!requests || !status || !finished) return undefined;
  const [total, started, done, succeeded, failed, errored, timeout] = requests.slice(1).map(Number) as [number, number, number, number, number, number, number];
  const line = (name: string) => new RegExp(`^${name}: (.+)$`, "m").exec(output)?.[1]?.trim() ?? null;
  return {
    total,
    started,
    done,
    succeeded,
    failed,
    errored,
    timeout,
    status: { "2xx": Number(status[1]), "3xx": Number(status[2]), "4xx": Number(status[3]), "5xx": Number(status[4]) },
    rps: Number(finished[1]),
    alpn: line("Application protocol"),
    tlsProtocol: line("TLS Protocol"),
    cipher: line("Cipher"),
  };
}

/** Request durations (ms) from h2load's --log-file: "start µs<TAB>status<TAB>duration µs" per request of the measured part. */
function readLatenciesMs(file: string): number[] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const latencies: number[] = [];
  for (const line of text.split("\n")) {
    const duration = Number(line.split("\t")[2]);
    if (Number.isFinite(duration) && line !== "") latencies.push(duration / 1_000);
  }
  return latencies;
}

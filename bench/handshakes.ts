// TLS handshakes for the certs and resumption scenarios: a load generator that measures new handshakes
// (runs bench/handshake-load.ts pinned to the load CPU; "requests" are completed handshakes), full ones
// or, with `resume`, resumed ones (each loop offering its previous connection's session ticket), and one
// handshake from this process that reports what the server presented.
import path from "node:path";
import { performance } from "node:perf_hooks";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import type { LoadGenerator, LoadResult } from "./load.js";
import type { Counter, Summary } from "./measure.js";
import { runLoadScript } from "./processes.js";
import { fetchText, metricValue } from "./scenario.js";
import type { Rampart } from "./targets.js";

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench

export interface HandshakeLoadOptions {
  readonly servername: string;
  /** Parallel handshake loops (runRounds' `connections` is not used). */
  readonly concurrency: number;
  /** A client certificate presented when the server asks for one. */
  readonly client?: { readonly cert: string; readonly key: string };
  /**
   * Resumed handshakes: each loop offers the session ticket of its previous connection. The run fails
   * unless at least MIN_RESUMED_SHARE of the handshakes after each loop's first were resumed. Without it
   * (the default) every handshake is a full one and the run fails if any was resumed.
   */
  readonly resume?: boolean;
}

/** With `resume`: the least share of the handshakes after each loop's first that must be resumed. */
export const MIN_RESUMED_SHARE = 0.95;

/** What a run of bench/handshake-load.ts prints. */
interface HandshakeLoadOutput {
  readonly handshakes: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly failed: number;
  readonly resumed: number;
  /** Handshakes that offered a session ticket. */
  readonly offered: number;
}

export interface HandshakeGenerator extends LoadGenerator {
  /** Resumed handshakes over every run of this generator so far, warm-ups included (for a Counter). */
  resumedSoFar(): number;
}

/**
 * A load generator for `tls://HOST:PORT` URLs whose "requests" are TLS handshakes: full ones (never
 * resumed), or with `resume` resumed ones (but each loop's first).
 */
export function handshakeGenerator(options: HandshakeLoadOptions): HandshakeGenerator {
  let resumed = 0;
  return {
    name: "tls-handshakes",
    run: (url, seconds) =>
      runHandshakes(url, seconds, options).then((output) => {
        resumed += output.resumed;
        return output.result;
      }),
    resumedSoFar: () => resumed,
  };
}

async function runHandshakes(url: string, seconds: number, options: HandshakeLoadOptions): Promise<{ result: LoadResult; resumed: number }> {
  const target = new URL(url);
  const spec = {
    host: target.hostname,
    port: Number(target.port),
    servername: options.servername,
    seconds,
    concurrency: options.concurrency,
    ...(options.client === undefined ? {} : { certFile: options.client.cert, keyFile: options.client.key }),
    ...(options.resume === true ? { resume: true } : {}),
  };
  const result = (await runLoadScript(path.join(here, "handshake-load.js"), spec, seconds)) as HandshakeLoadOutput;
  if (options.resume === true) {
    // Each loop's first handshake has no ticket to offer; every later one should be resumed.
    const resumable = result.handshakes - options.concurrency;
    if (resumable <= 0 || result.resumed < MIN_RESUMED_SHARE * resumable) {
      throw new Error(
        `handshake-load resumed ${result.resumed} of ${Math.max(0, resumable)} handshakes after each loop's first (${result.offered} offered a ticket; ` +
          `at least ${MIN_RESUMED_SHARE * 100}% needed): the figures would not be resumed handshakes`,
      );
    }
  } else if (result.resumed > 0) throw new Error(`handshake-load resumed ${result.resumed} sessions: the figures would not be full handshakes`);
  return {
    result: {
      requests: result.handshakes,
      seconds: result.seconds,
      rps: result.seconds > 0 ? result.handshakes / result.seconds : 0,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      non2xx: 0,
      errors: result.failed,
    },
    resumed: result.resumed,
  };
}

export interface Presented {
  /** Milliseconds from connect to secureConnect. */
  readonly ms: number;
  /** The chain verified against `ca` and names `servername`. */
  readonly authorized: boolean;
  readonly subjectaltname: string;
  readonly fingerprint256: string;
}

/** One full TLS handshake from this process naming `servername`, checked against `ca` (not refused when it does not verify). */
export function handshakeOnce(port: number, servername: string, ca: string | undefined, timeoutMs = 15_000): Promise<Presented> {
  return new Promise((resolve, reject) => {
    const begin = performance.now();
    const socket = tls.connect({ host: "127.0.0.1", port, servername, ...(ca === undefined ? {} : { ca }), rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] }, () => {
      const ms = performance.now() - begin;
      const peer = socket.getPeerCertificate();
      resolve({ ms, authorized: socket.authorized, subjectaltname: peer.subjectaltname ?? "", fingerprint256: peer.fingerprint256 ?? "" });
      socket.end();
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no handshake for ${servername} within ${timeoutMs} ms`)));
    socket.on("error", reject);
  });
}

/** rampart_tls_handshakes_total{result} from a Rampart's admin listener: read around each run, reported per client handshake. */
export function handshakeCounter(rampart: Rampart, result: "ok" | "failed"): Counter {
  return {
    name: `handshakes ${result}`,
    read: async () => metricValue(await fetchText(`${rampart.adminUrl}/metrics`), "rampart_tls_handshakes_total", `{result="${result}"}`) ?? null,
  };
}

/** Handshakes per second one core takes: 10⁶ ÷ the lowest CPU µs per handshake. */
export const perCore = (summary: Summary | undefined): number | null =>
  summary?.cpuUsPerRequest == null || summary.cpuUsPerRequest === 0 ? null : 1e6 / summary.cpuUsPerRequest;

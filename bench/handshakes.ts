// TLS handshakes for the certs scenario: a load generator that measures new handshakes (runs
// bench/handshake-load.ts pinned to the load CPU; "requests" are completed handshakes), and one
// handshake from this process that reports what the server presented.
import { spawn } from "node:child_process";
import path from "node:path";
import { performance } from "node:perf_hooks";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import type { LoadGenerator, LoadResult } from "./load.js";
import { LOAD_CPU, pinned, track } from "./processes.js";

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench

export interface HandshakeLoadOptions {
  readonly servername: string;
  /** Parallel handshake loops (runRounds' `connections` is not used). */
  readonly concurrency: number;
  /** A client certificate presented when the server asks for one. */
  readonly client?: { readonly cert: string; readonly key: string };
}

/** A load generator for `tls://HOST:PORT` URLs whose "requests" are full (never resumed) TLS handshakes. */
export function handshakeGenerator(options: HandshakeLoadOptions): LoadGenerator {
  return { name: "tls-handshakes", run: (url, seconds) => runHandshakes(url, seconds, options) };
}

async function runHandshakes(url: string, seconds: number, options: HandshakeLoadOptions): Promise<LoadResult> {
  const target = new URL(url);
  const spec = {
    host: target.hostname,
    port: Number(target.port),
    servername: options.servername,
    seconds,
    concurrency: options.concurrency,
    ...(options.client === undefined ? {} : { certFile: options.client.cert, keyFile: options.client.key }),
  };
  const [command, args] = pinned(LOAD_CPU, process.execPath, [path.join(here, "handshake-load.js"), JSON.stringify(spec)]);
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const managed = await track("handshake-load", child);
  const killer = setTimeout(() => child.kill("SIGKILL"), (seconds + 30) * 1_000);
  await managed.exit;
  clearTimeout(killer);
  const line = output.split("\n").find((text) => text.startsWith("{"));
  if (child.exitCode !== 0 || line === undefined) throw new Error(`handshake-load exited with ${child.exitCode ?? child.signalCode}:\n${output}`);
  const result = JSON.parse(line) as { handshakes: number; seconds: number; p50Ms: number; p99Ms: number; failed: number; resumed: number };
  if (result.resumed > 0) throw new Error(`handshake-load resumed ${result.resumed} sessions: the figures would not be full handshakes`);
  return {
    requests: result.handshakes,
    seconds: result.seconds,
    rps: result.seconds > 0 ? result.handshakes / result.seconds : 0,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    non2xx: 0,
    errors: result.failed,
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

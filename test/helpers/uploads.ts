// Clients that send a request body the gateway answers before reading (413, 429, 403, 404): the real
// curl binary, and a raw node:net / node:tls writer that keeps pushing body bytes while it reads. Both
// report exactly what the client saw (the answer, a FIN, a reset, when) so a test can count how many
// attempts were answered and how many were reset. Every curl is bounded by a timeout and killed by PID.
import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import tls from "node:tls";
import { Worker } from "node:worker_threads";
import type { Handler } from "./backend.js";
import { bodyOf, headerOf, statusOf } from "./proxy-tools.js";

export const CURL = "/usr/bin/curl";

// ---------------------------------------------------------------- curl

export interface CurlResult {
  /** curl's exit code (0: transfer fine; 55: send failure; 56: receive failure, e.g. a reset), null when killed. */
  readonly exitCode: number | null;
  /** `%{http_code}` as curl printed it ("000" when no response was read). */
  readonly httpCode: string;
  /** The response body (`-o -`). */
  readonly body: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly ms: number;
}

const liveCurls = new Set<number>();

function killPid(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

// Last line of defence: no curl started here outlives the test process.
process.once("exit", () => {
  for (const pid of liveCurls) killPid(pid);
});

/** SIGKILL to every curl still running (by PID); for after() hooks. */
export function killCurls(): void {
  for (const pid of liveCurls) killPid(pid);
  liveCurls.clear();
}

/**
 * Runs `curl -sS -o - -w '\n%{http_code}' ...args` and collects its output. Killed (SIGKILL, by PID)
 * when it runs longer than `timeoutMs`.
 */
export function runCurl(args: readonly string[], timeoutMs = 20_000): Promise<CurlResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(CURL, ["-sS", "-o", "-", "-w", "\n%{http_code}", "--max-time", String(Math.ceil(timeoutMs / 1000)), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const pid = child.pid;
    if (pid === undefined) {
      child.once("error", reject);
      return;
    }
    liveCurls.add(pid);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killPid(pid);
    }, timeoutMs + 2_000);
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout!.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr!.on("data", (chunk: Buffer) => {
      if (stderr.length < 4_000) stderr += chunk.toString("utf8");
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      liveCurls.delete(pid);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      liveCurls.delete(pid);
      const text = Buffer.concat(out).toString("utf8");
      const newline = text.lastIndexOf("\n");
      resolve({
        exitCode: code,
        httpCode: newline === -1 ? text : text.slice(newline + 1),
        body: newline === -1 ? "" : text.slice(0, newline),
        stderr: stderr.trim(),
        timedOut,
        ms: performance.now() - started,
      });
    });
  });
}

// ---------------------------------------------------------------- raw writer

export type BodyFraming =
  /** `bytes` of body after the head, in 64 KiB writes (the head declares the length). */
  | { readonly kind: "length"; readonly bytes: number; readonly piece?: number }
  /** `bytes` of body as 64 KiB chunks, then the last chunk `0\r\n\r\n` (the head says chunked). */
  | { readonly kind: "chunked"; readonly bytes: number; readonly piece?: number };

export interface RawUploadOptions {
  readonly port: number;
  readonly tls: boolean;
  /** The request head, blank line included. */
  readonly head: string;
  readonly body: BodyFraming;
  /** Write one piece every `paceMs` (a trickle) instead of as fast as the socket takes them. */
  readonly paceMs?: number;
  /** Give up (destroy) this long after connecting: a bound on every attempt. */
  readonly ms?: number;
  /** Once the whole body is written, wait at most this long (default 2 s) for the gateway's FIN before giving up. */
  readonly finWaitMs?: number;
}

export interface RawUploadResult {
  /** Everything received, latin1. */
  readonly text: string;
  /** Status of the first response; 0 when none arrived. */
  readonly status: number;
  /** The first response's head and its whole Content-Length body arrived. */
  readonly responseComplete: boolean;
  /** The first response's body (de-chunked) when complete. */
  readonly responseBody: string;
  /** Body bytes (framing included) the kernel accepted from the writer. */
  readonly bodyBytesAccepted: number;
  /** The writer wrote its whole body. */
  readonly writerFinished: boolean;
  /** The gateway ended the connection cleanly (FIN, or close_notify + FIN over TLS). */
  readonly finReceived: boolean;
  /** The error the socket saw (ECONNRESET, EPIPE, ...), if any. */
  readonly error: string | undefined;
  /** The attempt hit `ms` and was destroyed by the test. */
  readonly timedOut: boolean;
  /** Milliseconds from connect: when the response was complete, the FIN arrived, the error happened, the socket closed, the writer stopped. */
  readonly at: { readonly response?: number; readonly fin?: number; readonly error?: number; readonly close: number; readonly writerStopped?: number };
}

const FILL = Buffer.alloc(64 * 1024, 0x61);

function* bodyPieces(framing: BodyFraming): Generator<Buffer> {
  const piece = framing.piece ?? 64 * 1024;
  const data = piece <= FILL.length ? FILL.subarray(0, piece) : Buffer.alloc(piece, 0x61);
  let left = framing.bytes;
  if (framing.kind === "length") {
    while (left > 0) {
      const size = Math.min(piece, left);
      yield size === data.length ? data : data.subarray(0, size);
      left -= size;
    }
    return;
  }
  const whole = Buffer.concat([Buffer.from(`${piece.toString(16)}\r\n`), data, Buffer.from("\r\n")]);
  while (left > 0) {
    const size = Math.min(piece, left);
    yield size === piece ? whole : Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), data.subarray(0, size), Buffer.from("\r\n")]);
    left -= size;
  }
  yield Buffer.from("0\r\n\r\n");
}

/** True once `raw` holds a whole first response (head and a Content-Length body, or a chunked body's last chunk). */
function completeResponse(raw: Buffer): boolean {
  const end = raw.indexOf("\r\n\r\n");
  if (end === -1) return false;
  const text = raw.toString("latin1");
  const length = headerOf(text, "content-length");
  if (length !== undefined) return raw.length - (end + 4) >= Number(length);
  if (/chunked/i.test(headerOf(text, "transfer-encoding") ?? "")) return text.includes("\r\n0\r\n\r\n", end);
  return false;
}

/**
 * Connects (plain or TLS, half-open allowed so it can keep writing after the gateway's FIN), writes
 * `head`, then writes the body as fast as the socket takes it (or one piece per `paceMs`) without
 * waiting for an answer, while reading. Once the body is written and the gateway's FIN has arrived it
 * ends its own side; it never ends first. Resolves when the socket closes, whatever happened.
 */
export function rawUpload(options: RawUploadOptions): Promise<RawUploadResult> {
  const ms = options.ms ?? 15_000;
  const finWaitMs = options.finWaitMs ?? 2_000;
  return new Promise((resolve) => {
    const started = performance.now();
    const now = () => Math.round(performance.now() - started);
    // tls.connect passes allowHalfOpen on to its TLSSocket (Node 20 _tls_wrap.js); @types/node leaves it out.
    const tlsOptions: tls.ConnectionOptions & { allowHalfOpen: boolean } = {
      host: "127.0.0.1",
      port: options.port,
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
      allowHalfOpen: true,
    };
    const socket: net.Socket = options.tls ? tls.connect(tlsOptions) : net.connect({ host: "127.0.0.1", port: options.port, allowHalfOpen: true });
    const received: Buffer[] = [];
    let receivedBytes = 0;
    const at: { response?: number; fin?: number; error?: number; close: number; writerStopped?: number } = { close: 0 };
    let error: string | undefined;
    let timedOut = false;
    let accepted = 0;
    let writerFinished = false;
    let finReceived = false;
    let pace: NodeJS.Timeout | undefined;
    let finWait: NodeJS.Timeout | undefined;
    const pieces = bodyPieces(options.body);

    const deadline = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, ms);

    const closeIfDone = () => {
      if (!writerFinished || socket.destroyed) return;
      if (finReceived) {
        clearTimeout(finWait);
        socket.end();
        return;
      }
      finWait ??= setTimeout(() => {
        timedOut = true;
        socket.destroy();
      }, finWaitMs);
    };

    const pump = () => {
      pace = undefined;
      for (;;) {
        if (socket.destroyed || !socket.writable) {
          at.writerStopped ??= now();
          return;
        }
        const next = pieces.next();
        if (next.done === true) {
          writerFinished = true;
          at.writerStopped = now();
          closeIfDone();
          return;
        }
        const piece = next.value;
        const more = socket.write(piece, (err) => {
          if (err == null) accepted += piece.length;
        });
        if (options.paceMs !== undefined) {
          pace = setTimeout(pump, options.paceMs);
          return;
        }
        if (!more) {
          socket.once("drain", pump);
          return;
        }
      }
    };

    socket.once(options.tls ? "secureConnect" : "connect", () => {
      socket.write(options.head);
      pump();
    });
    socket.on("data", (chunk: Buffer) => {
      received.push(chunk);
      receivedBytes += chunk.length;
      if (at.response === undefined && receivedBytes < 1_000_000 && completeResponse(Buffer.concat(received))) at.response = now();
    });
    socket.on("end", () => {
      finReceived = true;
      at.fin = now();
      closeIfDone();
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (error === undefined) {
        error = err.code ?? err.message;
        at.error = now();
      }
    });
    socket.on("close", () => {
      at.close = now();
      at.writerStopped ??= now();
      clearTimeout(deadline);
      clearTimeout(pace);
      clearTimeout(finWait);
      const text = Buffer.concat(received).toString("latin1");
      const responseComplete = at.response !== undefined;
      resolve({
        text,
        status: statusOf(text),
        responseComplete,
        responseBody: responseComplete ? bodyOf(text) : "",
        bodyBytesAccepted: accepted,
        writerFinished,
        finReceived,
        error,
        timedOut,
        at,
      });
    });
  });
}

/**
 * Runs `attempts` (at most `concurrency` at once) in a worker thread, so the writers run truly
 * concurrently with a gateway in this process. The worker is terminated after `timeoutMs` (rejects).
 */
export function rawUploadsInWorker(attempts: readonly RawUploadOptions[], concurrency: number, timeoutMs = 60_000): Promise<RawUploadResult[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./upload-worker.js", import.meta.url), { workerData: { attempts, concurrency } });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      settle(() => reject(new Error(`raw uploads did not finish within ${timeoutMs} ms`)));
      void worker.terminate();
    }, timeoutMs);
    worker.once("message", (results: RawUploadResult[]) => settle(() => resolve(results)));
    worker.once("error", (error) => settle(() => reject(error)));
    worker.once("exit", (code) => settle(() => reject(new Error(`raw upload worker exited (${code}) without results`))));
  });
}

// ---------------------------------------------------------------- running many, counting failures

/** Runs `run(0..count-1)` with at most `concurrency` in flight; results in index order. */
export async function inPool<T>(count: number, concurrency: number, run: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      results[index] = await run(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/** "37 × ECONNRESET, 2 × no response" from a list of failure descriptions (undefined: no failure). */
export function tally(failures: readonly (string | undefined)[]): string {
  const counts = new Map<string, number>();
  for (const failure of failures) if (failure !== undefined) counts.set(failure, (counts.get(failure) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([what, n]) => `${n} × ${what}`).join("; ");
}

/** What a recording backend saw of one upload. */
export interface Upload {
  readonly url: string;
  bytes: number;
  complete: boolean;
}

/** A backend that reads every body to its end and records what arrived. */
export function recordingBackend(uploads: Upload[]): Handler {
  return (req, res) => {
    const upload: Upload = { url: req.url ?? "", bytes: 0, complete: false };
    uploads.push(upload);
    req.on("data", (chunk: Buffer) => (upload.bytes += chunk.length));
    req.on("error", () => {});
    req.on("end", () => {
      upload.complete = true;
      res.writeHead(200, { "content-type": "text/plain" }).end(`got ${upload.bytes}`);
    });
  };
}

/** A temporary directory holding a `size`-byte body file (for curl's --data-binary @file); remove `dir` after. */
export async function bodyFile(size: number): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), "rampart-early-"));
  const file = join(dir, "body.bin");
  await writeFile(file, Buffer.alloc(size, 0x62));
  return { dir, file };
}

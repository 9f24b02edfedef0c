// The access log: one JSON line per request, in the same shape as pino's lines ("level":"info", ISO time)
// so one log pipeline reads both. Built by hand rather than through pino because it runs on every
// request: a fixed line shape needs no generic serialiser, the timestamp is formatted once per
// millisecond, and lines are batched so the file descriptor sees one write per ~32 KiB, not one per
// request. Lines reach the sink within a second even when traffic is quiet.
import { logDestination } from "./logger.js";

export interface AccessRecord {
  readonly requestId: string;
  readonly clientIp: string;
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly status: number;
  readonly bytes: number;
  readonly durationMs: number;
  readonly route: string | undefined;
  readonly target: string | undefined;
  readonly failure: string | undefined;
  /** A fault the route injected: "delay" or "abort". */
  readonly fault?: string;
  /** The client connection's protocol: http/1.1, h2 or h2c (absent for answers given before parsing). */
  readonly protocol?: string;
  readonly userAgent?: string;
  /** From sending the last attempt upstream to the end of its response, ms; absent when nothing went upstream. */
  readonly upstreamMs?: number;
  /** Upstream attempts (retries included); absent when nothing went upstream. */
  readonly attempts?: number;
}

/** Where lines go: stdout by default; tests pass a sink that collects them. */
export interface LineSink {
  write(chunk: string): unknown;
  flushSync?(): void;
}

const FLUSH_INTERVAL_MS = 1_000;
const BATCH_BYTES = 32 * 1024;
// Characters that JSON must escape; strings without them are quoted as they are.
// eslint-disable-next-line no-control-regex -- control characters are what JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u2028\u2029]/;

function quote(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

export class AccessLog {
  readonly #sink: LineSink;
  readonly #batchBytes: number;
  readonly #timer: NodeJS.Timeout;
  readonly #prefix = `{"level":"info","pid":${process.pid},"msg":"request","time":"`;
  #pending = "";
  #clockMs = 0;
  #clockText = "";

  /** With a sink of its own (tests), every line is written at once; stdout or a file is batched. */
  constructor(sink?: LineSink) {
    if (sink === undefined) {
      this.#sink = logDestination(1);
      this.#batchBytes = BATCH_BYTES;
    } else {
      this.#sink = sink;
      this.#batchBytes = 0;
    }
    this.#timer = setInterval(() => this.flush(), FLUSH_INTERVAL_MS).unref();
  }

  write(record: AccessRecord): void {
    const now = Date.now();
    if (now !== this.#clockMs) {
      this.#clockMs = now;
      this.#clockText = new Date(now).toISOString();
    }
    let line = this.#prefix + this.#clockText + '","requestId":' + quote(record.requestId);
    line += ',"clientIp":"' + record.clientIp + '","method":' + quote(record.method);
    line += ',"host":' + quote(record.host) + ',"path":' + quote(record.path);
    if (record.protocol !== undefined) line += ',"protocol":"' + record.protocol + '"';
    line += ',"status":' + record.status + ',"bytes":' + record.bytes + ',"durationMs":' + record.durationMs;
    if (record.userAgent !== undefined) line += ',"userAgent":' + quote(record.userAgent);
    if (record.route !== undefined) line += ',"route":' + quote(record.route);
    if (record.target !== undefined) line += ',"target":' + quote(record.target);
    if (record.attempts !== undefined) line += ',"attempts":' + record.attempts + ',"upstreamMs":' + record.upstreamMs;
    if (record.failure !== undefined) line += ',"failure":"' + record.failure + '"';
    if (record.fault !== undefined) line += ',"fault":"' + record.fault + '"';
    this.#pending += line + "}\n";
    if (this.#pending.length >= this.#batchBytes) this.flush();
  }

  flush(): void {
    if (this.#pending === "") return;
    const chunk = this.#pending;
    this.#pending = "";
    this.#sink.write(chunk);
  }

  close(): void {
    clearInterval(this.#timer);
    this.flush();
    try {
      this.#sink.flushSync?.();
    } catch {
      // An asynchronous write still in flight finishes on its own before the process exits.
    }
  }
}

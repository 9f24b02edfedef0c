// An open-loop client at a fixed request rate (bench/attacks.ts's legitimate client, bench/soak.ts's
// traffic): request i is sent at start + i/rps whether or not earlier ones have answered, so a stalled
// gateway shows up as failures and latency, not as a slower client. Bounded: at most rps × seconds
// requests, at most `maxOutstanding` at once (a request due while that many are waiting is not sent and
// counts as failed, "not sent: backlog"), each abandoned after `timeoutMs`.
import http from "node:http";
import https from "node:https";
import { sleep } from "./processes.js";

export interface PacedRequest {
  /** Groups the results (e.g. "GET 256 KiB"). */
  readonly kind: string;
  readonly method: "GET" | "POST" | "HEAD";
  readonly path: string;
  readonly body?: Buffer;
  /** Statuses that count as success. */
  readonly expect: readonly number[];
  /** On a 200: the body must have exactly this many bytes. */
  readonly bytes?: number;
}

export interface Outcome {
  readonly kind: string;
  /** Epoch ms when the request was due (and sent). */
  readonly start: number;
  /** Until the last byte of the answer, or the failure. */
  readonly ms: number;
  readonly status: number | null;
  readonly ok: boolean;
  /**
   * The status ("200", or "502 bad_gateway" with Rampart's error code), or the client error code
   * ("ECONNRESET", "timeout", "short body", "not sent: backlog").
   */
  readonly cause: string;
}

export interface PacedOptions {
  /** e.g. http://127.0.0.1:8080 (https: skips certificate checks, for the self-signed certificate). */
  readonly baseUrl: string;
  readonly rps: number;
  readonly seconds: number;
  readonly timeoutMs: number;
  readonly maxOutstanding: number;
  /** A keep-alive agent, or false for a new connection per request. */
  readonly agent: http.Agent | false;
  /** Source address of every connection (e.g. 127.0.0.2). */
  readonly localAddress?: string;
  readonly next: (index: number) => PacedRequest;
  /** Called as each request settles. */
  readonly onOutcome?: (outcome: Outcome) => void;
}

/** Bodies are read only for unexpected statuses, to name Rampart's error code. */
const ERROR_BODY_LIMIT = 2_048;

function errorCause(error: unknown): string {
  if (error instanceof Error) return (error as NodeJS.ErrnoException).code ?? error.message;
  return String(error);
}

function statusCause(status: number, text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === "string") return `${status} ${parsed.error}`;
  } catch {
    // not Rampart's JSON error
  }
  return String(status);
}

export function sendOnce(base: URL, request: PacedRequest, options: Pick<PacedOptions, "agent" | "localAddress" | "timeoutMs">): Promise<Outcome> {
  return new Promise((resolve) => {
    const start = Date.now();
    const began = performance.now();
    let settled = false;
    const finish = (status: number | null, ok: boolean, cause: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ kind: request.kind, start, ms: performance.now() - began, status, ok, cause });
    };
    const secure = base.protocol === "https:";
    const headers: http.OutgoingHttpHeaders = request.body === undefined ? {} : { "content-type": "application/octet-stream", "content-length": request.body.length };
    const requestOptions: https.RequestOptions = {
      host: base.hostname,
      port: base.port,
      method: request.method,
      path: request.path,
      headers,
      agent: options.agent,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      ...(secure ? { rejectUnauthorized: false } : {}),
    };
    const onResponse = (res: http.IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const expected = request.expect.includes(status);
      let received = 0;
      let text = "";
      res.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (!expected && text.length < ERROR_BODY_LIMIT) text += chunk.toString("utf8");
      });
      res.on("end", () => {
        if (!expected) finish(status, false, statusCause(status, text));
        else if (status === 200 && request.bytes !== undefined && received !== request.bytes) finish(status, false, "short body");
        else finish(status, true, String(status));
      });
      res.on("error", (error) => finish(status, false, errorCause(error)));
      res.on("close", () => {
        if (!res.complete) finish(status, false, "aborted");
      });
    };
    const req = secure ? https.request(requestOptions, onResponse) : http.request(requestOptions, onResponse);
    const timer = setTimeout(() => {
      finish(null, false, "timeout");
      req.destroy(new Error("timeout"));
    }, options.timeoutMs);
    req.on("error", (error) => finish(null, false, errorCause(error)));
    req.end(request.body);
  });
}

/** Runs the schedule; resolves every outcome once the last request has settled. */
export async function runPaced(options: PacedOptions): Promise<Outcome[]> {
  const base = new URL(options.baseUrl);
  const total = Math.floor(options.rps * options.seconds);
  const interval = 1_000 / options.rps;
  const outcomes: Outcome[] = [];
  const pending = new Set<Promise<void>>();
  const record = (outcome: Outcome) => {
    outcomes.push(outcome);
    options.onOutcome?.(outcome);
  };
  const started = Date.now();
  for (let index = 0; index < total; index++) {
    const due = started + index * interval;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    const request = options.next(index);
    if (pending.size >= options.maxOutstanding) {
      record({ kind: request.kind, start: Date.now(), ms: 0, status: null, ok: false, cause: "not sent: backlog" });
      continue;
    }
    const settled: Promise<void> = sendOnce(base, request, options).then((outcome) => {
      pending.delete(settled);
      record(outcome);
    });
    pending.add(settled);
  }
  await Promise.all(pending);
  return outcomes;
}

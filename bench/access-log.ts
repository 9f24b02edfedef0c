// Non-2xx requests as Rampart's own access log records them, to tell what failed and why during a run.
import { closeSync, openSync, readSync, statSync } from "node:fs";

/** The log's bytes from `offset` on, as text; "" when there are none or the file cannot be read. */
function readFrom(file: string, offset: number): string {
  try {
    const size = statSync(file).size;
    if (size <= offset) return "";
    const buffer = Buffer.alloc(size - offset);
    const fd = openSync(file, "r");
    try {
      readSync(fd, buffer, 0, buffer.length, offset);
    } finally {
      closeSync(fd);
    }
    return buffer.toString("utf8");
  } catch {
    return "";
  }
}

interface RequestRecord {
  readonly status?: unknown;
  readonly failure?: unknown;
  readonly target?: unknown;
}

/** Calls `onRecord` for every access-log line (`"msg":"request"`) in `text`. */
function eachRequest(text: string, onRecord: (record: RequestRecord) => void): void {
  for (const line of text.split("\n")) {
    if (!line.includes('"msg":"request"')) continue;
    try {
      onRecord(JSON.parse(line) as RequestRecord);
    } catch {
      // a partial line
    }
  }
}

/** Access-log lines written from `offset` on whose status is not 2xx, keyed "status" or "status failure". */
export function accessLogFailures(file: string, offset = 0): Record<string, number> {
  const counts: Record<string, number> = {};
  eachRequest(readFrom(file, offset), (record) => {
    if (typeof record.status !== "number" || (record.status >= 200 && record.status < 300)) return;
    const key = typeof record.failure === "string" ? `${record.status} ${record.failure}` : String(record.status);
    counts[key] = (counts[key] ?? 0) + 1;
  });
  return counts;
}

export interface UnproxiedCheck {
  /** Lines that are not a 2xx from a target (nor a 499), keyed "status", "status failure" or "status no target". */
  readonly counts: Readonly<Record<string, number>>;
  /** Request lines read. */
  readonly lines: number;
  /** 499 lines: the client closed its connection (or reset its stream) before the response was complete. */
  readonly clientClosed: number;
  /** Where the next check starts: after the last complete line. */
  readonly end: number;
}

/**
 * Access-log lines written from `offset` on that are not a 2xx answered by a target. Rampart's own
 * answers to gRPC requests are HTTP 200 (the status is in grpc-status) but name no target, so they are
 * caught here too. 499 lines (the client went away first, as a load generator does with the requests in
 * flight when its duration ends) are counted apart. A line still being written is left for the next check.
 */
export function accessLogUnproxied(file: string, offset = 0): UnproxiedCheck {
  const text = readFrom(file, offset);
  const complete = text.slice(0, text.lastIndexOf("\n") + 1);
  const counts: Record<string, number> = {};
  let lines = 0;
  let clientClosed = 0;
  eachRequest(complete, (record) => {
    lines++;
    if (record.status === 499) {
      clientClosed++;
      return;
    }
    const ok = typeof record.status === "number" && record.status >= 200 && record.status < 300;
    if (ok && typeof record.target === "string" && record.failure === undefined) return;
    const key = `${String(record.status)} ${typeof record.failure === "string" ? record.failure : typeof record.target === "string" ? "" : "no target"}`.trim();
    counts[key] = (counts[key] ?? 0) + 1;
  });
  return { counts, lines, clientClosed, end: offset + Buffer.byteLength(complete) };
}

// Non-2xx requests as Rampart's own access log records them, to tell what failed and why during a run.
import { closeSync, openSync, readSync, statSync } from "node:fs";

/** Access-log lines written from `offset` on whose status is not 2xx, keyed "status" or "status failure". */
export function accessLogFailures(file: string, offset = 0): Record<string, number> {
  const counts: Record<string, number> = {};
  let text = "";
  try {
    const size = statSync(file).size;
    if (size <= offset) return counts;
    const buffer = Buffer.alloc(size - offset);
    const fd = openSync(file, "r");
    try {
      readSync(fd, buffer, 0, buffer.length, offset);
    } finally {
      closeSync(fd);
    }
    text = buffer.toString("utf8");
  } catch {
    return counts;
  }
  for (const line of text.split("\n")) {
    if (!line.includes('"msg":"request"')) continue;
    try {
      const record = JSON.parse(line) as { status?: unknown; failure?: unknown };
      if (typeof record.status !== "number" || (record.status >= 200 && record.status < 300)) continue;
      const key = typeof record.failure === "string" ? `${record.status} ${record.failure}` : String(record.status);
      counts[key] = (counts[key] ?? 0) + 1;
    } catch {
      // a partial line
    }
  }
  return counts;
}

// Plain-text output for people: aligned columns, relative times and byte-free durations. Machines use
// --json instead, so nothing here is a contract beyond "readable in an 80-column terminal".

export type Align = "left" | "right";

export interface Column {
  readonly header: string;
  readonly align?: Align;
}

/** Visible width: a cell never carries escape codes, but may carry wide-ish Unicode like "→". */
function width(text: string): number {
  return [...text].length;
}

function pad(text: string, size: number, align: Align): string {
  const fill = " ".repeat(Math.max(0, size - width(text)));
  return align === "right" ? fill + text : text + fill;
}

/**
 * Columns padded to their widest cell, separated by two spaces, header first; trailing spaces trimmed.
 * Control characters in cells (a hostile lastError or ban reason) are shown escaped, never interpreted.
 */
export function formatTable(columns: readonly (Column | string)[], rows: readonly (readonly unknown[])[]): string {
  const cols = columns.map((column) => (typeof column === "string" ? { header: column } : column));
  const cells = rows.map((row) => cols.map((_, index) => cell(row[index])));
  const widths = cols.map((column, index) => Math.max(width(column.header), ...cells.map((row) => width(row[index]!))));
  const line = (values: readonly string[]) =>
    values
      .map((value, index) => pad(value, widths[index]!, cols[index]!.align ?? "left"))
      .join("  ")
      .trimEnd();
  return [line(cols.map((column) => column.header)), ...cells.map(line)].join("\n");
}

/** "label  value" lines with the values aligned, for a summary screen. */
export function formatPairs(pairs: readonly (readonly [string, string])[]): string {
  const size = Math.max(0, ...pairs.map(([label]) => width(label)));
  return pairs.map(([label, value]) => `${pad(label, size, "left")}  ${cell(value)}`.trimEnd()).join("\n");
}

/** One printable line: null/undefined as "-", control characters escaped. */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === "") return "-";
  // eslint-disable-next-line no-control-regex
  return String(value).replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** "45s", "12m", "3h 5m", "2d 4h": the two largest units, for what is left of a ban or a rollout step. */
export function formatSpan(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  // To the nearest minute: a ban of 1h listed a moment later reads "1h", not "59m".
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours}h` : `${hours}h ${minutes % 60}m`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days}d` : `${days}d ${hours % 24}h`;
}

/** Whole days from `now` until `iso` (negative once past); undefined for an unparsable time. */
export function daysUntil(iso: string, now: number): number | undefined {
  const at = Date.parse(iso);
  return Number.isNaN(at) ? undefined : Math.floor((at - now) / 86_400_000);
}

/** "62 days", "1 day", "0 days", "expired 3 days ago". */
export function describeDays(days: number | undefined): string {
  if (days === undefined) return "?";
  if (days < 0) return `expired ${-days} day${days === -1 ? "" : "s"} ago`;
  return `${days} day${days === 1 ? "" : "s"}`;
}

/** "2026-12-01 10:00Z": an ISO time shortened to the minute, for tables. */
export function shortTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined || iso === "") return "-";
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : `${at.toISOString().slice(0, 16).replace("T", " ")}Z`;
}

/** "1 ban", "3 bans". */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

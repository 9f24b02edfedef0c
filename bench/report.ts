import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
// Tables, ratios with their goals, and number formatting for the benchmark's output.
import type { Summary } from "./measure.js";

export const fmt = {
  int: (n: number) => Math.round(n).toLocaleString("en-US"),
  ms: (n: number) => n.toFixed(2),
  us: (n: number | null) => (n === null ? "n/a" : n.toFixed(1)),
  mb: (n: number | null) => (n === null ? "n/a" : n.toFixed(1)),
  ratio: (n: number | null) => (n === null ? "n/a" : n.toFixed(3)),
};

export interface Goal {
  /** Met when the ratio is at most this. */
  readonly max?: number;
  /** Met when the ratio is at least this. */
  readonly min?: number;
}

export interface Ratio {
  readonly name: string;
  readonly value: number | null;
  readonly goal?: Goal;
  /** Set for a figure that is not a ratio (e.g. "MB", "requests"). */
  readonly unit?: string;
  /** What the ratio compares, shown after it. */
  readonly note?: string;
}

export function ratio(numerator: number | null | undefined, denominator: number | null | undefined): number | null {
  return numerator == null || denominator == null || denominator === 0 ? null : numerator / denominator;
}

export function formatValue(entry: Ratio): string {
  if (entry.unit === undefined || entry.value === null) return fmt.ratio(entry.value);
  return `${Number.isInteger(entry.value) ? String(entry.value) : entry.value.toFixed(1)} ${entry.unit}`;
}

export function goalText(goal: Goal | undefined): string {
  if (goal === undefined) return "";
  if (goal.max !== undefined && goal.min !== undefined) return goal.min === goal.max ? `goal ${goal.min}` : `goal ${goal.min}–${goal.max}`;
  if (goal.max !== undefined) return goal.max === 0 ? "goal 0" : `goal ≤ ${goal.max}`;
  return goal.min !== undefined ? `goal ≥ ${goal.min}` : "";
}

export function verdict(entry: Ratio): "met" | "missed" | "n/a" | "" {
  if (entry.goal === undefined) return "";
  if (entry.value === null) return "n/a";
  if (entry.goal.max !== undefined && entry.value > entry.goal.max) return "missed";
  if (entry.goal.min !== undefined && entry.value < entry.goal.min) return "missed";
  return "met";
}

/** Columns listed in `left` are left-aligned (default: the first), the others right-aligned. */
export function printRows(header: readonly string[], rows: readonly (readonly string[])[], left: readonly number[] = [0]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, column) => (left.includes(column) ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join(" | ").trimEnd();
  console.log(line(header));
  console.log(widths.map((width) => "-".repeat(width)).join("-|-"));
  for (const row of rows) console.log(line(row));
}

export interface ExtraColumn {
  readonly title: string;
  readonly cell: (key: string) => string;
}

/** One row per target: medians of req/s and latency, the lowest CPU/request (with its split by process when there is one). */
export function printTable(title: string, summaries: Readonly<Record<string, Summary>>, extra: readonly ExtraColumn[] = []): void {
  const keys = Object.keys(summaries);
  const split = keys.some((key) => Object.keys(summaries[key]!.cpuParts).length > 1);
  const noise = keys.some((key) => summaries[key]!.othersOnProxyCpuPct !== null);
  const header = [
    "target",
    "req/s",
    "p50 ms",
    "p99 ms",
    "CPU µs/req",
    ...(split ? ["CPU split µs/req"] : []),
    ...(noise ? ["others on proxy CPU (max)"] : []),
    ...extra.map((column) => column.title),
  ];
  const rows = keys.map((key) => {
    const s = summaries[key]!;
    const parts = Object.entries(s.cpuParts);
    return [
      `(${key}) ${s.label}`,
      fmt.int(s.rps),
      fmt.ms(s.p50Ms),
      fmt.ms(s.p99Ms),
      fmt.us(s.cpuUsPerRequest),
      ...(split ? [parts.length > 1 ? parts.map(([name, us]) => `${name} ${fmt.us(us)}`).join(" + ") : ""] : []),
      ...(noise ? [s.othersOnProxyCpuPct === null ? "n/a" : `${s.othersOnProxyCpuPct.toFixed(0)}%`] : []),
      ...extra.map((column) => column.cell(key)),
    ];
  });
  console.log(`\n${title}`);
  printRows(header, rows);
}

/** `columns` renames the first and last columns (e.g. "figure" and "what" for figures that are not ratios). */
export function printRatios(title: string, entries: readonly Ratio[], columns: { readonly name?: string; readonly note?: string } = {}): void {
  if (entries.length === 0) return;
  console.log(`\n${title}`);
  printRows(
    [columns.name ?? "ratio", "value", "goal", "", columns.note ?? "compares"],
    entries.map((entry) => [entry.name, formatValue(entry), goalText(entry.goal), verdict(entry), entry.note ?? ""]),
    [0, 2, 3, 4],
  );
}

/** Writes bench/results/<name> (pretty JSON) under the repository and prints where. */
export function writeResults(repoRoot: string, name: string, data: unknown): void {
  const dir = path.join(repoRoot, "bench/results");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(data, null, 2) + "\n");
  console.log(`results: ${path.relative(process.cwd(), file) || file}`);
}

// What every scenario gets and gives back, and small helpers for reading Rampart's admin listener.
import type { LoadGenerator } from "./load.js";
import type { RoundOptions, Summary } from "./measure.js";
import type { Ratio } from "./report.js";
import type { Settings } from "./settings.js";

export interface ScenarioContext {
  readonly load: LoadGenerator;
  /** A directory of the scenario's own (configs, logs, state). */
  readonly dir: string;
  readonly settings: Settings;
}

export interface ScenarioResult {
  readonly title: string;
  readonly rounds: number;
  readonly targets: Readonly<Record<string, Summary>>;
  readonly ratios: readonly Ratio[];
  /** Figures other than the load runs (memory, failover counts, …), as written to latest.json. */
  readonly details: Readonly<Record<string, unknown>>;
  /** Skipped parts and warnings, printed after the tables. */
  readonly notes: readonly string[];
}

export function roundOptions(settings: Settings, rounds: number): RoundOptions {
  return { rounds, duration: settings.duration, warmup: settings.warmup, connections: settings.connections };
}

/** GET `url` and resolve the body of a 2xx answer. */
export async function fetchText(url: string, timeoutMs = 5_000): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return text;
}

/** The value of an unlabelled (or exactly labelled, e.g. `{kind="redis"}`) sample in Prometheus text. */
export function metricValue(metrics: string, name: string, labels = ""): number | undefined {
  for (const line of metrics.split("\n")) {
    if (line.startsWith(`${name}${labels} `)) return Number(line.slice(name.length + labels.length + 1));
  }
  return undefined;
}

/** The sum of every sample of `name` whatever its labels (e.g. `rampart_requests_in_flight` over routes); undefined when there is none. */
export function metricSum(metrics: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of metrics.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(value)) sum = (sum ?? 0) + value;
  }
  return sum;
}

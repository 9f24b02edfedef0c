// Interleaved rounds over a scenario's targets (a b c, a b c, …): medians of req/s and latency, and the
// lowest CPU time per request across rounds of the processes charged to each target (DESIGN.md Part 3).
// A target may bring its own load generator (h2load in the h2 scenario); one that warms up within its
// run reports the edges of the measured part, and the CPU samples are taken there.
import type { LoadGenerator, LoadResult } from "./load.js";
import { PROXY_CPU, cpuBusySeconds, cpuSeconds, pinning, type Managed } from "./processes.js";
import { fmt } from "./report.js";

export interface Target {
  readonly key: string;
  readonly label: string;
  readonly url: string;
  /** Processes whose CPU time (with their descendants) is charged to this target: the proxy first, then helpers such as Redis. */
  readonly charged: readonly Managed[];
  /** Counters read before and after each measured run and reported per request (e.g. Redis commands). */
  readonly counters?: readonly Counter[];
  /** This target's own load generator (e.g. h2load with the target's protocol) instead of the scenario's. */
  readonly load?: LoadGenerator;
}

export interface Counter {
  readonly name: string;
  read(): Promise<number | null>;
}

export interface Sample extends LoadResult {
  readonly round: number;
  /** CPU µs per completed request of every charged process; null without /proc. */
  readonly cpuUsPerRequest: number | null;
  /** The same, per charged process name. */
  readonly cpuParts: Readonly<Record<string, number>>;
  /** Each counter's increase per completed request. */
  readonly perRequest: Readonly<Record<string, number>>;
  /**
   * Share of the proxy CPU (%) that went to anything but the target's proxy process during the run: a
   * busy neighbour makes req/s and latency unreliable. Null without pinning or /proc.
   */
  readonly othersOnProxyCpuPct: number | null;
}

export interface Summary {
  readonly label: string;
  readonly url: string;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Lowest across rounds. */
  readonly cpuUsPerRequest: number | null;
  /** Per process, from the round with the lowest total. */
  readonly cpuParts: Readonly<Record<string, number>>;
  /** Counters per request, medians. */
  readonly perRequest: Readonly<Record<string, number>>;
  /** Highest across rounds. */
  readonly othersOnProxyCpuPct: number | null;
  readonly non2xx: number;
  readonly errors: number;
  readonly samples: readonly Sample[];
}

export interface RoundOptions {
  readonly rounds: number;
  readonly duration: number;
  readonly warmup: number;
  readonly connections: number;
}

function assertRunning(target: Target, when: string): void {
  const gone = target.charged.find((managed) => managed.exited);
  if (gone !== undefined) throw new Error(`${gone.name} (for ${target.label}) is no longer running ${when}`);
}

/** CPU samples at the start and end of a measured run. */
interface CpuSamples {
  busyBefore: number | undefined;
  before: (number | undefined)[];
  busyAfter: number | undefined;
  after: (number | undefined)[];
}

async function measure(scenarioLoad: LoadGenerator, target: Target, round: number, options: RoundOptions): Promise<Sample> {
  const load = target.load ?? scenarioLoad;
  assertRunning(target, "before the run");
  const counters = target.counters ?? [];
  const cpu: CpuSamples = { busyBefore: undefined, before: [], busyAfter: undefined, after: [] };
  const sampleStart = () => {
    cpu.busyBefore = pinning ? cpuBusySeconds(PROXY_CPU) : undefined;
    cpu.before = target.charged.map((managed) => cpuSeconds(managed.pid));
  };
  const sampleEnd = () => {
    cpu.after = target.charged.map((managed) => cpuSeconds(managed.pid));
    cpu.busyAfter = pinning ? cpuBusySeconds(PROXY_CPU) : undefined;
  };
  let result: LoadResult;
  let countersBefore: (number | null)[];
  if (load.runWindowed !== undefined) {
    // Warm-up and measured part in one run: the samples are taken as the generator reports the edges.
    let countersRead: Promise<(number | null)[]> | undefined;
    let ended = false;
    result = await load.runWindowed(target.url, options.warmup, options.duration, options.connections, {
      start: () => {
        sampleStart();
        countersRead = Promise.all(counters.map((counter) => counter.read()));
      },
      end: () => {
        sampleEnd();
        ended = true;
      },
    });
    if (countersRead === undefined || !ended) throw new Error(`${load.name} (for ${target.label}) did not report the start and end of its measured part`);
    countersBefore = await countersRead;
  } else {
    if (options.warmup > 0) await load.run(target.url, options.warmup, options.connections);
    countersBefore = await Promise.all(counters.map((counter) => counter.read()));
    sampleStart();
    result = await load.run(target.url, options.duration, options.connections);
    sampleEnd();
  }
  const { busyBefore, before, busyAfter, after } = cpu;
  const countersAfter = await Promise.all(counters.map((counter) => counter.read()));
  const perRequest: Record<string, number> = {};
  counters.forEach((counter, index) => {
    const start = countersBefore[index];
    const end = countersAfter[index];
    if (start != null && end != null && result.requests > 0) perRequest[counter.name] = (end - start) / result.requests;
  });
  assertRunning(target, "after the run");
  const parts: Record<string, number> = {};
  let total: number | null = result.requests > 0 ? 0 : null;
  target.charged.forEach((managed, index) => {
    const start = before[index];
    const end = after[index];
    if (start === undefined || end === undefined || total === null) {
      total = null;
      return;
    }
    const us = ((end - start) * 1e6) / result.requests;
    parts[managed.name] = us;
    total += us;
  });
  // Only the first charged process (the proxy) runs on the proxy CPU; the backend in target (a) does not.
  const proxyStart = before[0];
  const proxyEnd = after[0];
  const proxySeconds = proxyStart !== undefined && proxyEnd !== undefined ? proxyEnd - proxyStart : undefined;
  const onProxyCpu = target.charged[0]?.cpu === PROXY_CPU;
  const othersOnProxyCpuPct =
    busyBefore !== undefined && busyAfter !== undefined && proxySeconds !== undefined && result.seconds > 0
      ? Math.max(0, ((busyAfter - busyBefore - (onProxyCpu ? proxySeconds : 0)) / result.seconds) * 100)
      : null;
  return { ...result, round, cpuUsPerRequest: total, cpuParts: total === null ? {} : parts, perRequest, othersOnProxyCpuPct };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The `p`-th percentile (0–100, nearest rank) of `values`; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

function summarize(target: Target, samples: readonly Sample[]): Summary {
  let best: Sample | undefined;
  for (const sample of samples) {
    if (sample.cpuUsPerRequest === null) continue;
    if (best === undefined || sample.cpuUsPerRequest < best.cpuUsPerRequest!) best = sample;
  }
  return {
    label: target.label,
    url: target.url,
    rps: median(samples.map((s) => s.rps)),
    p50Ms: median(samples.map((s) => s.p50Ms)),
    p99Ms: median(samples.map((s) => s.p99Ms)),
    cpuUsPerRequest: best?.cpuUsPerRequest ?? null,
    cpuParts: best?.cpuParts ?? {},
    perRequest: Object.fromEntries(
      [...new Set(samples.flatMap((sample) => Object.keys(sample.perRequest)))].map((name) => [
        name,
        median(samples.map((sample) => sample.perRequest[name]).filter((value): value is number => value !== undefined)),
      ]),
    ),
    othersOnProxyCpuPct: samples.some((s) => s.othersOnProxyCpuPct !== null) ? Math.max(...samples.map((s) => s.othersOnProxyCpuPct ?? 0)) : null,
    non2xx: samples.reduce((sum, s) => sum + s.non2xx, 0),
    errors: samples.reduce((sum, s) => sum + s.errors, 0),
    samples,
  };
}

/** Runs `options.rounds` interleaved rounds over `targets`, logging each run; summaries keyed by target key. */
export async function runRounds(load: LoadGenerator, targets: readonly Target[], options: RoundOptions): Promise<Record<string, Summary>> {
  const samples = new Map<string, Sample[]>(targets.map((target) => [target.key, []]));
  for (let round = 1; round <= options.rounds; round++) {
    for (const target of targets) {
      const sample = await measure(load, target, round, options);
      samples.get(target.key)!.push(sample);
      const parts = Object.keys(sample.cpuParts).length > 1 ? ` (${Object.entries(sample.cpuParts).map(([name, us]) => `${name} ${fmt.us(us)}`).join(" + ")})` : "";
      console.log(
        `  round ${round}/${options.rounds} (${target.key}) ${target.label}: ${fmt.int(sample.rps)} req/s, p50 ${fmt.ms(sample.p50Ms)} ms, ` +
          `p99 ${fmt.ms(sample.p99Ms)} ms, ${fmt.us(sample.cpuUsPerRequest)} CPU µs/req${parts}` +
          (sample.othersOnProxyCpuPct === null ? "" : `, others on CPU ${PROXY_CPU}: ${sample.othersOnProxyCpuPct.toFixed(0)}%`) +
          (sample.non2xx + sample.errors > 0 ? `, ${sample.non2xx} non-2xx, ${sample.errors} errors` : ""),
      );
    }
  }
  const summaries: Record<string, Summary> = {};
  for (const target of targets) summaries[target.key] = summarize(target, samples.get(target.key)!);
  return summaries;
}

/** Targets with non-2xx responses or socket errors: their figures do not measure the proxy path. */
export function failedTargets(summaries: Readonly<Record<string, Summary>>): string[] {
  return Object.keys(summaries).filter((key) => summaries[key]!.non2xx + summaries[key]!.errors > 0);
}

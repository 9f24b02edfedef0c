// Where progressive rollouts keep their state (DESIGN.md "Contract, second round": `rollout`): one record
// per route (state, weight, the reason of the last decision), durable across restarts, and the counts
// every instance adds for each interval, so that one instance can judge the fleet's traffic. In memory
// mode the records are written to `${store.dir}/rollouts.json`; Redis keeps both for the whole fleet;
// workers without Redis reach the primary's memory store over IPC.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

export type RolloutState = "progressing" | "paused" | "promoted" | "rolled-back";

export interface RolloutRecord {
  readonly route: string;
  readonly from: string;
  readonly to: string;
  /** `to`'s share of the traffic the two services had between them in the config, percent. */
  readonly weight: number;
  readonly state: RolloutState;
  /** Why the last decision was taken, with the interval's figures. */
  readonly reason: string;
  /** When the state last changed, ISO 8601. */
  readonly since: string;
  /** Failed intervals so far (failureThreshold of them roll back). */
  readonly failures: number;
}

export interface RolloutStore {
  get(route: string): Promise<RolloutRecord | undefined>;
  put(record: RolloutRecord): Promise<void>;
  /** Writes `next` only if the stored record is still `expected` (an operator may have acted meanwhile). */
  replace(expected: RolloutRecord, next: RolloutRecord): Promise<boolean>;
  /** Adds one instance's counts for an interval (same length as every other add for it). */
  addCounts(route: string, interval: number, counts: readonly number[]): Promise<void>;
  /** The fleet's counts for an interval; gone once read. */
  takeCounts(route: string, interval: number): Promise<number[]>;
}

export class MemoryRolloutStore implements RolloutStore {
  readonly #file: string;
  #records: Map<string, RolloutRecord> | undefined;
  readonly #counts = new Map<string, number[]>();
  #writing: Promise<void> = Promise.resolve();

  constructor(dir: string) {
    this.#file = join(dir, "rollouts.json");
  }

  async get(route: string): Promise<RolloutRecord | undefined> {
    return (await this.#load()).get(route);
  }

  async put(record: RolloutRecord): Promise<void> {
    const records = await this.#load();
    records.set(record.route, record);
    const text = JSON.stringify([...records.values()]);
    // One write at a time, each of the whole file, renamed into place: a crash never leaves half a file.
    this.#writing = this.#writing.then(async () => {
      await mkdir(join(this.#file, ".."), { recursive: true });
      const temporary = `${this.#file}.tmp`;
      await writeFile(temporary, text, { mode: 0o600 });
      await rename(temporary, this.#file);
    });
    await this.#writing;
  }

  async replace(expected: RolloutRecord, next: RolloutRecord): Promise<boolean> {
    const stored = (await this.#load()).get(expected.route);
    if (stored !== undefined && JSON.stringify(stored) !== JSON.stringify(expected)) return false;
    await this.put(next);
    return true;
  }

  async addCounts(route: string, interval: number, counts: readonly number[]): Promise<void> {
    const key = `${route}\u0000${interval}`;
    const sum = this.#counts.get(key) ?? new Array<number>(counts.length).fill(0);
    counts.forEach((count, index) => (sum[index] = (sum[index] ?? 0) + count));
    this.#counts.set(key, sum);
    // Intervals nobody judged (the judge died) must not pile up.
    if (this.#counts.size > 1_000) this.#counts.delete(this.#counts.keys().next().value!);
  }

  async takeCounts(route: string, interval: number): Promise<number[]> {
    const key = `${route}\u0000${interval}`;
    const counts = this.#counts.get(key) ?? [];
    this.#counts.delete(key);
    return counts;
  }

  async #load(): Promise<Map<string, RolloutRecord>> {
    if (this.#records !== undefined) return this.#records;
    let records: RolloutRecord[] = [];
    try {
      records = JSON.parse(await readFile(this.#file, "utf8")) as RolloutRecord[];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    this.#records ??= new Map(records.map((record) => [record.route, record]));
    return this.#records;
  }
}

// Bans for a single instance without Redis: kept in the BanList, written to `${store.dir}/bans.json`
// (atomically, debounced) so a restart re-applies every ban still in force, as Fail2Ban's database does.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Ban } from "./ban-list.js";
import type { Logger } from "../observability/logger.js";
import type { BanChange, BanStore } from "./ban-store.js";

const WRITE_DELAY_MS = 500;

interface FileShape {
  readonly bans: readonly Ban[];
  readonly history: readonly (readonly [key: string, count: number, expires: number])[];
}

export class MemoryBanStore implements BanStore {
  readonly kind = "memory";
  readonly #dir: string;
  /** The bans in force, read when the file is written. */
  readonly #snapshot: () => readonly Ban[];
  readonly #logger: Logger;
  readonly #file: string;
  readonly #history = new Map<string, { count: number; expires: number }>();
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(dir: string, snapshot: () => readonly Ban[], logger: Logger) {
    this.#dir = dir;
    this.#snapshot = snapshot;
    this.#logger = logger;
    this.#file = join(dir, "bans.json");
  }

  async load(): Promise<Ban[]> {
    let text: string;
    try {
      text = await readFile(this.#file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    try {
      const data = JSON.parse(text) as FileShape;
      const now = Date.now();
      for (const [key, count, expires] of data.history ?? []) if (expires > now) this.#history.set(key, { count, expires });
      return (data.bans ?? []).filter((ban) => ban.until > now);
    } catch (error) {
      this.#logger.error({ err: error, file: this.#file }, "ban database unreadable; starting with no bans");
      return [];
    }
  }

  save(): Promise<void> {
    this.#schedule();
    return Promise.resolve();
  }

  remove(): Promise<void> {
    this.#schedule();
    return Promise.resolve();
  }

  recordBan(jail: string, subject: string, memoryMs: number): Promise<number> {
    const key = `${jail}\u0000${subject}`;
    const now = Date.now();
    const previous = this.#history.get(key);
    const count = previous !== undefined && previous.expires > now ? previous.count + 1 : 1;
    this.#history.set(key, { count, expires: now + memoryMs });
    return Promise.resolve(count);
  }

  subscribe(_listener: (change: BanChange) => void): void {
    // A single instance has no one else to hear from.
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      await this.#write();
    }
    await this.#writing;
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#write();
    }, WRITE_DELAY_MS);
    this.#timer.unref();
  }

  #write(): Promise<void> {
    this.#writing = this.#writing.then(async () => {
      const now = Date.now();
      const history = [...this.#history].filter(([, entry]) => entry.expires > now).map(([key, entry]) => [key, entry.count, entry.expires] as const);
      const data: FileShape = { bans: this.#snapshot(), history };
      try {
        await mkdir(this.#dir, { recursive: true, mode: 0o700 });
        const temporary = `${this.#file}.${process.pid}.tmp`;
        await writeFile(temporary, JSON.stringify(data), { mode: 0o600 });
        await rename(temporary, this.#file);
      } catch (error) {
        this.#logger.error({ err: error, file: this.#file }, "could not write the ban database");
      }
    });
    return this.#writing;
  }
}

// What the status page says about the configuration: which generation is running (1 at start, one more
// per applied reload), when it was applied, how the last reload went, and which restart-only keys
// (config/reload-scope.ts) now differ from what the process started with, so they wait for a restart.
// Kept by whoever reloads: the Gateway, or with workers the cluster primary (it also sees the files that
// never reach a worker).
import type { Config } from "../config/schema.js";
import { RESTART_ONLY_KEYS, restartOnlyChanges } from "../config/reload-scope.js";

export interface LastReload {
  /** ISO 8601. */
  readonly at: string;
  readonly ok: boolean;
  /** Changed keys that apply only after a restart (a successful reload). */
  readonly restartRequired: readonly string[];
  /** Why the file was rejected (a failed reload). */
  readonly problems: readonly string[];
}

export interface ConfigStatus {
  /** 1 for the config the process started with, one more per applied reload. */
  readonly generation: number;
  /** When the running config was applied, ISO 8601. */
  readonly loadedAt: string;
  readonly startedAt: string;
  readonly lastReload: LastReload | null;
  /** Restart-only keys whose value in the running config differs from the one the process started with. */
  readonly pendingRestart: readonly string[];
  /** Every key read only at start. */
  readonly restartOnlyKeys: readonly string[];
}

export class ConfigHistory {
  readonly #start: Config;
  readonly #startedAt = new Date().toISOString();
  /** Keys the owner applies without a restart of Rampart (the primary replaces workers for listen and tls.*). */
  readonly #appliedByOwner: (key: string) => boolean;
  #current: Config;
  #generation = 1;
  #loadedAt = this.#startedAt;
  #last: LastReload | null = null;

  constructor(config: Config, appliedByOwner: (key: string) => boolean = () => false) {
    this.#start = config;
    this.#current = config;
    this.#appliedByOwner = appliedByOwner;
  }

  reloaded(config: Config, restartRequired: readonly string[]): void {
    this.#current = config;
    this.#generation++;
    this.#loadedAt = new Date().toISOString();
    this.#last = { at: this.#loadedAt, ok: true, restartRequired: [...restartRequired], problems: [] };
  }

  failed(problems: readonly string[]): void {
    this.#last = { at: new Date().toISOString(), ok: false, restartRequired: [], problems: [...problems] };
  }

  status(): ConfigStatus {
    return {
      generation: this.#generation,
      loadedAt: this.#loadedAt,
      startedAt: this.#startedAt,
      lastReload: this.#last,
      pendingRestart: restartOnlyChanges(this.#start, this.#current).filter((key) => !this.#appliedByOwner(key)),
      restartOnlyKeys: RESTART_ONLY_KEYS,
    };
  }
}

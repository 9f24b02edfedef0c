// What every reload records, whoever performs it (the Gateway, or with workers the cluster primary):
// rampart_config_reloads_total, the last-success timestamp, one log line, and the history the status
// page shows. Both reload paths end here, so a reload reads the same in logs, metrics and /api/status.
import type { Config } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";
import type { ReloadResult } from "./admin-api.js";
import type { ConfigHistory } from "./config-history.js";

export interface ReloadMeters {
  readonly reloads: { inc(labels: { result: "success" | "failure" }): void };
  readonly lastSuccess: { setToCurrentTime(): void };
}

export class ReloadLedger {
  readonly #history: ConfigHistory;
  readonly #meters: ReloadMeters;
  readonly #logger: Logger;
  /** False in a worker: its primary warns once for the fleet. */
  readonly #warnRestart: boolean;

  constructor(history: ConfigHistory, meters: ReloadMeters, logger: Logger, warnRestart = true) {
    this.#history = history;
    this.#meters = meters;
    this.#logger = logger;
    this.#warnRestart = warnRestart;
  }

  rejected(problems: readonly string[], message = "config reload rejected; the running config stays in force"): ReloadResult {
    this.#meters.reloads.inc({ result: "failure" });
    this.#logger.error({ problems }, message);
    this.#history.failed(problems);
    return { ok: false, problems: [...problems] };
  }

  applied(config: Config, restartRequired: readonly string[], fields: Readonly<Record<string, unknown>>): ReloadResult {
    this.#meters.reloads.inc({ result: "success" });
    this.#meters.lastSuccess.setToCurrentTime();
    this.#history.reloaded(config, restartRequired);
    this.#logger.info({ ...fields, restartRequired }, "config reloaded");
    if (restartRequired.length > 0 && this.#warnRestart) this.#logger.warn({ keys: restartRequired }, "changed keys that apply only after a restart");
    return { ok: true, restartRequired: [...restartRequired] };
  }
}

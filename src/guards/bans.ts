// Issues and lifts bans: the local BanList (checked on every connection and request), the shared store
// (persistence and the fleet), metrics and one log line per ban or unban. Escalation follows Fail2Ban's
// bantime.increment: the n-th ban of an address by a jail lasts banTime × factor^(n-1), capped.
import type { JailConfig } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import type { SharedState } from "../state/shared-state.js";
import { BanList, type Ban } from "../state/ban-list.js";

const SWEEP_INTERVAL_MS = 10_000;

export class BanManager {
  readonly list: BanList;
  readonly #sweeper: NodeJS.Timeout;
  /** Bans and unbans the store did not take (it was down), replayed when it is back. */
  readonly #unsynced = new Map<string, Ban | "removed">();
  readonly #state: () => SharedState;
  readonly #metrics: GatewayMetrics;
  readonly #logger: Logger;
  readonly #isAllowlisted: (ip: string) => boolean;

  constructor(
    options: { readonly ipv6Prefix: number; readonly maxEntries: number },
    state: () => SharedState,
    metrics: GatewayMetrics,
    logger: Logger,
    isAllowlisted: (ip: string) => boolean,
  ) {
    this.#state = state;
    this.#metrics = metrics;
    this.#logger = logger;
    this.#isAllowlisted = isAllowlisted;
    this.list = new BanList(options.ipv6Prefix, options.maxEntries);
    // Expired bans leave the list (and the gauge) within a sweep interval even if never looked up.
    this.#sweeper = setInterval(() => {
      this.list.sweep();
      this.#updateGauge();
    }, SWEEP_INTERVAL_MS).unref();
  }

  stop(): void {
    clearInterval(this.#sweeper);
  }

  #updateGauge(): void {
    this.#metrics.bansActive.set(this.list.size);
  }

  /**
   * Loads the store's bans into the local list, and again after every reconnect (changes may have been
   * missed meanwhile). Resolves after the first load, or after `waitMs` if the store is not reachable
   * yet, so a restart re-applies bans before it serves traffic without hanging on a dead Redis.
   */
  start(waitMs = 2_000): Promise<void> {
    const state = this.#state();
    let firstLoadDone: () => void = () => {};
    const firstLoad = new Promise<void>((resolve) => (firstLoadDone = resolve));
    state.bans.subscribe((change) => {
      if (change.op === "add") this.list.add(change.ban);
      else this.list.remove(change.ip);
      this.#updateGauge();
    });
    state.onAvailability((up) => {
      if (!up) return;
      this.#resync()
        .catch((error: unknown) => this.#logger.error({ err: error }, "could not load bans from the store"))
        .finally(firstLoadDone);
    });
    return Promise.race([firstLoad, new Promise<void>((resolve) => setTimeout(resolve, waitMs).unref())]);
  }

  /**
   * After (re)connecting: first replay what the store missed while it was away (bans and unbans made
   * here), then take the store's set as the truth, dropping local bans lifted elsewhere meanwhile.
   */
  async #resync(): Promise<void> {
    const bans = this.#state().bans;
    for (const [subject, ban] of [...this.#unsynced]) {
      await (ban === "removed" ? bans.remove(subject) : bans.save(ban));
      this.#unsynced.delete(subject);
    }
    const stored = await bans.load();
    const kept = new Set(stored.map((ban) => ban.ip));
    for (const ban of this.list.list()) if (!kept.has(ban.ip)) this.list.remove(ban.ip);
    for (const ban of stored) this.list.add(ban);
    this.#updateGauge();
    if (stored.length > 0) this.#logger.info({ bans: stored.length, store: this.#state().kind }, "bans loaded from the store");
  }

  find(ip: string): Ban | undefined {
    return this.list.size === 0 ? undefined : this.list.find(ip);
  }

  /** Bans `ip` for `durationMs`; undefined when the address is allowlisted (never banned). */
  ban(ip: string, jail: string, durationMs: number, reason: string): Ban | undefined {
    if (this.#isAllowlisted(ip)) return undefined;
    const ban: Ban = { ip: this.list.subject(ip), jail, until: Date.now() + durationMs, reason };
    this.list.add(ban);
    this.#updateGauge();
    this.#metrics.bansTotal.inc({ jail });
    this.#logger.warn({ ip: ban.ip, jail, durationMs, until: new Date(ban.until).toISOString(), reason }, "banned");
    this.#state()
      .bans.save(ban)
      .catch((error: unknown) => {
        this.#unsynced.set(ban.ip, ban);
        this.#logger.warn({ err: error, ip: ban.ip }, "ban kept locally: the shared store did not take it yet");
      });
    return ban;
  }

  /** A jail's ban, escalated for repeat offenders. */
  async banForJail(ip: string, name: string, jail: JailConfig, reason: string): Promise<Ban | undefined> {
    if (this.#isAllowlisted(ip)) return undefined;
    let duration = jail.banTime;
    const increment = jail.banTimeIncrement;
    if (increment !== undefined) {
      let count = 1;
      try {
        count = await this.#state().bans.recordBan(name, this.list.subject(ip), increment.maxTime);
      } catch (error) {
        this.#logger.warn({ err: error }, "ban history unavailable: banning without escalation");
      }
      duration = Math.min(jail.banTime * increment.factor ** (count - 1), Math.max(increment.maxTime, jail.banTime));
    }
    return this.ban(ip, name, duration, reason);
  }

  /** Lifts the ban on `ip` (an address or a listed IPv6 prefix) here and across the fleet. */
  unban(ip: string): boolean {
    const existed = this.list.remove(ip);
    this.#updateGauge();
    const subject = ip.includes("/") ? ip : this.list.subject(ip);
    this.#state()
      .bans.remove(subject)
      .catch((error: unknown) => {
        this.#unsynced.set(subject, "removed");
        this.#logger.warn({ err: error, ip: subject }, "unban applied locally: the shared store did not take it yet");
      });
    if (existed) this.#logger.info({ ip: subject }, "unbanned");
    return existed;
  }
}

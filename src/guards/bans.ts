// Issues and lifts bans: the local BanList (checked on every connection and request), the shared store
// (persistence and the fleet), metrics and one log line per ban or unban. Escalation follows Fail2Ban's
// bantime.increment: the n-th ban of an address by a jail lasts banTime × factor^(n-1), capped.
import type { JailConfig } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import type { SharedState } from "../state/shared-state.js";
import { BanList, type Ban } from "./ban-list.js";

const SWEEP_INTERVAL_MS = 10_000;

export class BanManager {
  readonly list: BanList;
  readonly #sweeper: NodeJS.Timeout;

  constructor(
    options: { readonly ipv6Prefix: number; readonly maxEntries: number },
    private readonly state: () => SharedState,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    private readonly isAllowlisted: (ip: string) => boolean,
  ) {
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
    this.metrics.bansActive.set(this.list.size);
  }

  /**
   * Loads the store's bans into the local list, and again after every reconnect (changes may have been
   * missed meanwhile). Resolves after the first load, or after `waitMs` if the store is not reachable
   * yet, so a restart re-applies bans before it serves traffic without hanging on a dead Redis.
   */
  start(waitMs = 2_000): Promise<void> {
    const state = this.state();
    let firstLoadDone: () => void = () => {};
    const firstLoad = new Promise<void>((resolve) => (firstLoadDone = resolve));
    state.bans.subscribe((change) => {
      if (change.op === "add") this.list.add(change.ban);
      else this.list.remove(change.ip);
      this.#updateGauge();
    });
    state.onAvailability((up) => {
      if (!up) return;
      state.bans.load().then(
        (bans) => {
          for (const ban of bans) this.list.add(ban);
          this.#updateGauge();
          if (bans.length > 0) this.logger.info({ bans: bans.length, store: state.kind }, "bans re-applied from the store");
        },
        (error: unknown) => this.logger.error({ err: error }, "could not load bans from the store"),
      ).finally(firstLoadDone);
    });
    return Promise.race([firstLoad, new Promise<void>((resolve) => setTimeout(resolve, waitMs).unref())]);
  }

  find(ip: string): Ban | undefined {
    return this.list.size === 0 ? undefined : this.list.find(ip);
  }

  /** Bans `ip` for `durationMs`; undefined when the address is allowlisted (never banned). */
  ban(ip: string, jail: string, durationMs: number, reason: string): Ban | undefined {
    if (this.isAllowlisted(ip)) return undefined;
    const ban: Ban = { ip: this.list.subject(ip), jail, until: Date.now() + durationMs, reason };
    this.list.add(ban);
    this.#updateGauge();
    this.metrics.bansTotal.inc({ jail });
    this.logger.warn({ ip: ban.ip, jail, durationMs, until: new Date(ban.until).toISOString(), reason }, "banned");
    this.state()
      .bans.save(ban)
      .catch((error: unknown) => this.logger.warn({ err: error, ip: ban.ip }, "ban kept locally: the shared store did not take it"));
    return ban;
  }

  /** A jail's ban, escalated for repeat offenders. */
  async banForJail(ip: string, name: string, jail: JailConfig, reason: string): Promise<Ban | undefined> {
    if (this.isAllowlisted(ip)) return undefined;
    let duration = jail.banTime;
    const increment = jail.banTimeIncrement;
    if (increment !== undefined) {
      let count = 1;
      try {
        count = await this.state().bans.recordBan(name, this.list.subject(ip), increment.maxTime);
      } catch (error) {
        this.logger.warn({ err: error }, "ban history unavailable: banning without escalation");
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
    this.state()
      .bans.remove(subject)
      .catch((error: unknown) => this.logger.warn({ err: error, ip: subject }, "unban applied locally only: the shared store did not take it"));
    if (existed) this.logger.info({ ip: subject }, "unbanned");
    return existed;
  }
}

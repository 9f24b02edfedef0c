// The primary's side of shared state for workers without Redis: the authoritative ban list (persisted
// to store.dir/bans.json), the ACME store (files under certDir, challenges, locks), rollouts and the
// rate-limit counters workers lease quota from (quota-host.ts). Each change a worker makes is broadcast
// to the other workers, so a ban decided in one worker holds in all.
import type { Config } from "../config/schema.js";
import { BanList, type Ban } from "./ban-list.js";
import type { Logger } from "../observability/logger.js";
import { MemoryBanStore } from "./memory-ban-store.js";
import { MemoryCertStore } from "./memory-cert-store.js";
import type { PemPair } from "./pem-pair.js";
import type { Handlers } from "./ipc.js";
import { MemoryRolloutStore, type RolloutRecord } from "./rollout-store.js";
import type { LimiterSpec } from "./limiters.js";
import { QuotaHost } from "./quota-host.js";

export type Broadcast = (name: string, payload: unknown, except?: unknown) => void;

export class StateHost {
  readonly #bans: BanList;
  readonly #banStore: MemoryBanStore;
  readonly #certs: MemoryCertStore;
  readonly #rollouts: MemoryRolloutStore;
  readonly #quotas: QuotaHost;

  /** `workers`: how many workers share each rate limit (the size of quota leases depends on it). */
  constructor(config: Config, logger: Logger, workers: () => number) {
    this.#bans = new BanList(config.bans.ipv6Prefix, config.bans.maxEntries);
    this.#banStore = new MemoryBanStore(config.store.dir, () => this.#bans.list(), logger);
    this.#certs = new MemoryCertStore(config.tls.certDir);
    this.#rollouts = new MemoryRolloutStore(config.store.dir);
    this.#quotas = new QuotaHost(workers);
  }

  async load(): Promise<void> {
    for (const ban of await this.#banStore.load()) this.#bans.add(ban);
  }

  /** The IPC methods one worker may call; `origin` identifies it so broadcasts skip it. */
  handlers(origin: unknown, broadcast: Broadcast): Handlers {
    const bans = this.#bans;
    const certs = this.#certs;
    return {
      "bans.load": () => bans.list(),
      "bans.save": async (ban: Ban) => {
        bans.add(ban);
        await this.#banStore.save();
        broadcast("bans.change", { op: "add", ban }, origin);
      },
      "bans.remove": async (ip: string) => {
        bans.remove(ip);
        await this.#banStore.remove();
        broadcast("bans.change", { op: "remove", ip }, origin);
      },
      "bans.recordBan": (jail: string, subject: string, memoryMs: number) => this.#banStore.recordBan(jail, subject, memoryMs),
      "certs.getCertificate": async (domain: string) => (await certs.getCertificate(domain)) ?? null,
      "certs.putCertificate": async (domain: string, pem: PemPair) => {
        await certs.putCertificate(domain, pem);
        broadcast("certs.changed", domain, origin);
      },
      "certs.getAccountKey": async () => (await certs.getAccountKey()) ?? null,
      "certs.putAccountKey": async (pem: string) => {
        // First writer wins, as with Redis's SET NX: concurrent first orders share one account.
        if ((await certs.getAccountKey()) === undefined) await certs.putAccountKey(pem);
      },
      "certs.putChallenge": (name: string, value: string, ttlMs: number) => certs.putChallenge(name, value, ttlMs),
      "certs.getChallenge": async (name: string) => (await certs.getChallenge(name)) ?? null,
      "certs.deleteChallenge": (name: string) => certs.deleteChallenge(name),
      "certs.acquireLock": async (name: string, ttlMs: number) => (await certs.acquireLock(name, ttlMs)) ?? null,
      "certs.releaseLock": (name: string, token: string) => certs.releaseLock(name, token),
      "rollouts.get": async (route: string) => (await this.#rollouts.get(route)) ?? null,
      "rollouts.put": (record: RolloutRecord) => this.#rollouts.put(record),
      "rollouts.replace": (expected: RolloutRecord, next: RolloutRecord) => this.#rollouts.replace(expected, next),
      "rollouts.addCounts": (route: string, interval: number, counts: number[]) => this.#rollouts.addCounts(route, interval, counts),
      "rollouts.takeCounts": (route: string, interval: number) => this.#rollouts.takeCounts(route, interval),
      "quota.lease": (spec: LimiterSpec, key: string, want: number) => this.#quotas.lease(spec, key, want),
      "quota.return": (spec: LimiterSpec, key: string, points: number, endsAt: number) => this.#quotas.giveBack(spec, key, points, endsAt),
    };
  }

  close(): Promise<void> {
    return this.#banStore.close();
  }
}

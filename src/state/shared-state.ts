// The process's handle on shared state, built once from `store` and kept across reloads: the ban
// store, the counters' factories (jails' limiters, rate-limit policies' quotas) and whether the store
// is up (rampart_store_up{kind}).
import type { StoreConfig } from "../config/schema.js";
import type { Ban } from "./ban-list.js";
import type { Logger } from "../observability/logger.js";
import type { BanStore } from "./ban-store.js";
import type { CertStore } from "./cert-store.js";
import { MemoryCertStore } from "./memory-cert-store.js";
import { RedisCertStore } from "./redis-cert-store.js";
import type { IpcPeer } from "./ipc.js";
import { IpcBanStore, IpcCertStore, IpcLeaseChannel, IpcRolloutStore } from "./ipc-stores.js";
import { LEASE_TIMING, LeasedQuota } from "./leased-quota.js";
import { limiterQuotas, type Quota, type QuotaFactory } from "./quota.js";
import { MemoryRolloutStore, type RolloutStore } from "./rollout-store.js";
import { RedisRolloutStore } from "./redis-rollout-store.js";
import { clusterLimiterFactory, limiterFactory, type LimiterFactory } from "./limiters.js";
import { MemoryBanStore } from "./memory-ban-store.js";
import { RedisBanStore } from "./redis-ban-store.js";
import { createRedisClient, type RedisClient } from "./redis.js";

export interface SharedState {
  readonly kind: "memory" | "redis";
  readonly bans: BanStore;
  readonly certs: CertStore;
  readonly rollouts: RolloutStore;
  /** Counters for jails (and anything else counting per key). */
  readonly limiter: LimiterFactory;
  /** Rate-limit policies' counters: leased from the primary with workers and no Redis, else the limiters above. */
  readonly quota: QuotaFactory;
  /** Called with true when the store (re)connects, false when it goes away. */
  onAvailability(listener: (up: boolean) => void): void;
  close(): Promise<void>;
}

/**
 * `primary` is set in a node:cluster worker: without Redis, the primary keeps the shared state and the
 * worker reaches it over IPC: rate-limit policies spend quota leased from the primary's counters
 * (leased-quota.ts; no IPC per request), jails count through rate-limiter-flexible's cluster limiter
 * (one IPC call per offence, which is rare).
 */
export function createSharedState(store: StoreConfig, certDir: string, banSnapshot: () => readonly Ban[], logger: Logger, primary?: IpcPeer): SharedState {
  const listeners: ((up: boolean) => void)[] = [];
  let redis: RedisClient | undefined;
  if (store.kind === "redis") {
    redis = createRedisClient(store.redis, logger, (up) => {
      for (const listener of listeners) listener(up);
    });
  }
  const viaPrimary = redis === undefined && primary !== undefined;
  const bans: BanStore = redis
    ? new RedisBanStore(redis, store.redis.keyPrefix, logger)
    : viaPrimary
      ? new IpcBanStore(primary)
      : new MemoryBanStore(store.dir, banSnapshot, logger);
  // One limiter per distinct spec for the life of the process: a reload that keeps a policy keeps its
  // counters (in memory mode they live in the limiter itself).
  const create = viaPrimary ? clusterLimiterFactory() : limiterFactory(store, redis);
  const limiters = new Map<string, ReturnType<LimiterFactory>>();
  const limiter: LimiterFactory = (spec) => {
    const key = `${spec.name}|${spec.points}|${spec.windowMs}`;
    let existing = limiters.get(key);
    if (existing === undefined) {
      existing = create(spec);
      limiters.set(key, existing);
    }
    return existing;
  };
  const quotas = new Map<string, Quota>();
  const fromLimiters = limiterQuotas(limiter);
  const onLeaseFailure = (error: unknown) => logger.warn({ err: error }, "no quota lease from the primary: store.onStoreFailure applies for a second");
  const quota: QuotaFactory = (spec) => {
    if (!viaPrimary || primary === undefined) return fromLimiters(spec);
    const key = `${spec.name}|${spec.points}|${spec.windowMs}`;
    let existing = quotas.get(key);
    if (existing === undefined) {
      existing = new LeasedQuota(new IpcLeaseChannel(primary, spec, LEASE_TIMING.timeoutMs), LEASE_TIMING, onLeaseFailure);
      quotas.set(key, existing);
    }
    return existing;
  };
  return {
    kind: store.kind,
    bans,
    certs: redis ? new RedisCertStore(redis, store.redis.keyPrefix) : viaPrimary ? new IpcCertStore(primary) : new MemoryCertStore(certDir),
    rollouts: redis ? new RedisRolloutStore(redis, store.redis.keyPrefix) : viaPrimary ? new IpcRolloutStore(primary) : new MemoryRolloutStore(store.dir),
    limiter,
    quota,
    onAvailability: (listener) => {
      listeners.push(listener);
      if (redis === undefined) listener(true);
    },
    close: async () => {
      await bans.close();
      redis?.disconnect();
    },
  };
}

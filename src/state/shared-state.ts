// The process's handle on shared state, built once from `store` and kept across reloads: the ban
// store, the counters' factory and whether the store is up (rampart_store_up{kind}).
import type { StoreConfig } from "../config/schema.js";
import type { Ban } from "./ban-list.js";
import type { Logger } from "../observability/logger.js";
import type { BanStore } from "./ban-store.js";
import type { CertStore } from "./cert-store.js";
import { MemoryCertStore } from "./memory-cert-store.js";
import { RedisCertStore } from "./redis-cert-store.js";
import type { IpcPeer } from "./ipc.js";
import { IpcBanStore, IpcCertStore, IpcRolloutStore } from "./ipc-stores.js";
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
  readonly limiter: LimiterFactory;
  /** Called with true when the store (re)connects, false when it goes away. */
  onAvailability(listener: (up: boolean) => void): void;
  close(): Promise<void>;
}

/**
 * `primary` is set in a node:cluster worker: without Redis, the primary keeps the shared state and the
 * worker reaches it over IPC (counters through rate-limiter-flexible's cluster limiter).
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
  return {
    kind: store.kind,
    bans,
    certs: redis ? new RedisCertStore(redis, store.redis.keyPrefix) : viaPrimary ? new IpcCertStore(primary) : new MemoryCertStore(certDir),
    rollouts: redis ? new RedisRolloutStore(redis, store.redis.keyPrefix) : viaPrimary ? new IpcRolloutStore(primary) : new MemoryRolloutStore(store.dir),
    limiter,
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

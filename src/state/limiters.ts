// Counters for rate limits and jails, on rate-limiter-flexible: in memory for one instance, in Redis
// for a fleet. With Redis, `inMemoryBlockOnConsumed` keeps a key that is already over its limit from
// costing a Redis round trip per request, and with onStoreFailure "open" an in-memory insurance limiter
// takes over while Redis is down, so limits hold per process instead of vanishing.
import { RateLimiterCluster, RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { StoreConfig } from "../config/schema.js";
import type { RedisClient } from "./redis.js";

export interface LimiterSpec {
  /** Unique per policy or jail, e.g. "rl:per-ip" or "jail:scanners". */
  readonly name: string;
  readonly points: number;
  readonly windowMs: number;
}

export type LimiterFactory = (spec: LimiterSpec) => RateLimiterAbstract;

export function limiterFactory(store: StoreConfig, redis: RedisClient | undefined): LimiterFactory {
  return (spec) => {
    // rate-limiter-flexible counts whole seconds; a window below one second is one second.
    const duration = Math.max(1, Math.ceil(spec.windowMs / 1000));
    if (redis === undefined) return new RateLimiterMemory({ keyPrefix: spec.name, points: spec.points, duration });
    return new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${store.redis.keyPrefix}${spec.name}`,
      points: spec.points,
      duration,
      inMemoryBlockOnConsumed: spec.points + 1,
      rejectIfRedisNotReady: true,
      insuranceLimiter: store.onStoreFailure === "open" ? new RateLimiterMemory({ keyPrefix: spec.name, points: spec.points, duration }) : undefined,
    });
  };
}

/**
 * For node:cluster workers without Redis: counters live in the primary (RateLimiterClusterMaster), one IPC
 * round trip per call. Jails count offences with it (rare); rate-limit policies lease quota instead
 * (leased-quota.ts), so a request does not wait on the primary.
 */
export function clusterLimiterFactory(): LimiterFactory {
  return (spec) => new RateLimiterCluster({ keyPrefix: spec.name, points: spec.points, duration: Math.max(1, Math.ceil(spec.windowMs / 1000)), timeoutMs: 2_000 });
}

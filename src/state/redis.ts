// The Redis connection(s) shared state runs on: a single node or a Redis Cluster, chosen by config.
// `enableOfflineQueue: false` makes commands fail at once while Redis is unreachable instead of
// queueing behind a dead connection (DESIGN.md, "Known traps"): requests then fall back to local
// limits, and the gateway never waits on Redis to answer a client.
import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { StoreConfig } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";

export type RedisClient = Redis | Cluster;

const common: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  // Keep trying for ever, at most every 2 s: Redis coming back must need no restart of Rampart.
  retryStrategy: (times: number) => Math.min(100 * times, 2_000),
  connectTimeout: 2_000,
  // Commands issued in the same tick share one round trip: many requests, few packets.
  enableAutoPipelining: true,
};

export function createRedisClient(config: StoreConfig["redis"], logger: Logger, onState: (up: boolean) => void): RedisClient {
  const client: RedisClient =
    config.cluster.length > 0
      ? new Cluster(config.cluster, { redisOptions: common, enableOfflineQueue: false, clusterRetryStrategy: common.retryStrategy })
      : new Redis(config.url, common);
  // Unknown until the first connection attempt settles, so that a Redis unreachable from the start is
  // reported too (rampart_store_up 0 and one warning), not only a Redis lost after being up.
  let up: boolean | undefined;
  const set = (next: boolean, detail?: unknown) => {
    if (next === up) return;
    up = next;
    onState(up);
    if (up) logger.info("shared store (redis) is up");
    else logger.warn({ err: detail }, "shared store (redis) is down: serving with per-process state");
  };
  client.on("ready", () => set(true));
  client.on("error", (error: unknown) => set(false, error));
  client.on("close", () => set(false));
  client.on("end", () => set(false));
  return client;
}

/** A second connection for pub/sub (a subscribed Redis connection can run no other command). */
export function duplicateForSubscribe(client: RedisClient): RedisClient {
  const subscriber = client.duplicate();
  subscriber.on("error", () => {}); // state changes are reported by the main client
  return subscriber;
}

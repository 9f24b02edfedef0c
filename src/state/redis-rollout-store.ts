// Rollouts in Redis: the record as one JSON string per route, each interval's fleet counts as a hash
// every instance increments (HINCRBY per field, one pipeline per flush), expiring on its own.
import type { RedisClient } from "./redis.js";
import type { RolloutRecord, RolloutStore } from "./rollout-store.js";

/** Compare-and-set in one step: a decision never overwrites an operator's action taken meanwhile. */
const REPLACE = `local stored = redis.call("GET", KEYS[1])
if stored == false or stored == ARGV[1] then redis.call("SET", KEYS[1], ARGV[2]) return 1 end
return 0`;

/** Counts of an interval nobody judged are dropped after this long. */
const COUNTS_TTL_S = 3_600;

export class RedisRolloutStore implements RolloutStore {
  readonly #client: RedisClient;
  readonly #prefix: string;

  constructor(client: RedisClient, keyPrefix: string) {
    this.#client = client;
    this.#prefix = `${keyPrefix}rollout:`;
  }

  async get(route: string): Promise<RolloutRecord | undefined> {
    const text = await this.#client.get(`${this.#prefix}${route}`);
    return text === null ? undefined : (JSON.parse(text) as RolloutRecord);
  }

  async put(record: RolloutRecord): Promise<void> {
    await this.#client.set(`${this.#prefix}${record.route}`, JSON.stringify(record));
  }

  async replace(expected: RolloutRecord, next: RolloutRecord): Promise<boolean> {
    const replaced = await this.#client.eval(REPLACE, 1, `${this.#prefix}${expected.route}`, JSON.stringify(expected), JSON.stringify(next));
    return replaced === 1;
  }

  async addCounts(route: string, interval: number, counts: readonly number[]): Promise<void> {
    const key = `${this.#prefix}${route}:counts:${interval}`;
    const pipeline = this.#client.pipeline();
    counts.forEach((count, index) => {
      if (count !== 0) pipeline.hincrby(key, String(index), count);
    });
    pipeline.expire(key, COUNTS_TTL_S);
    await pipeline.exec();
  }

  async takeCounts(route: string, interval: number): Promise<number[]> {
    const key = `${this.#prefix}${route}:counts:${interval}`;
    const [[, fields]] = (await this.#client.multi().hgetall(key).del(key).exec()) as [[unknown, Record<string, string>], unknown];
    const counts: number[] = [];
    for (const [index, value] of Object.entries(fields ?? {})) counts[Number(index)] = Number(value);
    return Array.from(counts, (count) => count ?? 0);
  }
}

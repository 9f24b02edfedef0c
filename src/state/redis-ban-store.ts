// Bans shared by a fleet through Redis: a hash of bans (field = banned address or prefix) that every
// instance loads at start, and a pub/sub channel that tells every instance about each change within
// milliseconds. Keys carry a hash tag ({bans}) so they live in one Redis Cluster slot.
import { randomUUID } from "node:crypto";
import type { Ban } from "./ban-list.js";
import type { Logger } from "../observability/logger.js";
import type { BanChange, BanStore } from "./ban-store.js";
import { duplicateForSubscribe, type RedisClient } from "./redis.js";

interface Message {
  readonly origin: string;
  readonly change: BanChange;
}

export class RedisBanStore implements BanStore {
  readonly kind = "redis";
  readonly #client: RedisClient;
  readonly #logger: Logger;
  readonly #origin = randomUUID();
  readonly #hash: string;
  readonly #channel: string;
  readonly #history: string;
  #subscriber: RedisClient | undefined;

  constructor(client: RedisClient, keyPrefix: string, logger: Logger) {
    this.#client = client;
    this.#logger = logger;
    this.#hash = `${keyPrefix}{bans}`;
    this.#channel = `${keyPrefix}{bans}:changes`;
    this.#history = `${keyPrefix}{bans}:history:`;
  }

  async load(): Promise<Ban[]> {
    const entries = await this.#client.hgetall(this.#hash);
    const now = Date.now();
    const active: Ban[] = [];
    const expired: string[] = [];
    for (const [field, text] of Object.entries(entries)) {
      const ban = JSON.parse(text) as Ban;
      if (ban.until > now) active.push(ban);
      else expired.push(field);
    }
    if (expired.length > 0) await this.#client.hdel(this.#hash, ...expired);
    return active;
  }

  async save(ban: Ban): Promise<void> {
    await this.#client.hset(this.#hash, ban.ip, JSON.stringify(ban));
    await this.#publish({ op: "add", ban });
  }

  async remove(ip: string): Promise<void> {
    await this.#client.hdel(this.#hash, ip);
    await this.#publish({ op: "remove", ip });
  }

  async recordBan(jail: string, subject: string, memoryMs: number): Promise<number> {
    const key = `${this.#history}${jail}:${subject}`;
    const [[, count]] = (await this.#client.multi().incr(key).pexpire(key, memoryMs).exec()) as [[unknown, number], unknown];
    return count;
  }

  subscribe(listener: (change: BanChange) => void): void {
    const subscriber = duplicateForSubscribe(this.#client);
    this.#subscriber = subscriber;
    subscriber.on("message", (channel: string, text: string) => {
      if (channel !== this.#channel) return;
      try {
        const message = JSON.parse(text) as Message;
        if (message.origin !== this.#origin) listener(message.change);
      } catch (error) {
        this.#logger.warn({ err: error }, "ignored a malformed ban change message");
      }
    });
    // (Re)subscribe whenever the connection becomes ready: commands are not queued while it is down.
    const subscribe = () => {
      subscriber.subscribe(this.#channel).catch((error: unknown) => this.#logger.warn({ err: error }, "could not subscribe to ban changes"));
    };
    subscriber.on("ready", subscribe);
  }

  async close(): Promise<void> {
    this.#subscriber?.disconnect();
  }

  async #publish(change: BanChange): Promise<void> {
    const message: Message = { origin: this.#origin, change };
    await this.#client.publish(this.#channel, JSON.stringify(message));
  }
}

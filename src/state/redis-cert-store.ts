// ACME state shared by a fleet through Redis. Keys carry the {acme} hash tag so they share one Redis
// Cluster slot. Locks are SET NX PX with a random token, released only by their holder (compare and
// delete in one script), so an expired lock taken over by another instance is never released by
// the first.
import { randomUUID } from "node:crypto";
import type { PemPair } from "./pem-pair.js";
import type { CertStore } from "./cert-store.js";
import type { RedisClient } from "./redis.js";

const RELEASE = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`;

export class RedisCertStore implements CertStore {
  readonly kind = "redis";
  readonly #client: RedisClient;
  readonly #prefix: string;

  constructor(client: RedisClient, keyPrefix: string) {
    this.#client = client;
    this.#prefix = `${keyPrefix}{acme}:`;
  }

  async getCertificate(domain: string): Promise<PemPair | undefined> {
    const text = await this.#client.get(`${this.#prefix}cert:${domain}`);
    return text === null ? undefined : (JSON.parse(text) as PemPair);
  }

  async putCertificate(domain: string, pem: PemPair): Promise<void> {
    await this.#client.set(`${this.#prefix}cert:${domain}`, JSON.stringify({ cert: pem.cert, key: pem.key }));
  }

  async getAccountKey(): Promise<string | undefined> {
    return (await this.#client.get(`${this.#prefix}account-key`)) ?? undefined;
  }

  async putAccountKey(pem: string): Promise<void> {
    // NX: two instances creating an account at once keep the first key; the caller re-reads it.
    await this.#client.set(`${this.#prefix}account-key`, pem, "NX");
  }

  async putChallenge(name: string, value: string, ttlMs: number): Promise<void> {
    await this.#client.set(`${this.#prefix}challenge:${name}`, value, "PX", ttlMs);
  }

  async getChallenge(name: string): Promise<string | undefined> {
    return (await this.#client.get(`${this.#prefix}challenge:${name}`)) ?? undefined;
  }

  async deleteChallenge(name: string): Promise<void> {
    await this.#client.del(`${this.#prefix}challenge:${name}`);
  }

  async acquireLock(name: string, ttlMs: number): Promise<string | undefined> {
    const token = randomUUID();
    const result = await this.#client.set(`${this.#prefix}lock:${name}`, token, "PX", ttlMs, "NX");
    return result === "OK" ? token : undefined;
  }

  async releaseLock(name: string, token: string): Promise<void> {
    await this.#client.eval(RELEASE, 1, `${this.#prefix}lock:${name}`, token);
  }
}

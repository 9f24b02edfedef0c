// ACME state for a single instance: certificates and the account key as files under certDir
// (acme/<domain>.crt|.key, acme/account.key; keys 0600), challenges and locks in this process.
import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { PemPair } from "./pem-pair.js";
import type { CertStore } from "./cert-store.js";

export class MemoryCertStore implements CertStore {
  readonly kind = "memory";
  readonly #dir: string;
  readonly #challenges = new Map<string, { value: string; expires: number }>();
  readonly #locks = new Map<string, { token: string; expires: number }>();

  constructor(certDir: string) {
    this.#dir = join(resolve(certDir), "acme");
  }

  async getCertificate(domain: string): Promise<PemPair | undefined> {
    const [cert, key] = await Promise.all([readOptional(this.#file(domain, "crt")), readOptional(this.#file(domain, "key"))]);
    return cert !== undefined && key !== undefined ? { cert, key } : undefined;
  }

  async putCertificate(domain: string, pem: PemPair): Promise<void> {
    // Key first: a reader that sees the new certificate must find its key.
    await this.#write(this.#file(domain, "key"), pem.key, 0o600);
    await this.#write(this.#file(domain, "crt"), pem.cert, 0o644);
  }

  getAccountKey(): Promise<string | undefined> {
    return readOptional(join(this.#dir, "account.key"));
  }

  putAccountKey(pem: string): Promise<void> {
    return this.#write(join(this.#dir, "account.key"), pem, 0o600);
  }

  putChallenge(name: string, value: string, ttlMs: number): Promise<void> {
    this.#challenges.set(name, { value, expires: Date.now() + ttlMs });
    return Promise.resolve();
  }

  getChallenge(name: string): Promise<string | undefined> {
    const entry = this.#challenges.get(name);
    if (entry === undefined || entry.expires <= Date.now()) return Promise.resolve(undefined);
    return Promise.resolve(entry.value);
  }

  deleteChallenge(name: string): Promise<void> {
    this.#challenges.delete(name);
    return Promise.resolve();
  }

  acquireLock(name: string, ttlMs: number): Promise<string | undefined> {
    const now = Date.now();
    // Locks nobody releases (a rollout keeps each interval's lock until it expires) must not pile up.
    for (const [lockName, lock] of this.#locks) if (lock.expires <= now) this.#locks.delete(lockName);
    const held = this.#locks.get(name);
    if (held !== undefined && held.expires > now) return Promise.resolve(undefined);
    const token = randomUUID();
    this.#locks.set(name, { token, expires: now + ttlMs });
    return Promise.resolve(token);
  }

  releaseLock(name: string, token: string): Promise<void> {
    if (this.#locks.get(name)?.token === token) this.#locks.delete(name);
    return Promise.resolve();
  }

  #file(domain: string, extension: string): string {
    return join(this.#dir, `${domain.replace(/[^a-z0-9.-]/gi, "_")}.${extension}`);
  }

  async #write(file: string, text: string, mode: number): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const temporary = `${file}.${process.pid}.${randomUUID()}.tmp`;
    await writeFile(temporary, text, { mode });
    await rename(temporary, file);
  }
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

// Shared state for node:cluster workers without Redis: the primary keeps bans, ACME certificates,
// challenges and locks (state/state-host.ts), and each worker reaches them through IPC. A ban
// decided in one worker reaches the others through the primary's broadcast within milliseconds.
import type { Ban } from "./ban-list.js";
import type { IpcPeer } from "./ipc.js";
import type { PemPair } from "./pem-pair.js";
import type { BanChange, BanStore } from "./ban-store.js";
import type { CertStore } from "./cert-store.js";
import type { RolloutRecord, RolloutStore } from "./rollout-store.js";

export class IpcBanStore implements BanStore {
  readonly kind = "memory";

  constructor(private readonly primary: IpcPeer) {}

  load(): Promise<Ban[]> {
    return this.primary.call<Ban[]>("bans.load");
  }

  save(ban: Ban): Promise<void> {
    return this.primary.call("bans.save", ban);
  }

  remove(ip: string): Promise<void> {
    return this.primary.call("bans.remove", ip);
  }

  recordBan(jail: string, subject: string, memoryMs: number): Promise<number> {
    return this.primary.call<number>("bans.recordBan", jail, subject, memoryMs);
  }

  subscribe(listener: (change: BanChange) => void): void {
    this.primary.on("bans.change", (change) => listener(change as BanChange));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export class IpcCertStore implements CertStore {
  readonly kind = "memory";

  constructor(private readonly primary: IpcPeer) {}

  getCertificate(domain: string): Promise<PemPair | undefined> {
    return this.primary.call<PemPair | null>("certs.getCertificate", domain).then((pem) => pem ?? undefined);
  }

  putCertificate(domain: string, pem: PemPair): Promise<void> {
    return this.primary.call("certs.putCertificate", domain, pem);
  }

  getAccountKey(): Promise<string | undefined> {
    return this.primary.call<string | null>("certs.getAccountKey").then((key) => key ?? undefined);
  }

  putAccountKey(pem: string): Promise<void> {
    return this.primary.call("certs.putAccountKey", pem);
  }

  putChallenge(name: string, value: string, ttlMs: number): Promise<void> {
    return this.primary.call("certs.putChallenge", name, value, ttlMs);
  }

  getChallenge(name: string): Promise<string | undefined> {
    return this.primary.call<string | null>("certs.getChallenge", name).then((value) => value ?? undefined);
  }

  deleteChallenge(name: string): Promise<void> {
    return this.primary.call("certs.deleteChallenge", name);
  }

  acquireLock(name: string, ttlMs: number): Promise<string | undefined> {
    return this.primary.call<string | null>("certs.acquireLock", name, ttlMs).then((token) => token ?? undefined);
  }

  releaseLock(name: string, token: string): Promise<void> {
    return this.primary.call("certs.releaseLock", name, token);
  }

  onChange(listener: (domain: string) => void): void {
    this.primary.on("certs.changed", (domain) => listener(String(domain)));
  }
}

export class IpcRolloutStore implements RolloutStore {
  constructor(private readonly primary: IpcPeer) {}

  get(route: string): Promise<RolloutRecord | undefined> {
    return this.primary.call<RolloutRecord | null>("rollouts.get", route).then((record) => record ?? undefined);
  }

  put(record: RolloutRecord): Promise<void> {
    return this.primary.call("rollouts.put", record);
  }

  replace(expected: RolloutRecord, next: RolloutRecord): Promise<boolean> {
    return this.primary.call<boolean>("rollouts.replace", expected, next);
  }

  addCounts(route: string, interval: number, counts: readonly number[]): Promise<void> {
    return this.primary.call("rollouts.addCounts", route, interval, counts);
  }

  takeCounts(route: string, interval: number): Promise<number[]> {
    return this.primary.call<number[]>("rollouts.takeCounts", route, interval);
  }
}

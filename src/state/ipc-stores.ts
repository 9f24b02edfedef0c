// Shared state for node:cluster workers without Redis: the primary keeps bans, ACME certificates,
// challenges, locks and rate-limit counters (state/state-host.ts), and each worker reaches them through
// IPC. A ban decided in one worker reaches the others through the primary's broadcast within milliseconds.
import type { Ban } from "./ban-list.js";
import type { IpcPeer } from "./ipc.js";
import type { PemPair } from "./pem-pair.js";
import type { BanChange, BanStore } from "./ban-store.js";
import type { CertStore } from "./cert-store.js";
import type { RolloutRecord, RolloutStore } from "./rollout-store.js";
import type { LeaseChannel } from "./leased-quota.js";
import type { LimiterSpec } from "./limiters.js";
import type { LeaseGrant } from "./quota-host.js";

export class IpcBanStore implements BanStore {
  readonly #primary: IpcPeer;
  readonly kind = "memory";

  constructor(primary: IpcPeer) {
    this.#primary = primary;
  }

  load(): Promise<Ban[]> {
    return this.#primary.call<Ban[]>("bans.load");
  }

  save(ban: Ban): Promise<void> {
    return this.#primary.call("bans.save", ban);
  }

  remove(ip: string): Promise<void> {
    return this.#primary.call("bans.remove", ip);
  }

  recordBan(jail: string, subject: string, memoryMs: number): Promise<number> {
    return this.#primary.call<number>("bans.recordBan", jail, subject, memoryMs);
  }

  subscribe(listener: (change: BanChange) => void): void {
    this.#primary.on("bans.change", (change) => listener(change as BanChange));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export class IpcCertStore implements CertStore {
  readonly #primary: IpcPeer;
  readonly kind = "memory";

  constructor(primary: IpcPeer) {
    this.#primary = primary;
  }

  getCertificate(domain: string): Promise<PemPair | undefined> {
    return this.#primary.call<PemPair | null>("certs.getCertificate", domain).then((pem) => pem ?? undefined);
  }

  putCertificate(domain: string, pem: PemPair): Promise<void> {
    return this.#primary.call("certs.putCertificate", domain, pem);
  }

  getAccountKey(): Promise<string | undefined> {
    return this.#primary.call<string | null>("certs.getAccountKey").then((key) => key ?? undefined);
  }

  putAccountKey(pem: string): Promise<void> {
    return this.#primary.call("certs.putAccountKey", pem);
  }

  putChallenge(name: string, value: string, ttlMs: number): Promise<void> {
    return this.#primary.call("certs.putChallenge", name, value, ttlMs);
  }

  getChallenge(name: string): Promise<string | undefined> {
    return this.#primary.call<string | null>("certs.getChallenge", name).then((value) => value ?? undefined);
  }

  deleteChallenge(name: string): Promise<void> {
    return this.#primary.call("certs.deleteChallenge", name);
  }

  acquireLock(name: string, ttlMs: number): Promise<string | undefined> {
    return this.#primary.call<string | null>("certs.acquireLock", name, ttlMs).then((token) => token ?? undefined);
  }

  releaseLock(name: string, token: string): Promise<void> {
    return this.#primary.call("certs.releaseLock", name, token);
  }

  onChange(listener: (domain: string) => void): void {
    this.#primary.on("certs.changed", (domain) => listener(String(domain)));
  }
}

export class IpcRolloutStore implements RolloutStore {
  readonly #primary: IpcPeer;
  constructor(primary: IpcPeer) {
    this.#primary = primary;
  }

  get(route: string): Promise<RolloutRecord | undefined> {
    return this.#primary.call<RolloutRecord | null>("rollouts.get", route).then((record) => record ?? undefined);
  }

  put(record: RolloutRecord): Promise<void> {
    return this.#primary.call("rollouts.put", record);
  }

  replace(expected: RolloutRecord, next: RolloutRecord): Promise<boolean> {
    return this.#primary.call<boolean>("rollouts.replace", expected, next);
  }

  addCounts(route: string, interval: number, counts: readonly number[]): Promise<void> {
    return this.#primary.call("rollouts.addCounts", route, interval, counts);
  }

  takeCounts(route: string, interval: number): Promise<number[]> {
    return this.#primary.call<number[]>("rollouts.takeCounts", route, interval);
  }
}

/** One rate-limit policy's quota leases from the primary's counter (quota-host.ts). */
export class IpcLeaseChannel implements LeaseChannel {
  readonly #primary: IpcPeer;
  readonly #spec: LimiterSpec;
  readonly #timeoutMs: number;
  constructor(primary: IpcPeer, spec: LimiterSpec, timeoutMs: number) {
    this.#primary = primary;
    this.#spec = spec;
    this.#timeoutMs = timeoutMs;
  }

  lease(key: string, want: number): Promise<LeaseGrant> {
    return this.#primary.callWithin<LeaseGrant>(this.#timeoutMs, "quota.lease", this.#spec, key, want);
  }

  giveBack(key: string, points: number, endsAt: number): void {
    // Nothing to do when it fails: the points expire with their window (README "Scale-out").
    void this.#primary.call("quota.return", this.#spec, key, points, endsAt).catch(() => undefined);
  }
}

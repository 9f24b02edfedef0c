// Where bans outlive the process and reach the rest of the fleet. The ban check itself never touches
// a store: every instance keeps its own BanList, loaded from here at start and kept current by the
// store's change feed (DESIGN.md, "Shared state and scale-out").
import type { Ban } from "./ban-list.js";

export type BanChange = { readonly op: "add"; readonly ban: Ban } | { readonly op: "remove"; readonly ip: string };

export interface BanStore {
  readonly kind: "memory" | "redis";
  /** Bans still in force, to re-apply at start. */
  load(): Promise<Ban[]>;
  save(ban: Ban): Promise<void>;
  remove(ip: string): Promise<void>;
  /** How many times `subject` has been banned by `jail` within `memoryMs` (this ban included): escalation. */
  recordBan(jail: string, subject: string, memoryMs: number): Promise<number>;
  /** Changes made by other instances. */
  subscribe(listener: (change: BanChange) => void): void;
  close(): Promise<void>;
}

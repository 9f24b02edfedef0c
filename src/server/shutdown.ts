// Graceful shutdown in the order operators expect from nginx/HAProxy: stop accepting, let in-flight
// requests finish (idle keep-alive connections are closed at once, busy ones after their response,
// which then carries "Connection: close"), and after the grace period cut whatever is left.
import type http from "node:http";
import type net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export interface DrainTarget {
  readonly fronts: readonly net.Server[];
  readonly servers: readonly http.Server[];
  readonly openConnections: () => number;
  /** Tells HTTP/2 clients to go away (GOAWAY): their open streams may finish, no new ones start. */
  readonly goaway: () => void;
  readonly destroyAll: () => void;
}

/** Resolves when every connection is closed; true if they closed on their own within `graceMs`. */
export async function drain(target: DrainTarget, graceMs: number): Promise<boolean> {
  // net.Server.close() only stops accepting here: its callback would wait for every connection.
  for (const front of target.fronts) front.close();
  target.goaway();
  const deadline = Date.now() + graceMs;
  while (target.openConnections() > 0 && Date.now() < deadline) {
    for (const server of target.servers) server.closeIdleConnections();
    await sleep(25);
  }
  const clean = target.openConnections() === 0;
  for (const server of target.servers) server.closeAllConnections();
  target.destroyAll();
  return clean;
}

// Decides at accept, before any byte is read or a TLS handshake started, whether a connection may
// live: the cheapest place to refuse a client. Counts connections per client IP for
// maxConnectionsPerIp; later guards (bans, denylist) add AcceptChecks that name a refusal reason.
import type { Socket } from "node:net";
import { canonicalIp } from "../guards/ip.js";
import type { GatewayMetrics } from "../observability/metrics.js";

export type RejectReason = "banned" | "denied" | "connection_limit";

/** A reason to refuse the connection, "exempt" to skip every limit (allowlist), or undefined. */
export type AcceptVerdict = RejectReason | "exempt" | undefined;

export class ConnectionGate {
  readonly #limits: () => { readonly maxConnectionsPerIp: number };
  readonly #classify: (ip: string) => AcceptVerdict;
  readonly #perIp = new Map<string, number>();
  readonly #rejected: Record<RejectReason, { inc(): void }>;
  readonly #open = new Set<Socket>();

  constructor(
    limits: () => { readonly maxConnectionsPerIp: number },
    metrics: GatewayMetrics,
    classify: (ip: string) => AcceptVerdict = () => undefined,
  ) {
    this.#limits = limits;
    this.#classify = classify;
    const counter = metrics.connectionsRejected;
    this.#rejected = {
      banned: counter.labels("banned"),
      denied: counter.labels("denied"),
      connection_limit: counter.labels("connection_limit"),
    };
  }

  /** Connections admitted and not yet closed, on every gated listener. */
  get open(): number {
    return this.#open.size;
  }

  /** Ends every admitted connection still open (the end of a graceful shutdown). */
  destroyAll(): void {
    for (const socket of this.#open) socket.destroy();
  }

  /** True when the socket may go on to HTTP/TLS; otherwise it has been destroyed and counted. */
  admit(socket: Socket): boolean {
    // An error on a socket nobody else listens to yet (e.g. a reset during accept) must not crash us.
    socket.on("error", ignore);
    const ip = canonicalIp(socket.remoteAddress);
    const verdict = this.#classify(ip);
    if (verdict !== undefined && verdict !== "exempt") return this.#reject(socket, verdict);
    const count = this.#perIp.get(ip) ?? 0;
    if (verdict === undefined && count >= this.#limits().maxConnectionsPerIp) return this.#reject(socket, "connection_limit");
    this.#perIp.set(ip, count + 1);
    this.#open.add(socket);
    socket.once("close", () => {
      this.#open.delete(socket);
      const left = (this.#perIp.get(ip) ?? 1) - 1;
      if (left === 0) this.#perIp.delete(ip);
      else this.#perIp.set(ip, left);
    });
    return true;
  }

  #reject(socket: Socket, reason: RejectReason): false {
    this.#rejected[reason].inc();
    socket.destroy();
    return false;
  }
}

function ignore(): void {}

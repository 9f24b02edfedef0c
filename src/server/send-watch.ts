// limits.sendTimeout: a connection whose response bytes have not moved for this long is destroyed,
// which aborts the upstream request it was fed by (the pipeline destroys it when the response closes)
// and frees the pooled socket. That is nginx's `send_timeout`: the slow-read attack (slowhttptest -X)
// otherwise pins one upstream socket per attacking connection for as long as the attacker likes.
// Tracked per connection, not per request (one Map entry for the connection's life, one sweep a
// second), so the request path pays nothing. Idle keep-alive connections have nothing pending and are
// never touched; long-lived WebSockets are cut only when their client stops reading. HTTP/2 streams are
// watched one by one (a stalled stream is reset, its connection's other streams go on): their pending
// bytes stay put while the client keeps its flow-control window shut.
import type { Duplex } from "node:stream";

const SWEEP_MS = 1_000;

interface Progress {
  /** Bytes handed to the kernel when last seen moving. */
  flushed: number;
  /** Date.now() when bytes were last seen moving, 0 while nothing is pending. */
  since: number;
  /** Ends it once stalled: a socket is destroyed, an HTTP/2 stream reset. */
  readonly cut: (socket: WritableSocket) => void;
}

const destroy = (socket: WritableSocket) => socket.destroy();

interface WritableSocket extends Duplex {
  readonly bytesWritten?: number;
}

export class SendWatch {
  readonly #timeout: () => number;
  /** Called once per sweep with the connections it aborted. */
  readonly #onAborted: (count: number) => void;
  readonly #sockets = new Map<WritableSocket, Progress>();
  readonly #timer: NodeJS.Timeout;

  constructor(timeout: () => number, onAborted: (count: number) => void) {
    this.#timeout = timeout;
    this.#onAborted = onAborted;
    this.#timer = setInterval(() => this.#sweep(Date.now()), SWEEP_MS).unref();
  }

  track(socket: WritableSocket, cut: (socket: WritableSocket) => void = destroy): void {
    this.#sockets.set(socket, { flushed: 0, since: 0, cut });
    socket.once("close", () => this.#sockets.delete(socket));
  }

  close(): void {
    clearInterval(this.#timer);
    this.#sockets.clear();
  }

  #sweep(now: number): void {
    const timeout = this.#timeout();
    let aborted = 0;
    for (const [socket, progress] of this.#sockets) {
      const pending = socket.writableLength;
      if (pending === 0) {
        progress.since = 0;
        continue;
      }
      const flushed = (socket.bytesWritten ?? 0) - pending;
      if (progress.since === 0 || flushed !== progress.flushed) {
        progress.flushed = flushed;
        progress.since = now;
      } else if (now - progress.since >= timeout) {
        this.#sockets.delete(socket);
        progress.cut(socket);
        aborted++;
      }
    }
    if (aborted > 0) this.#onAborted(aborted);
  }
}

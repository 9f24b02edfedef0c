// limits.bodyTimeout: a request body that stops moving is the slow-POST attack (slowhttptest -B), and
// each one holds an upstream socket while it lasts. One sweep a few times a second looks at every
// body still arriving; a body that gained no byte for the timeout is handed to `onStalled`. A body
// held back by the upstream (the pipe paused because the target reads slowly) is not the client's
// fault and counts as moving.
import type { RequestContext } from "../pipeline/context.js";

const SWEEP_MS = 250;

interface Watched {
  readonly timeout: number;
  readonly onStalled: (ctx: RequestContext) => void;
  bytesRead: number;
  since: number;
}

export class BodyProgress {
  readonly #watched = new Map<RequestContext, Watched>();
  readonly #timer: NodeJS.Timeout;
  readonly #onTimeout: () => void;

  constructor(onTimeout: () => void) {
    this.#onTimeout = onTimeout;
    this.#timer = setInterval(() => this.#sweep(Date.now()), SWEEP_MS).unref();
  }

  watch(ctx: RequestContext, timeout: number, onStalled: (ctx: RequestContext) => void): void {
    this.#watched.set(ctx, { timeout, onStalled, bytesRead: bytesRead(ctx), since: Date.now() });
  }

  get size(): number {
    return this.#watched.size;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#watched.clear();
  }

  #sweep(now: number): void {
    for (const [ctx, watched] of this.#watched) {
      const req = ctx.req;
      if (req.complete || req.destroyed || ctx.res!.writableEnded) {
        this.#watched.delete(ctx);
        continue;
      }
      const read = bytesRead(ctx);
      if (read !== watched.bytesRead || req.readableFlowing === false) {
        watched.bytesRead = read;
        watched.since = now;
      } else if (now - watched.since >= watched.timeout) {
        this.#watched.delete(ctx);
        this.#onTimeout();
        watched.onStalled(ctx);
      }
    }
  }
}

function bytesRead(ctx: RequestContext): number {
  return (ctx.socket as { bytesRead?: number }).bytesRead ?? 0;
}

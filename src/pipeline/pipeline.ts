// Runs the ordered stages (declared in stages.ts) for one request. Synchronous stages run in one loop
// with no Promise allocated; a stage that returns a Promise suspends the loop until it settles.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { performance } from "node:perf_hooks";
import type { Logger } from "../observability/logger.js";
import { CONTEXT, RequestContext, type WithContext } from "./context.js";
import { mapError } from "./error-mapper.js";
import { writeReply } from "./respond.js";
import { HANDLED, type Stage, type StageResult } from "./stage.js";

export type RequestObserver = (ctx: RequestContext) => void;

export class Pipeline {
  readonly #onClose: (this: WithContext<object>) => void;

  constructor(
    readonly stages: readonly Stage[],
    onFinished: RequestObserver,
    private readonly logger: Logger,
  ) {
    // One listener function shared by every request (it finds its context on the emitter), rather
    // than a closure allocated per request.
    this.#onClose = function (this: WithContext<object>) {
      const ctx = this[CONTEXT];
      if (ctx !== undefined) onFinished(ctx);
    };
  }

  handleRequest(req: IncomingMessage, res: ServerResponse, encrypted: boolean): void {
    const ctx = new RequestContext(req, res, req.socket, undefined, encrypted, performance.now());
    (req as WithContext<IncomingMessage>)[CONTEXT] = ctx;
    (res as WithContext<ServerResponse>)[CONTEXT] = ctx;
    res.on("close", this.#onClose);
    this.#run(ctx, 0);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, encrypted: boolean): void {
    const ctx = new RequestContext(req, undefined, socket, head, encrypted, performance.now());
    (req as WithContext<IncomingMessage>)[CONTEXT] = ctx;
    (socket as WithContext<Duplex>)[CONTEXT] = ctx;
    socket.once("close", this.#onClose);
    this.#run(ctx, 0);
  }

  #run(ctx: RequestContext, from: number): void {
    const stages = this.stages;
    for (let index = from; index < stages.length; index++) {
      let result: StageResult | Promise<StageResult>;
      try {
        result = stages[index]!.run(ctx);
      } catch (error) {
        mapError(ctx, error, this.logger);
        return;
      }
      if (result === undefined) continue;
      if (result === HANDLED) return;
      if (result instanceof Promise) {
        result.then(
          (settled) => this.#resume(ctx, index, settled),
          (error: unknown) => mapError(ctx, error, this.logger),
        );
        return;
      }
      writeReply(ctx, result);
      return;
    }
  }

  #resume(ctx: RequestContext, index: number, result: StageResult): void {
    if (result === undefined) this.#run(ctx, index + 1);
    else if (result !== HANDLED) writeReply(ctx, result);
  }
}

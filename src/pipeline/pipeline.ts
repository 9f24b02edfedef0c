// Runs one request through the prefix stages, then through its route's chain (both declared in
// stages/request-path.ts), as one sequence: position i is prefix[i] while i < prefix.length, then
// ctx.chain[i - prefix.length]. Synchronous stages run in one loop with no Promise allocated; a stage
// that returns a Promise suspends the loop until it settles.
// The request's finish phase (what it holds is released when its response closes) is part of this
// kernel; metrics, jails and the access log observe the finished request after it.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { performance } from "node:perf_hooks";
import type { Logger } from "../observability/logger.js";
import { mapError, writeReply } from "./answers.js";
import { endAttempt } from "./attempt.js";
import { CONTEXT, HANDLED, RequestContext, type ClientMessage, type ClientProtocol, type ClientResponse, type Stage, type StageResult, type WithContext } from "./context.js";
import type { Linger } from "./linger.js";

export type RequestObserver = (ctx: RequestContext) => void;

export class Pipeline {
  readonly #onClose: (this: WithContext<object>) => void;
  readonly #onTurn: (this: WithContext<ServerResponse>) => void;
  readonly #onAbandoned: (this: WithContext<IncomingMessage>) => void;
  readonly #logger: Logger;
  readonly #linger: Linger;

  constructor(
    readonly prefix: readonly Stage[],
    onFinished: RequestObserver,
    logger: Logger,
    linger: Linger,
  ) {
    this.#logger = logger;
    this.#linger = linger;
    // Listener functions shared by every request (each finds its context on the emitter), rather
    // than closures allocated per request.
    const finish = (ctx: RequestContext) => {
      ctx.finished = true;
      // An attempt still open (the client hung up mid-response): its target's in-flight count and breaker
      // outcome, and the upstream request itself, which must not go on without anyone to answer.
      if (ctx.inFlightTarget !== undefined && !ctx.responseComplete) ctx.upstreamRequest?.destroy();
      endAttempt(ctx);
      const slot = ctx.concurrencySlot;
      if (slot !== undefined) {
        ctx.concurrencySlot = undefined;
        slot.release(ctx.clientIp);
      }
      onFinished(ctx);
    };
    this.#onClose = function (this: WithContext<object>) {
      const ctx = this[CONTEXT];
      if (ctx !== undefined) finish(ctx);
    };
    // Node never gives a queued response its socket once the connection is gone, so it never closes
    // either: the request is finished here, as a client that hung up (499).
    const onAbandoned = function (this: WithContext<IncomingMessage>) {
      const ctx = this[CONTEXT];
      if (ctx === undefined) return;
      ctx.failure = "client_closed";
      finish(ctx);
    };
    const run = (ctx: RequestContext) => this.#run(ctx, 0);
    this.#onAbandoned = onAbandoned;
    this.#onTurn = function (this: WithContext<ServerResponse>) {
      const ctx = this[CONTEXT];
      if (ctx === undefined) return;
      ctx.req.off("close", onAbandoned);
      run(ctx);
    };
  }

  /** An HTTP/1.1 request, or one HTTP/2 stream through Node's compatibility API. */
  handleRequest(req: ClientMessage, res: ClientResponse, encrypted: boolean, protocol: ClientProtocol = "http/1.1"): void {
    const ctx = new RequestContext(req, res, req.socket, undefined, encrypted, performance.now(), this.#linger, protocol);
    (req as WithContext<ClientMessage>)[CONTEXT] = ctx;
    (res as WithContext<ClientResponse>)[CONTEXT] = ctx;
    res.on("close", this.#onClose);
    // An HTTP/2 stream the client reset before Node handed it over: no stage runs for it; its response
    // closes on the next tick and records it as a client that hung up (499).
    if ("stream" in req && req.stream.aborted) {
      ctx.failure = "client_closed";
      return;
    }
    // (HTTP/2 responses always have their stream; only HTTP/1.1 pipelining queues a response.)
    if (res.socket === null) {
      // Pipelined behind a response still being written: it starts when its turn comes (as nginx
      // does), so one connection holds at most one upstream request, and a client that stops reading
      // pins no more than that.
      res.once("socket", this.#onTurn);
      req.once("close", this.#onAbandoned);
      return;
    }
    this.#run(ctx, 0);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, encrypted: boolean): void {
    const ctx = new RequestContext(req, undefined, socket, head, encrypted, performance.now(), this.#linger, "http/1.1");
    (req as WithContext<IncomingMessage>)[CONTEXT] = ctx;
    (socket as WithContext<Duplex>)[CONTEXT] = ctx;
    socket.once("close", this.#onClose);
    this.#run(ctx, 0);
  }

  #run(ctx: RequestContext, from: number): void {
    const prefix = this.prefix;
    const prefixLength = prefix.length;
    for (let index = from; ; index++) {
      // The chain is read at each step: the route stage, last of the prefix, sets it.
      const stage = index < prefixLength ? prefix[index] : ctx.chain[index - prefixLength];
      if (stage === undefined) return;
      let result: StageResult | Promise<StageResult>;
      try {
        result = stage.run(ctx);
      } catch (error) {
        mapError(ctx, error, this.#logger);
        return;
      }
      if (result === undefined) continue;
      if (result === HANDLED) return;
      if (result instanceof Promise) {
        result.then(
          (settled) => this.#resume(ctx, index, settled),
          (error: unknown) => mapError(ctx, error, this.#logger),
        );
        return;
      }
      writeReply(ctx, result);
      return;
    }
  }

  #resume(ctx: RequestContext, index: number, result: StageResult): void {
    // The client went away while a stage waited (a rate-limit check in Redis, an injected delay): the
    // request is finished and what it held released, so nothing may go upstream for it now.
    if (ctx.finished) return;
    if (result === undefined) this.#run(ctx, index + 1);
    else if (result !== HANDLED) writeReply(ctx, result);
  }
}

// The one interface every step of the request path implements (Envoy's filter chain, Fastify's named
// hooks). A stage either lets the request go on, answers it with a Reply, or takes it over (forwarding).
// Returning a plain value keeps the common path synchronous: only a stage that truly waits on I/O
// (e.g. a Redis rate-limit check) returns a Promise, and only that request pays for it.
import type { RequestContext } from "./context.js";
import type { Reply } from "./reply.js";

/** undefined: continue with the next stage. */
export type StageResult = undefined | Reply | typeof HANDLED;
export const HANDLED = Symbol("handled");

export interface Stage {
  readonly name: string;
  run(ctx: RequestContext): StageResult | Promise<StageResult>;
}

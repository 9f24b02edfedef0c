// Everything the stages learn about one request, in one object with a fixed shape (a class, so every
// request context shares one hidden class and property access stays monomorphic on the hot path).
import type { ClientRequest, IncomingMessage, ServerResponse } from "node:http";
import type { ClientHttp2Stream, Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Duplex, Readable } from "node:stream";
import type { ClientConcurrency } from "../guards/client-concurrency.js";
import type { Jail } from "../guards/jails.js";
import type { Linger } from "./linger.js";
import type { Route } from "../routing/route.js";
import type { Service } from "../upstream/service.js";
import type { Target } from "../upstream/target.js";
import type { Reply } from "./answers.js";
import type { RateLimitStanding } from "./own-headers.js";

/**
 * One request as the stages see it: an HTTP/1.1 request or one HTTP/2 stream, through Node's
 * compatibility API, which gives both the same shape (headers, url, method, setHeader, end...).
 */
export type ClientMessage = IncomingMessage | Http2ServerRequest;
export type ClientResponse = ServerResponse | Http2ServerResponse;
/** The client connection's protocol, as the access log and rampart_connections_total name it. */
export type ClientProtocol = "http/1.1" | "h2" | "h2c";

/** Where a RequestContext is attached to its request, response or upgraded socket. */
export const CONTEXT = Symbol("rampart.context");
export type WithContext<T> = T & { [CONTEXT]?: RequestContext };

const NO_JAILS: readonly Jail[] = Object.freeze([]);
const NO_STAGES: readonly Stage[] = Object.freeze([]);

export class RequestContext {
  requestId = "";
  /** The client as resolved through trustedProxies: the identity every guard keys on. */
  clientIp = "";
  /** True when the socket peer is a trusted proxy, so clientIp came from X-Forwarded-For. */
  viaTrustedProxy = false;
  /** Never banned or rate limited (allowlist). */
  allowlisted = false;
  /** Answered 429 (a jail with `rateLimited: true` counts it). */
  rateLimited = false;
  /** Allowed under its route's rate limit: the RateLimit-* fields its answer carries (own-headers.ts). */
  rateLimit: RateLimitStanding | undefined = undefined;
  /** The jails this request's outcome feeds: its route's, or every jail when no route matched. */
  jails: readonly Jail[] = NO_JAILS;
  /** Lower-case host without port, "" when the request named none. */
  host = "";
  /** Normalised path without the query; what routing matched and what goes upstream. */
  path = "";
  /** The query string including "?", or "". */
  query = "";
  route: Route | undefined = undefined;
  /** The matched route's own stages, run after the prefix (stages/request-path.ts). */
  chain: readonly Stage[] = NO_STAGES;
  /** Which of the route's sides serves the request (its split's choice; 0 without a split). */
  side = 0;
  /** The service of that side, once the forward stage sends the request. */
  service: Service | undefined = undefined;
  /** A fault the route's `fault` injected into this request (access log; an abort is judged by no jail). */
  fault: "delay" | "abort" | undefined = undefined;
  /** A Set-Cookie of Rampart's own for the response (the split's stickiness), added to the upstream's. */
  setCookie: string | undefined = undefined;
  target: Target | undefined = undefined;
  /** Why the request failed, for the access log (an error code or reply reason). */
  failure: string | undefined = undefined;
  /** The `error` of the answer Rampart wrote itself (rampart_gateway_answers_total); undefined when the upstream answered. */
  ownAnswer: string | undefined = undefined;
  upstreamStartedAt = 0;
  /** The target whose in-flight count this request holds, released exactly once per attempt. */
  inFlightTarget: Target | undefined = undefined;
  /** Targets already tried for this request (retries go elsewhere). */
  tried: Target[] | undefined = undefined;
  /** The current attempt's outgoing request (an HTTP/2 stream for h2c/h2 services), once it has a socket. */
  upstreamRequest: ClientRequest | ClientHttp2Stream | undefined = undefined;
  /** Whether the current upstream attempt went out on a pooled keep-alive socket. */
  reusedSocket = false;
  /** Whether the current upstream attempt received response headers. */
  upstreamResponded = false;
  /** Reports the current attempt's outcome to the target's circuit breaker; cleared once called. */
  settleBreaker: ((failure?: Error) => void) | undefined = undefined;
  /** What the forward stage does with a failed attempt (retry or answer); set before forwarding. */
  onUpstreamFailure: ((ctx: RequestContext, error: Error) => void) | undefined = undefined;
  /** For WebSocket upgrades, which have no ServerResponse: 101 once switched, else the refusal's status. */
  upgradeStatus = 101;
  /** The request body as buffered by the request-body stage, to send upstream instead of `req`. */
  body: Readable | undefined = undefined;
  /** The per-address in-flight count this request holds (maxRequestsInFlightPerIp), released when it closes. */
  concurrencySlot: ClientConcurrency | undefined = undefined;
  /** Set once the finish phase ran (the response closed): no stage runs after it. */
  finished = false;
  /**
   * The response body's bytes as handed to the client (the access log's `bytes`, nginx's
   * $body_bytes_sent): counted from the response, so HTTP/1.1 and HTTP/2 count alike.
   */
  sentBytes = 0;

  constructor(
    readonly req: ClientMessage,
    /** undefined for WebSocket upgrades, which answer on the raw socket. */
    readonly res: ClientResponse | undefined,
    readonly socket: Duplex,
    readonly upgradeHead: Buffer | undefined,
    readonly encrypted: boolean,
    readonly startedAt: number,
    /** How an early answer closes the connection while the client is still sending (linger.ts). */
    readonly linger: Linger,
    readonly protocol: ClientProtocol,
  ) {}

  get isUpgrade(): boolean {
    return this.res === undefined;
  }

  /** The whole response was handed over; false when the client went away first (499). */
  get responseComplete(): boolean {
    const res = this.res;
    if (res === undefined) return true;
    // A compat response reports itself finished once its stream closes, even when the client reset it;
    // the stream knows whether it was aborted before its response ended.
    if (!this.isHttp2) return (res as ServerResponse).writableFinished;
    const stream = (res as Http2ServerResponse).stream;
    return !stream.aborted && stream.writableFinished;
  }

  /** An HTTP/2 stream: no connection-level headers, no lingering close, GOAWAY instead of Connection: close. */
  get isHttp2(): boolean {
    return this.protocol !== "http/1.1";
  }
}

// The one interface every step of the request path implements (Envoy's filter chain, Fastify's named
// hooks). A stage either lets the request go on, answers it with a Reply, or takes it over (forwarding).
// Returning a plain value keeps the common path synchronous: only a stage that truly waits on I/O
// (e.g. a Redis rate-limit check) returns a Promise, and only that request pays for it.
/** undefined: continue with the next stage. */
export type StageResult = undefined | Reply | typeof HANDLED;
export const HANDLED = Symbol("handled");

export interface Stage {
  readonly name: string;
  run(ctx: RequestContext): StageResult | Promise<StageResult>;
}

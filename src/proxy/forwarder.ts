// The forwarding engine for HTTP/1.1 targets. A request goes out through Node's own `http.request`,
// with the endpoint its service prepared for the target (host, port, keep-alive agent, timeout), and its
// header block built as one flat list; the answer comes back as one flat list built from the upstream's
// raw headers (response-headers.ts) and is relayed chunk by chunk. This replaced http-proxy-3's `web`:
// its per-call option merge, pass list and header copies cost Rampart more than all its own stages
// (README, Performance: instructions per request, measured before and after).
// WebSocket upgrades still go through http-proxy-3's `ws`, which owns the 101 handshake and the
// two-way socket pipe; an upgrade happens once per connection, not per request.
//
// Listener functions are shared by every request: each finds its context on the emitter (CONTEXT),
// so a request allocates no closures. Every emitter that can carry an error has a listener: an
// unhandled `error` event would take the whole process down.
import type { ClientRequest, IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { createProxyServer } from "http-proxy-3";
import type { Logger } from "../observability/logger.js";
import { CONTEXT, type RequestContext, type WithContext } from "../pipeline/context.js";
import { GatewayError, writeHeaderList } from "../pipeline/answers.js";
import type { Target } from "../upstream/target.js";
import { beginAttempt, recordUpstreamStatus } from "../pipeline/attempt.js";
import { declaresBody } from "../pipeline/linger.js";
import { requestHeaderList } from "./headers.js";
import { clientResponseHeaders } from "./response-headers.js";
import { pushOwnHeaders } from "../pipeline/own-headers.js";

type UpstreamRequest = WithContext<ClientRequest>;
type UpstreamResponse = WithContext<IncomingMessage>;

export interface ForwarderOptions {
  readonly logger: Logger;
  /** Strict-Transport-Security for responses on TLS connections; "" sends none. */
  readonly hsts: () => string;
  /** True while shutting down: responses then close their connection. */
  readonly draining: () => boolean;
}

export class Forwarder {
  readonly #upgrades = createProxyServer({ xfwd: false, ws: true });
  readonly #onResponse: (this: UpstreamRequest, upstream: IncomingMessage) => void;

  constructor(options: ForwarderOptions) {
    this.#onResponse = function (this: UpstreamRequest, upstream: IncomingMessage) {
      relay(this, upstream, options);
    };
    const upgrades = this.#upgrades;
    upgrades.on("proxyReqWs", (proxyReq, req) => {
      const ctx = (req as WithContext<IncomingMessage>)[CONTEXT];
      if (ctx === undefined) return;
      // http-proxy writes the backend's 101 (or its refusal) straight onto the socket; these listeners
      // run before its own, so that answer carries the request id like every other.
      const stamp = (proxyRes: IncomingMessage): void => {
        proxyRes.headers["x-request-id"] = ctx.requestId;
      };
      proxyReq.once("upgrade", stamp);
      proxyReq.once("response", stamp);
    });
    // Per-call callbacks receive errors; this catches what http-proxy reports outside a call.
    upgrades.on("error", (error, req, res) => {
      options.logger.debug({ err: error, url: req.url }, "proxy error outside a request callback");
      if ("destroy" in res) res.destroy();
    });
    upgrades.on("econnreset", () => {
      // The client went away mid-upgrade; http-proxy already destroyed the upstream request.
    });
  }

  /** Forwards the request (its context attached by the pipeline); failures go to ctx.onUpstreamFailure. */
  web(ctx: RequestContext, target: Target): void {
    beginAttempt(ctx, target);
    const service = ctx.service!;
    const endpoint = service.endpointOf(target);
    const req = ctx.req;
    const upstream: UpstreamRequest = endpoint.request({
      hostname: endpoint.hostname,
      port: endpoint.port,
      agent: service.agent,
      timeout: service.responseTimeout,
      method: req.method,
      path: req.url,
      headers: requestHeaderList(req.headers, ctx.isHttp2, endpoint.host),
    });
    upstream[CONTEXT] = ctx;
    ctx.upstreamRequest = upstream;
    // Decided inside http.request: a pooled socket was handed over, or a new one is on its way.
    ctx.reusedSocket = upstream.reusedSocket;
    upstream.on("response", this.#onResponse);
    upstream.on("error", onUpstreamError);
    upstream.on("timeout", onUpstreamTimeout);
    if (!upstream.reusedSocket) upstream.once("socket", onNewSocket);
    // A buffered body (request-body stage) is sent in place of the request stream it was read from.
    if (ctx.body !== undefined) ctx.body.pipe(upstream);
    else if (declaresBody(req)) req.pipe(upstream);
    else upstream.end();
  }

  ws(ctx: RequestContext, target: Target): void {
    beginAttempt(ctx, target);
    // An upgraded connection leaves the pool for good, so it does not borrow from the keep-alive agent;
    // the upgrade agent (services with `tls` only) carries the service's TLS settings.
    const agent = ctx.service?.upgradeAgent;
    this.#upgrades.ws(ctx.req as IncomingMessage, ctx.socket, ctx.upgradeHead, agent === undefined ? { target: target.url } : { target: target.url, agent }, onUpgradeError);
  }
}

/** The upstream answered: its status to the breaker, its header block rewritten, its body relayed. */
function relay(request: UpstreamRequest, upstream: UpstreamResponse, options: ForwarderOptions): void {
  const ctx = request[CONTEXT]!;
  ctx.upstreamResponded = true;
  const status = upstream.statusCode ?? 502;
  recordUpstreamStatus(ctx, ctx.target!, status);
  const res = ctx.res!;
  // Rampart already answered (an early 413 while this request was on its way): nothing more to send.
  if (res.headersSent) {
    upstream.resume();
    return;
  }
  const hsts = ctx.encrypted ? options.hsts() : "";
  const headers = clientResponseHeaders(upstream.rawHeaders, ctx.route!.responseHeaders, ctx.setCookie, hsts);
  pushOwnHeaders(headers, ctx);
  // Node frames the answer and writes Connection itself, from the client's own wish; a shutdown in
  // progress closes the connection after it. The upstream's framing and Connection never pass.
  if (!ctx.isHttp2 && options.draining()) (res as ServerResponse).shouldKeepAlive = false;
  try {
    writeHeaderList(res, status, headers, ctx.isHttp2 ? undefined : upstream.statusMessage);
  } catch (error) {
    // A field Node refuses to send (a value llhttp let through, an HTTP/2-only restriction): 502, not a
    // request left hanging.
    request.destroy();
    ctx.onUpstreamFailure?.(ctx, new GatewayError("UPSTREAM_RESET", `unsendable response header: ${(error as Error).message}`, { cause: error }));
    return;
  }
  upstream[CONTEXT] = ctx;
  upstream.on("data", onUpstreamData);
  upstream.on("end", onUpstreamEnd);
  upstream.on("error", onUpstreamBodyError);
}

function onUpstreamError(this: UpstreamRequest, error: Error): void {
  const ctx = this[CONTEXT]!;
  // An attempt that already failed (a retry went elsewhere) has nothing more to report.
  if (ctx.upstreamRequest !== this) return;
  ctx.onUpstreamFailure?.(ctx, error);
}

/** Node's `timeout` option measures the socket's silence: what "did not answer in time" means. */
function onUpstreamTimeout(this: UpstreamRequest): void {
  const ms = this[CONTEXT]!.service!.responseTimeout;
  this.destroy(new GatewayError("UPSTREAM_RESPONSE_TIMEOUT", `no answer within ${ms} ms`));
}

/**
 * Only for a request that did not get a pooled socket: a new connection gets its own connect timer, so a
 * connect timeout (502) is told apart from a slow answer (504). Node arms the `timeout` option only once
 * connected, so the two never race.
 */
function onNewSocket(this: UpstreamRequest, socket: Socket): void {
  if (!socket.connecting) return;
  const ms = this[CONTEXT]!.service!.connectTimeout;
  const timer = setTimeout(() => {
    this.destroy(new GatewayError("UPSTREAM_CONNECT_TIMEOUT", `no connection within ${ms} ms`));
  }, ms);
  const clear = () => clearTimeout(timer);
  socket.once("connect", clear);
  this.once("close", clear);
}

function onUpstreamData(this: UpstreamResponse, chunk: Buffer): void {
  const ctx = this[CONTEXT]!;
  ctx.sentBytes += chunk.length;
  const res = ctx.res as ServerResponse;
  if (!res.write(chunk)) {
    // The client reads slower than the upstream sends: hold the upstream until the client drains.
    this.pause();
    res.once("drain", () => this.resume());
  }
}

function onUpstreamEnd(this: UpstreamResponse): void {
  const ctx = this[CONTEXT]!;
  const now = performance.now();
  ctx.target!.metrics.upstreamDuration.observe((now - ctx.upstreamStartedAt) / 1000);
  // Progress, for readiness: a service whose pool is full but still completing responses is busy, not stuck.
  ctx.service!.lastResponseAt = now;
  ctx.res!.end();
}

/** The upstream's answer broke off mid-body: the client must not take the part it got for the whole. */
function onUpstreamBodyError(this: UpstreamResponse): void {
  this[CONTEXT]!.res!.destroy();
}

/** Shared by every upgrade (the request carries its context), so an upgrade allocates no closure. */
function onUpgradeError(error: Error, req: IncomingMessage): void {
  const ctx = (req as WithContext<IncomingMessage>)[CONTEXT];
  ctx?.onUpstreamFailure?.(ctx, error);
}

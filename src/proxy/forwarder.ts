// The forwarding engine: one http-proxy-3 instance for the life of the process (it outlives config
// reloads; each call names its target and that service's keep-alive agent). Every http-proxy event that
// can carry an error has a listener: an unhandled `error` event would take the whole process down.
// Timeouts are ours, not http-proxy's `proxyTimeout`, because that one destroys the request without a
// reason and a connect timeout (502) could not be told from a slow response (504).
import type { ClientRequest, IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { createProxyServer } from "http-proxy-3";
import type { Logger } from "../observability/logger.js";
import { CONTEXT, type RequestContext, type WithContext } from "../pipeline/context.js";
import { GatewayError } from "../pipeline/answers.js";
import type { Target } from "../upstream/target.js";
import type { Service } from "../upstream/service.js";
import { beginAttempt } from "../pipeline/attempt.js";
import { applyEdits, blankConnectionSpecific, blankHopByHop } from "./headers.js";

type RequestWithContext = WithContext<IncomingMessage>;

/** Shared by every call (the request carries its context), so forwarding allocates no closure. */
function onProxyError(error: Error, req: IncomingMessage): void {
  const ctx = (req as RequestWithContext)[CONTEXT];
  ctx?.onUpstreamFailure?.(ctx, error);
}

export interface ForwarderOptions {
  readonly logger: Logger;
  /** Strict-Transport-Security for responses on TLS connections; "" sends none. */
  readonly hsts: () => string;
  /** True while shutting down: responses then close their connection. */
  readonly draining: () => boolean;
}

export class Forwarder {
  readonly #proxy = createProxyServer({ xfwd: false, ws: true });
  readonly #options: ForwarderOptions;

  constructor(options: ForwarderOptions) {
    this.#options = options;
    const proxy = this.#proxy;
    withoutDeleteLength(proxy);
    proxy.on("proxyReq", (proxyReq, req, _res, _options, socket) => {
      const ctx = (req as RequestWithContext)[CONTEXT];
      if (ctx === undefined) return;
      ctx.reusedSocket = proxyReq.reusedSocket;
      ctx.upstreamRequest = proxyReq;
      armTimeouts(proxyReq, socket, ctx.service!);
    });
    proxy.on("proxyReqWs", (proxyReq, req) => {
      const ctx = (req as RequestWithContext)[CONTEXT];
      if (ctx === undefined) return;
      // http-proxy writes the backend's 101 (or its refusal) straight onto the socket; these listeners
      // run before its own, so that answer carries the request id like every other.
      const stamp = (proxyRes: IncomingMessage): void => {
        proxyRes.headers["x-request-id"] = ctx.requestId;
      };
      proxyReq.once("upgrade", stamp);
      proxyReq.once("response", stamp);
    });
    proxy.on("proxyRes", (proxyRes, req, res) => {
      const ctx = (req as RequestWithContext)[CONTEXT];
      if (ctx === undefined) return;
      ctx.upstreamResponded = true;
      const status = proxyRes.statusCode ?? 502;
      // A 5xx is the target's last error for /api/upstreams (and the breaker's "opened" log line).
      if (status >= 500 && ctx.target !== undefined) {
        ctx.target.lastError = `status ${status}`;
        ctx.target.metrics.status5xx.inc();
      }
      const settle = ctx.settleBreaker;
      if (settle !== undefined) {
        ctx.settleBreaker = undefined;
        // 5xx says the backend is failing; 4xx says the client was wrong, which is no reason to trip.
        settle(status >= 500 ? new Error(`status ${status}`) : undefined);
      }
      this.#rewriteResponse(ctx, proxyRes, res);
    });
    proxy.on("end", (req) => {
      const ctx = (req as RequestWithContext)[CONTEXT];
      if (ctx?.target === undefined) return;
      const now = performance.now();
      ctx.target.metrics.upstreamDuration.observe((now - ctx.upstreamStartedAt) / 1000);
      // Progress, for readiness: a service whose pool is full but still completing responses is busy, not stuck.
      ctx.service!.lastResponseAt = now;
    });
    // Per-call callbacks receive errors; these catch what http-proxy reports outside a call.
    proxy.on("error", (error, req, res) => {
      options.logger.debug({ err: error, url: req.url }, "proxy error outside a request callback");
      if ("destroy" in res) res.destroy();
    });
    proxy.on("econnreset", () => {
      // The client went away mid-request; http-proxy already destroyed the upstream request.
    });
  }

  /** Forwards the request (its context attached by the pipeline); failures go to ctx.onUpstreamFailure. */
  web(ctx: RequestContext, target: Target): void {
    beginAttempt(ctx, target);
    const options = ctx.service!.proxyOptionsFor(target);
    // A buffered body (request-body stage) is sent in place of the request stream it was read from.
    // An HTTP/2 stream goes in as Node's compatibility request and response, which http-proxy-3 takes
    // (it strips pseudo-headers and sends :authority as Host: http-proxy-3 PR #33); its types name only HTTP/1.1.
    this.#proxy.web(ctx.req as IncomingMessage, ctx.res as ServerResponse, ctx.body === undefined ? options : { ...options, buffer: ctx.body }, onProxyError);
  }

  ws(ctx: RequestContext, target: Target): void {
    beginAttempt(ctx, target);
    // An upgraded connection leaves the pool for good, so it does not borrow from the keep-alive agent;
    // the upgrade agent (services with `tls` only) carries the service's TLS settings.
    const agent = ctx.service?.upgradeAgent;
    this.#proxy.ws(ctx.req as IncomingMessage, ctx.socket, ctx.upgradeHead, agent === undefined ? { target: target.url } : { target: target.url, agent }, onProxyError);
  }

  #rewriteResponse(ctx: RequestContext, proxyRes: IncomingMessage, res: ServerResponse | Http2ServerResponse): void {
    const headers = proxyRes.headers;
    blankHopByHop(headers);
    if (ctx.isHttp2) {
      blankConnectionSpecific(headers);
      // Counted here for the access log: an HTTP/2 stream has no byte count of its own.
      proxyRes.on("data", (chunk: Buffer) => (ctx.sentBytes += chunk.length));
    }
    applyEdits(headers, ctx.route!.responseHeaders);
    if (ctx.setCookie !== undefined) addSetCookie(headers, ctx.setCookie);
    headers["x-request-id"] = ctx.requestId;
    if (ctx.encrypted) {
      const hsts = this.#options.hsts();
      if (hsts !== "") headers["strict-transport-security"] = hsts;
    }
    // http-proxy copies this onto the response; the client's own wish (res.shouldKeepAlive) and a
    // shutdown in progress decide it, never the upstream's connection header.
    if (!ctx.isHttp2) headers.connection = (res as ServerResponse).shouldKeepAlive && !this.#options.draining() ? "keep-alive" : "close";
  }
}

/** Adds Rampart's own cookie to the upstream's, never replacing one. */
export function addSetCookie(headers: { "set-cookie"?: string[] | undefined }, cookie: string): void {
  const existing = headers["set-cookie"];
  headers["set-cookie"] = existing === undefined ? [cookie] : [...existing, cookie];
}

function armTimeouts(proxyReq: ClientRequest, socket: Socket, service: Service): void {
  if (socket.connecting) {
    const timer = setTimeout(() => {
      proxyReq.destroy(new GatewayError("UPSTREAM_CONNECT_TIMEOUT", `no connection within ${service.connectTimeout} ms`));
    }, service.connectTimeout);
    socket.once("connect", () => clearTimeout(timer));
    proxyReq.once("close", () => clearTimeout(timer));
  }
  // A socket timeout measures silence, which is what "did not answer in time" means; Node arms it only
  // once connected, so it never races the connect timer above.
  proxyReq.setTimeout(service.responseTimeout, () => {
    proxyReq.destroy(new GatewayError("UPSTREAM_RESPONSE_TIMEOUT", `no answer within ${service.responseTimeout} ms`));
  });
}

/**
 * http-proxy's `deleteLength` pass sets `content-length: 0` on a DELETE or OPTIONS sent chunked, then
 * streams the body anyway: the backend reads the body as a second request (request smuggling, found by
 * the fuzz test). Node's client frames such bodies correctly on its own, so the pass goes.
 * https://github.com/http-party/node-http-proxy/issues/1343
 */
function withoutDeleteLength(proxy: object): void {
  const holder = proxy as { webPasses?: Array<{ name: string }> };
  if (!Array.isArray(holder.webPasses)) throw new Error("http-proxy-3 changed: webPasses not found (see withoutDeleteLength)");
  holder.webPasses = holder.webPasses.filter((pass) => pass.name !== "deleteLength");
}

// Forwarding to services with `protocol: h2c | h2`, over the target's one HTTP/2 connection
// (upstream/http2-pool.ts): what gRPC needs and HTTP/1.1 cannot carry. Request and response stream
// both ways as they arrive, trailers (grpc-status, grpc-message) pass through, and a client that
// cancels (RST_STREAM, a gRPC deadline) cancels the upstream stream, so the backend sees it too.
// Failures before the response go to ctx.onUpstreamFailure like HTTP/1.1's (retry or 502/504); after
// it, a gRPC response ends with grpc-status UNAVAILABLE, anything else is cut short.
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import { performance } from "node:perf_hooks";
import { GatewayError, GRPC, isGrpc } from "../pipeline/answers.js";
import { beginAttempt, endAttempt, recordUpstreamStatus } from "../pipeline/attempt.js";
import { declaresBody } from "../pipeline/linger.js";
import type { ClientResponse, RequestContext } from "../pipeline/context.js";
import type { CompiledHeaderEdits } from "../routing/route.js";
import type { Service } from "../upstream/service.js";
import type { Target } from "../upstream/target.js";
import { addSetCookie, applyEdits, isConnectionSpecific } from "./headers.js";
import { setOwnHeaders } from "../pipeline/own-headers.js";

const { NGHTTP2_CANCEL } = http2.constants;

export interface Http2ForwardOptions {
  /** Strict-Transport-Security for responses on TLS connections; "" sends none. */
  readonly hsts: string;
}

export function forwardHttp2(ctx: RequestContext, target: Target, service: Service, responseEdits: CompiledHeaderEdits, options: Http2ForwardOptions): void {
  beginAttempt(ctx, target);
  const res = ctx.res!;
  const session = service.http2!.session(target);
  const connecting = session.connecting;
  let upstream: ClientHttp2Stream;
  try {
    upstream = session.request(requestHeaders(ctx, target), { endStream: !hasBody(ctx) });
  } catch (error) {
    // The connection closed between the pool's check and this request (a GOAWAY just arrived).
    ctx.onUpstreamFailure?.(ctx, new GatewayError("UPSTREAM_RESET", (error as Error).message, { cause: error }));
    return;
  }
  ctx.upstreamRequest = upstream;
  ctx.reusedSocket = !connecting;
  let failed = false;
  const fail = (error: Error) => {
    if (failed) return;
    failed = true;
    clearTimeout(timer);
    if (!ctx.upstreamResponded) {
      ctx.onUpstreamFailure?.(ctx, error);
      return;
    }
    // Mid-response: the status is out, so the failure can only end the response.
    endAttempt(ctx, error);
    ctx.failure ??= "UPSTREAM_RESET";
    if (res.writableEnded) return;
    if (isGrpc(ctx.req) && "stream" in res) {
      res.addTrailers({ "grpc-status": String(GRPC.UNAVAILABLE), "grpc-message": "upstream connection lost" });
      res.end();
    } else {
      res.destroy();
    }
  };

  // Connect and answer timeouts as for HTTP/1.1: a 502 for a target that never accepted, a 504 for one
  // that did not answer. Unlike HTTP/1.1's idle timeout, timeouts.response ends with the response
  // headers: a gRPC stream may rightly stay quiet for minutes (a watch), and is bounded by the
  // client's own deadline (grpc-timeout, which goes upstream).
  const timeOut = (error: GatewayError) => () => {
    fail(error);
    upstream.close(NGHTTP2_CANCEL);
  };
  const answerTimeout = timeOut(new GatewayError("UPSTREAM_RESPONSE_TIMEOUT", `no answer within ${service.responseTimeout} ms`));
  let timer = connecting
    ? setTimeout(timeOut(new GatewayError("UPSTREAM_CONNECT_TIMEOUT", `no connection within ${service.connectTimeout} ms`)), service.connectTimeout)
    : setTimeout(answerTimeout, service.responseTimeout);
  if (connecting) {
    session.once("connect", () => {
      clearTimeout(timer);
      if (!failed && !upstream.closed && !ctx.upstreamResponded) timer = setTimeout(answerTimeout, service.responseTimeout);
    });
  }
  // However the stream ends (a client that cancelled before the answer, too), no timer outlives it.
  upstream.once("close", () => clearTimeout(timer));

  upstream.on("error", (error: NodeJS.ErrnoException) => {
    const code = (error.cause as NodeJS.ErrnoException | undefined)?.code ?? error.code;
    fail(connecting && !ctx.upstreamResponded && code === "ECONNREFUSED" ? new GatewayError("UPSTREAM_CONNECT_FAILED", error.message, { cause: error }) : error);
  });
  upstream.once("response", (headers, flags) => {
    clearTimeout(timer);
    ctx.upstreamResponded = true;
    const status = Number(headers[":status"] ?? 502);
    recordUpstreamStatus(ctx, target, status);
    const outgoing = responseHeaders(headers, responseEdits);
    if (ctx.setCookie !== undefined) addSetCookie(outgoing as { "set-cookie"?: string[] }, ctx.setCookie);
    if (ctx.encrypted && options.hsts !== "") outgoing["strict-transport-security"] = options.hsts;
    setOwnHeaders(res, ctx);
    res.writeHead(status, outgoing as Record<string, string | string[]>);
    // Trailers-only (a gRPC error answered in one HEADERS frame): end now, so the client gets it in one too.
    if ((flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0) res.end();
  });
  upstream.on("trailers", (trailers: IncomingHttpHeaders) => {
    if ("addTrailers" in res) res.addTrailers(passable(trailers) as Record<string, string>);
  });
  upstream.on("data", (chunk: Buffer) => {
    ctx.sentBytes += chunk.length;
    if (!writeTo(res, chunk)) {
      upstream.pause();
      res.once("drain", () => upstream.resume());
    }
  });
  upstream.once("end", () => {
    const now = performance.now();
    target.metrics.upstreamDuration.observe((now - ctx.upstreamStartedAt) / 1000);
    service.lastResponseAt = now;
    if (!res.writableEnded) res.end();
  });
  // The client went away (RST_STREAM, a gRPC deadline or cancel): the backend should stop too.
  res.once("close", () => {
    if (!upstream.closed) upstream.close(NGHTTP2_CANCEL);
  });
  if (hasBody(ctx)) (ctx.body ?? ctx.req).pipe(upstream);
}

function writeTo(res: ClientResponse, chunk: Buffer): boolean {
  return (res as { write(chunk: Buffer): boolean }).write(chunk);
}

function hasBody(ctx: RequestContext): boolean {
  return ctx.body !== undefined || declaresBody(ctx.req);
}

/** The request as an HTTP/2 header block: pseudo-headers from the request, no connection-specific field. */
function requestHeaders(ctx: RequestContext, target: Target): OutgoingHttpHeaders {
  const incoming = ctx.req.headers;
  const headers: OutgoingHttpHeaders = {
    ":method": ctx.req.method,
    ":path": ctx.req.url,
    ":scheme": target.url.protocol === "https:" ? "https" : "http",
    ":authority": incoming.host,
  };
  for (const name in incoming) {
    if (name.charCodeAt(0) === 58 /* ":" */ || name === "host" || isConnectionSpecific(name)) continue;
    headers[name] = incoming[name];
  }
  // gRPC servers require it (it says the client reads trailers); it is the one `te` HTTP/2 allows.
  if (isGrpc(ctx.req)) headers.te = "trailers";
  return headers;
}

function responseHeaders(headers: IncomingHttpHeaders, edits: CompiledHeaderEdits): OutgoingHttpHeaders {
  const outgoing = passable(headers);
  applyEdits(outgoing, edits);
  return outgoing;
}

/** Response headers or trailers without pseudo-headers and connection-specific fields. */
function passable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const outgoing: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ":" */ || isConnectionSpecific(name)) continue;
    outgoing[name] = headers[name];
  }
  return outgoing;
}

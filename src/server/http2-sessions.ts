// Per-connection limits of HTTP/2 clients, beyond what nghttp2 enforces by itself (http2-server.ts):
// - rapid reset (CVE-2023-44487): client stream resets per connection, a token bucket of resetBurst
//   refilled at resetRate per second. Counted here on every Node release, whether or not the runtime
//   has its own streamResetBurst/streamResetRate (Node 24 has; Node 20 accepts and ignores them).
// - maxRequestsPerConnection: then GOAWAY, so a long-lived connection comes back through the gate.
// - idle connections: GOAWAY after limits.idleTimeout without a stream.
// - floods and invalid frames nghttp2 detects end the session with an error: classified and counted.
// Abuse (rapid reset, floods, invalid frames) ends the connection with GOAWAY and is reported as an
// h2Abuse offence for the jails. Every session and stream error is handled: none reaches the process.
// https://www.cve.org/CVERecord?id=CVE-2023-44487 · https://nodejs.org/api/http2.html#http2createserveroptions-onrequesthandler
import http2, { type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import type { Http2Config, LimitsConfig } from "../config/schema.js";
import { canonicalIp } from "../guards/ip.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";

export type GoawayReason = "rapid_reset" | "flood" | "max_requests" | "idle" | "shutdown" | "protocol_error";

export interface Http2SessionHooks {
  readonly http2: () => Http2Config;
  readonly limits: () => LimitsConfig;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  /** The connection's peer tripped an abuse limit (the jails decide what that costs it). */
  readonly onAbuse: (peerIp: string, reason: GoawayReason) => void;
}

const { NGHTTP2_NO_ERROR, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_PROTOCOL_ERROR } = http2.constants;

interface SessionState {
  readonly peerIp: string;
  requests: number;
  /** Streams open now: an idle timeout with one open (a quiet gRPC stream) is not idleness. */
  active: number;
  resetTokens: number;
  refilledAt: number;
  /** Set once this session was told to go away, so it is counted once. */
  goaway: GoawayReason | undefined;
}

const STATE = Symbol("rampart.http2Session");
type TrackedSession = ServerHttp2Session & { [STATE]?: SessionState };

export class Http2Sessions {
  readonly #hooks: Http2SessionHooks;
  readonly #open = new Set<TrackedSession>();

  constructor(server: Http2Server, hooks: Http2SessionHooks) {
    this.#hooks = hooks;
    server.on("session", (session: TrackedSession) => this.#track(session));
    server.on("stream", (stream: ServerHttp2Stream) => this.#onStream(stream));
    // Errors of sessions already torn down: the session's own listener saw them first.
    server.on("sessionError", () => {});
  }

  get open(): number {
    return this.#open.size;
  }

  /** Graceful shutdown: GOAWAY to every client; their open streams may finish. */
  closeAll(): void {
    for (const session of this.#open) this.#goaway(session, "shutdown", NGHTTP2_NO_ERROR);
  }

  #track(session: TrackedSession): void {
    const state: SessionState = {
      peerIp: canonicalIp(session.socket?.remoteAddress),
      requests: 0,
      active: 0,
      resetTokens: this.#hooks.http2().resetBurst,
      refilledAt: performance.now(),
      goaway: undefined,
    };
    session[STATE] = state;
    this.#open.add(session);
    session.once("close", () => this.#open.delete(session));
    session.on("error", (error: NodeJS.ErrnoException) => this.#onSessionError(session, error));
    // A frame nghttp2 could not send (the stream went away meanwhile): nothing to do but not crash.
    session.on("frameError", () => {});
    session.setTimeout(this.#hooks.limits().idleTimeout, () => {
      // Node's session timeout counts time without any frame.
      if (state.active === 0) this.#goaway(session, "idle", NGHTTP2_NO_ERROR);
    });
  }

  #onStream(stream: ServerHttp2Stream): void {
    // Stream errors are already answered on the wire (RST_STREAM) or reported through the compat
    // request's 'aborted'/'close'; an unhandled 'error' would take the process down.
    stream.on("error", () => {});
    const session = stream.session as TrackedSession | undefined;
    const state = session?.[STATE];
    if (session === undefined || state === undefined) return;
    state.requests++;
    state.active++;
    stream.once("close", () => state.active--);
    if (state.requests >= this.#hooks.http2().maxRequestsPerConnection) this.#goaway(session, "max_requests", NGHTTP2_NO_ERROR);
    stream.once("aborted", () => this.#onClientReset(session, state));
  }

  /** A client reset a stream before its response ended: one token of its connection's bucket. */
  #onClientReset(session: TrackedSession, state: SessionState): void {
    const { resetBurst, resetRate } = this.#hooks.http2();
    const now = performance.now();
    state.resetTokens = Math.min(resetBurst, state.resetTokens + ((now - state.refilledAt) / 1000) * resetRate);
    state.refilledAt = now;
    state.resetTokens -= 1;
    if (state.resetTokens < 0) this.#goaway(session, "rapid_reset", NGHTTP2_ENHANCE_YOUR_CALM);
  }

  #onSessionError(session: TrackedSession, error: NodeJS.ErrnoException): void {
    // nghttp2 ended the session itself (and sent its GOAWAY); what it names is the reason.
    const reason: GoawayReason = /flood/i.test(error.message) ? "flood" : "protocol_error";
    this.#hooks.logger.debug({ code: error.code, message: error.message, reason }, "HTTP/2 session error");
    this.#goaway(session, reason, NGHTTP2_PROTOCOL_ERROR);
  }

  #goaway(session: TrackedSession, reason: GoawayReason, code: number): void {
    const state = session[STATE];
    if (state === undefined || state.goaway !== undefined) return;
    state.goaway = reason;
    this.#hooks.metrics.http2Goaway.inc({ reason });
    const abuse = reason === "rapid_reset" || reason === "flood" || reason === "protocol_error";
    if (abuse) {
      this.#hooks.logger.warn({ client: state.peerIp, reason, requests: state.requests }, "HTTP/2 connection ended for abuse");
      this.#hooks.onAbuse(state.peerIp, reason);
    }
    if (session.destroyed) return;
    if (!session.closed) session.goaway(code);
    if (abuse) {
      session.destroy();
      return;
    }
    // Streams in progress may finish (the shutdown's grace, or their own timeouts, bound them).
    session.close();
  }
}

// The public listeners. Each is a plain TCP server that runs the connection gate at accept and only
// then hands the socket on (TLS, then HTTP/1.1 or HTTP/2), so a refused client never reaches a parser
// or the TLS handshake. The protocol servers never listen themselves.
import http from "node:http";
import type { Http2Server } from "node:http2";
import net from "node:net";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { SecureContext, TLSSocket } from "node:tls";
import type { LimitsConfig, ListenAddress } from "../config/schema.js";
import { listenError } from "./listen-error.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import { tlsProfile } from "../tls/cipher-profile.js";
import { clientAuthServerOptions, type ClientCa } from "../tls/client-ca.js";
import { recordClientSubject } from "../tls/client-subject.js";
import type { ConnectionGate } from "./connection-gate.js";
import { handleOddRequests, hasBody, isWebSocketUpgrade, serveWithoutUpgrade, type RefusalObserver } from "./odd-requests.js";
import type { SendWatch } from "./send-watch.js";
import type { SocketFilter } from "../tls/acme/alpn-challenge.js";
import { sniffPreface } from "./http2-server.js";

export interface RequestHandlers {
  request(req: http.IncomingMessage, res: http.ServerResponse, encrypted: boolean): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, encrypted: boolean): void;
}

export interface TlsOptions {
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
  readonly defaultCertificate: { readonly key: string; readonly cert: string } | undefined;
  readonly sniCallback: (servername: string, callback: (error: Error | null, context?: SecureContext) => void) => void;
  /** tls.clientAuth: the CA client certificates are verified against; undefined when they are not asked for. */
  readonly clientCa?: ClientCa;
}

export interface Listener {
  readonly server: http.Server;
  readonly front: net.Server;
  address(): AddressInfo;
}

/** What every public listener shares beyond its limits: observability and the slow-reader watch. */
export interface EdgeHooks {
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly sendWatch: SendWatch;
  /** Answers given before the pipeline saw a request (parser refusals, CONNECT): access-log lines. */
  readonly observeRefusal: RefusalObserver;
}

/** On reload: the limits Node reads per connection or per check take the new values (listeners stay bound). */
export function applyLimits(server: http.Server, limits: LimitsConfig): void {
  // Node reads server.maxHeaderSize for each new connection's parser; @types/node does not declare it.
  (server as http.Server & { maxHeaderSize: number }).maxHeaderSize = limits.maxHeaderSize;
  server.headersTimeout = limits.headersTimeout;
  server.requestTimeout = limits.requestTimeout;
  server.keepAliveTimeout = limits.idleTimeout;
  server.maxHeadersCount = limits.maxHeaderCount + 1;
}

export function serverOptions(limits: LimitsConfig): http.ServerOptions {
  return {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.idleTimeout,
    // Node checks headersTimeout/requestTimeout only this often (30 s by default): slowloris
    // protection is only as sharp as this interval.
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(limits.headersTimeout / 4))),
    // The request-target stage answers a missing Host itself, as the contract's JSON 400 (Node's own
    // answer is a bare 400 with no body and no request id).
    requireHostHeader: false,
    noDelay: true,
  };
}

/** `onWebSocket` gets WebSocket handshakes; every other upgrade request is served by `onRequest`. */
export function createHttpServer(limits: LimitsConfig, onRequest: http.RequestListener, onWebSocket: UpgradeListener, edge: EdgeHooks): http.Server {
  const server = http.createServer(serverOptions(limits), onRequest);
  attachCommon(server, limits, onRequest, onWebSocket, edge);
  return server;
}

/**
 * What the HTTP listener does with an admitted socket: HTTP/1.1, or with h2c on, HTTP/2 for the
 * connections that open with its preface (prior knowledge, RFC 9113 §3.3).
 */
export function plainEntry(server: http.Server, h2c: Http2Server | undefined, limits: () => LimitsConfig, edge: EdgeHooks): (socket: Duplex) => void {
  const connections = edge.metrics.connectionsTotal;
  const viaH2c = connections.labels("http", "h2c");
  const viaHttp1 = connections.labels("http", "http/1.1");
  const http1 = (socket: Duplex) => {
    viaHttp1.inc();
    server.emit("connection", socket);
  };
  return (socket) => {
    edge.sendWatch.track(socket);
    if (h2c === undefined) return http1(socket);
    sniffPreface(socket, limits().headersTimeout, (sniffed) => {
      viaH2c.inc();
      h2c.emit("connection", sniffed);
    }, http1);
  };
}

/** The HTTPS listener's servers: TLS first, then HTTP/1.1 or HTTP/2 as the client's ALPN chose. */
export interface TlsEdge {
  /** Receives the gated sockets and runs the handshake. */
  readonly tls: tls.Server;
  /** Serves HTTP/1.1 on the TLS sockets that chose it (or named no protocol). */
  readonly http1: http.Server;
}

/**
 * TLS is terminated by a plain tls.Server and the protocol servers are fed its sockets, rather than
 * http2.createSecureServer({ allowHTTP1 }): HTTP/1.1 over TLS then runs on the same http.Server code
 * (parser limits, slowloris checks, lingering close) as plain HTTP/1.1, and HTTP/2 gets its own server.
 */
export function createTlsEdge(limits: LimitsConfig, tlsOptions: TlsOptions, handlers: RequestHandlers, edge: EdgeHooks, h2: Http2Server | undefined): TlsEdge {
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => handlers.request(req, res, true);
  const http1 = http.createServer(serverOptions(limits), onRequest);
  attachCommon(http1, limits, onRequest, (req, socket, head) => handlers.upgrade(req, socket, head, true), edge);
  const server = tls.createServer({
    ...tlsOptions.defaultCertificate,
    SNICallback: tlsOptions.sniCallback,
    ...tlsProfile(tlsOptions.minVersion),
    ...clientAuthServerOptions(tlsOptions.clientCa),
    // h2 first: a client that offers both gets HTTP/2 (RFC 7301 lets the server choose).
    ALPNProtocols: h2 === undefined ? ["http/1.1"] : ["h2", "http/1.1"],
    handshakeTimeout: handshakeTimeout(limits),
  });
  const handshakes = { ok: edge.metrics.tlsHandshakes.labels("ok"), failed: edge.metrics.tlsHandshakes.labels("failed") };
  server.on("tlsClientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    handshakes.failed.inc();
    edge.logger.debug({ code: error.code, message: error.message }, "TLS handshake failed");
    socket.destroy();
  });
  const connections = edge.metrics.connectionsTotal;
  const viaH2 = connections.labels("https", "h2");
  const viaHttp1 = connections.labels("https", "http/1.1");
  const clientAuth = tlsOptions.clientCa !== undefined;
  server.on("secureConnection", (socket: TLSSocket) => {
    handshakes.ok.inc();
    if (clientAuth) recordClientSubject(socket);
    edge.sendWatch.track(socket);
    if (h2 !== undefined && socket.alpnProtocol === "h2") {
      viaH2.inc();
      h2.emit("connection", socket);
    } else {
      viaHttp1.inc();
      http1.emit("connection", socket);
    }
  });
  return { tls: server, http1 };
}

export type UpgradeListener = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

function attachCommon(server: http.Server, limits: LimitsConfig, onRequest: http.RequestListener, onWebSocket: UpgradeListener, edge: EdgeHooks): void {
  // One more than the limit, so the request-target stage can tell "too many" (431) from "exactly the limit".
  server.maxHeadersCount = limits.maxHeaderCount + 1;
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    // A handshake with a body goes the plain way, where it is refused: without Node's parser the body cannot be framed.
    if (isWebSocketUpgrade(req) && !hasBody(req)) onWebSocket(req, socket, head);
    else serveWithoutUpgrade(req, socket, onRequest, edge.observeRefusal);
  });
  handleOddRequests(server, onRequest, edge.observeRefusal, (status) => {
    edge.metrics.clientErrors.inc({ code: String(status) });
    edge.logger.debug({ status }, "malformed or slow request refused");
  });
  // Tracks connections for headersTimeout/requestTimeout and closeIdleConnections(); node starts
  // this on "listening", which a server fed by a front listener never emits by itself.
  server.emit("listening");
}

/** Runs on an admitted socket before `server` sees it (the TLS-ALPN-01 answer on the HTTPS listener). */
export type { SocketFilter };

/** How long a client gets for its TLS handshake (also the ClientHello wait of a socket filter). */
export function handshakeTimeout(limits: LimitsConfig): number {
  return Math.min(limits.headersTimeout, 10_000);
}

/** Names a listener in metrics (`rampart_connections_total{listener}`). */
export type ListenerName = "http" | "https";

/**
 * Binds a gated TCP listener: admitted sockets go to `entry` (through `filter` when one is given).
 * `server` is the listener's HTTP/1.1 server, for reloads of its limits and for shutdown.
 */
export function listen(name: ListenerName, address: ListenAddress, entry: (socket: Duplex) => void, server: http.Server, gate: ConnectionGate, edge: EdgeHooks, filter?: SocketFilter): Promise<Listener> {
  const { logger } = edge;
  const open = edge.metrics.connectionsOpen.labels(name);
  const closed = () => open.dec();
  const front = net.createServer({ noDelay: true }, (socket) => {
    if (!gate.admit(socket)) return;
    open.inc();
    socket.once("close", closed);
    if (filter === undefined) {
      entry(socket);
      return;
    }
    filter(socket).then(
      (pass) => {
        if (pass && !socket.destroyed) entry(socket);
      },
      (error: unknown) => {
        logger.warn({ err: error }, "connection filter failed");
        socket.destroy();
      },
    );
  });
  front.on("error", (error) => logger.error({ err: error }, "listener error"));
  return new Promise((resolve, reject) => {
    const refuse = (error: Error) => reject(listenError(name, address, error));
    front.once("error", refuse);
    front.listen({ host: address.host, port: address.port, backlog: 1024 }, () => {
      front.off("error", refuse);
      resolve({ server, front, address: () => front.address() as AddressInfo });
    });
  });
}

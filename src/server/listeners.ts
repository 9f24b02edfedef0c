// The public listeners. Each is a plain TCP server that runs the connection gate at accept and only
// then hands the socket to the HTTP (or HTTPS) server, so a refused client never reaches the HTTP
// parser or the TLS handshake. The HTTP servers never listen themselves.
import http from "node:http";
import https from "node:https";
import net from "node:net";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { SecureContext, TLSSocket } from "node:tls";
import type { LimitsConfig, ListenAddress } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import { tlsProfile } from "../tls/cipher-profile.js";
import type { ConnectionGate } from "./connection-gate.js";
import { handleOddRequests, hasBody, isWebSocketUpgrade, serveWithoutUpgrade, type RefusalObserver } from "./odd-requests.js";
import type { SendWatch } from "./send-watch.js";
import type { SocketFilter } from "../tls/acme/alpn-challenge.js";

export interface RequestHandlers {
  request(req: http.IncomingMessage, res: http.ServerResponse, encrypted: boolean): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, encrypted: boolean): void;
}

export interface TlsOptions {
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
  readonly defaultCertificate: { readonly key: string; readonly cert: string } | undefined;
  readonly sniCallback: (servername: string, callback: (error: Error | null, context?: SecureContext) => void) => void;
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
  server.on("connection", (socket: net.Socket) => edge.sendWatch.track(socket));
  return server;
}

export function createHttpsServer(limits: LimitsConfig, tls: TlsOptions, handlers: RequestHandlers, edge: EdgeHooks): https.Server {
  const server = https.createServer(
    {
      ...serverOptions(limits),
      ...tls.defaultCertificate,
      SNICallback: tls.sniCallback,
      ...tlsProfile(tls.minVersion),
      ALPNProtocols: ["http/1.1"],
      handshakeTimeout: handshakeTimeout(limits),
    },
    (req, res) => handlers.request(req, res, true),
  );
  server.on("tlsClientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    edge.logger.debug({ code: error.code, message: error.message }, "TLS handshake failed");
    socket.destroy();
  });
  attachCommon(server, limits, (req, res) => handlers.request(req, res, true), (req, socket, head) => handlers.upgrade(req, socket, head, true), edge);
  server.on("secureConnection", (socket: TLSSocket) => edge.sendWatch.track(socket));
  return server;
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

/** Binds a gated TCP listener that feeds `server`, through `filter` when one is given. */
export function listen(address: ListenAddress, server: http.Server, gate: ConnectionGate, logger: Logger, filter?: SocketFilter): Promise<Listener> {
  const front = net.createServer({ noDelay: true }, (socket) => {
    if (!gate.admit(socket)) return;
    if (filter === undefined) {
      server.emit("connection", socket);
      return;
    }
    filter(socket).then(
      (pass) => {
        if (pass && !socket.destroyed) server.emit("connection", socket);
      },
      (error: unknown) => {
        logger.warn({ err: error }, "connection filter failed");
        socket.destroy();
      },
    );
  });
  front.on("error", (error) => logger.error({ err: error }, "listener error"));
  return new Promise((resolve, reject) => {
    front.once("error", reject);
    front.listen({ host: address.host, port: address.port, backlog: 1024 }, () => {
      front.off("error", reject);
      resolve({ server, front, address: () => front.address() as AddressInfo });
    });
  });
}

// The public listeners. Each is a plain TCP server that runs the connection gate at accept and only
// then hands the socket to the HTTP (or HTTPS) server, so a refused client never reaches the HTTP
// parser or the TLS handshake. The HTTP servers never listen themselves.
import { randomUUID } from "node:crypto";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { SecureContext } from "node:tls";
import type { LimitsConfig, ListenAddress } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import type { ConnectionGate } from "./connection-gate.js";

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

/** Node parses these before a request exists; we answer with the contract's JSON, not a bare status. */
const CLIENT_ERRORS: Readonly<Record<string, readonly [number, string]>> = {
  HPE_HEADER_OVERFLOW: [431, "header_too_large"],
  ERR_HTTP_REQUEST_TIMEOUT: [408, "request_timeout"],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, "body_too_large"],
};

export function serverOptions(limits: LimitsConfig): http.ServerOptions {
  return {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.idleTimeout,
    // Node checks headersTimeout/requestTimeout only this often (30 s by default): slowloris
    // protection is only as sharp as this interval.
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(limits.headersTimeout / 4))),
    requireHostHeader: true,
    noDelay: true,
  };
}

export function createHttpServer(limits: LimitsConfig, onRequest: http.RequestListener, onUpgrade: RequestHandlers["upgrade"] | undefined, metrics: GatewayMetrics, logger: Logger): http.Server {
  const server = http.createServer(serverOptions(limits), onRequest);
  if (onUpgrade) server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => onUpgrade(req, socket, head, false));
  attachCommon(server, metrics, logger);
  return server;
}

export function createHttpsServer(limits: LimitsConfig, tls: TlsOptions, handlers: RequestHandlers, metrics: GatewayMetrics, logger: Logger): https.Server {
  const server = https.createServer(
    {
      ...serverOptions(limits),
      ...tls.defaultCertificate,
      SNICallback: tls.sniCallback,
      minVersion: tls.minVersion,
      ALPNProtocols: ["http/1.1"],
      handshakeTimeout: handshakeTimeout(limits),
    },
    (req, res) => handlers.request(req, res, true),
  );
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => handlers.upgrade(req, socket, head, true));
  server.on("tlsClientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    logger.debug({ code: error.code, message: error.message }, "TLS handshake failed");
    socket.destroy();
  });
  attachCommon(server, metrics, logger);
  return server;
}

function attachCommon(server: http.Server, metrics: GatewayMetrics, logger: Logger): void {
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    const [status, reason] = CLIENT_ERRORS[error.code ?? ""] ?? [400, "bad_request"];
    metrics.clientErrors.inc({ code: String(status) });
    logger.debug({ code: error.code, status }, "malformed or slow request refused");
    if (!socket.writable || error.code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    // No request was parsed, so there is no client id to keep: every response still carries one.
    const requestId = randomUUID();
    const body = `{"error":"${reason}","requestId":"${requestId}"}`;
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\n` +
        `content-length: ${body.length}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  // Tracks connections for headersTimeout/requestTimeout and closeIdleConnections(); node starts
  // this on "listening", which a server fed by a front listener never emits by itself.
  server.emit("listening");
}

/**
 * Runs on an admitted socket before `server` sees it (the TLS-ALPN-01 answer on the HTTPS listener):
 * resolves true to hand the socket on, false when the filter took care of it (answered or destroyed).
 */
export type SocketFilter = (socket: net.Socket) => Promise<boolean>;

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

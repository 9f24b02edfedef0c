// The admin listener: the status page, metrics, liveness, readiness and the operator API. Never gated,
// never limited, loopback by default; off loopback the config requires adminToken, which then guards
// /api/*. The status page (GET /) holds no data and is served without the token; its script sends it.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { timingSafeEqual } from "node:crypto";
import type { ListenAddress } from "../config/schema.js";
import { listenError } from "../server/listen-error.js";
import type { Logger } from "../observability/logger.js";
import { STATUS_PAGE } from "./status-page.js";

export type AdminReply = { readonly status: number; readonly body: unknown };
/** What an API handler sees of the request: plain data, so a cluster primary can relay it to a worker. */
export interface AdminRequest {
  readonly method: string;
  /** The path without query string, e.g. "/api/bans/203.0.113.9". */
  readonly path: string;
}
export type AdminHandler = (request: AdminRequest, body: unknown) => AdminReply | Promise<AdminReply>;
export type AdminApi = (request: AdminRequest, body: unknown) => Promise<AdminReply>;

export interface Readiness {
  readonly ready: boolean;
  readonly detail: Record<string, unknown>;
}

export interface AdminOptions {
  readonly token: () => string;
  readonly metrics: () => Promise<{ contentType: string; text: string }>;
  readonly ready: () => Readiness | Promise<Readiness>;
  readonly api: AdminApi;
}

/**
 * An AdminApi from handlers keyed "METHOD /api/path"; a trailing "*" matches the rest of the path
 * (e.g. "DELETE /api/bans/*").
 */
export function routeApi(handlers: ReadonlyMap<string, AdminHandler>): AdminApi {
  return async (request, body) => {
    const key = `${request.method} ${request.path}`;
    const handler = handlers.get(key) ?? wildcardHandler(handlers, key);
    if (handler === undefined) return { status: 404, body: { error: "not_found" } };
    return handler(request, body);
  };
}

const MAX_ADMIN_BODY = 64 * 1024;

export function createAdminServer(options: AdminOptions, logger: Logger): http.Server {
  return http.createServer((req, res) => {
    handle(req, options).then(
      (reply) => send(res, reply),
      (error: unknown) => {
        logger.error({ err: error, url: req.url }, "admin request failed");
        send(res, { status: 500, body: { error: "internal_error" } });
      },
    );
  });
}

/** A reply that is not JSON: the page, the metrics text. */
interface RawReply {
  readonly raw: string;
  readonly contentType: string;
  readonly headers?: Readonly<Record<string, string>>;
}

async function handle(req: http.IncomingMessage, options: AdminOptions): Promise<AdminReply | RawReply> {
  const path = (req.url ?? "/").split("?")[0]!;
  if ((req.method === "GET" || req.method === "HEAD") && path === "/") {
    return { raw: STATUS_PAGE.html, contentType: STATUS_PAGE.headers["content-type"]!, headers: STATUS_PAGE.headers };
  }
  if (req.method === "GET" && path === "/metrics") {
    const { contentType, text } = await options.metrics();
    return { raw: text, contentType };
  }
  if (req.method === "GET" && path === "/healthz") return { status: 200, body: { status: "ok" } };
  if (req.method === "GET" && path === "/readyz") {
    const { ready, detail } = await options.ready();
    return { status: ready ? 200 : 503, body: { status: ready ? "ready" : "not_ready", ...detail } };
  }
  if (!path.startsWith("/api/")) return { status: 404, body: { error: "not_found" } };
  // A browser says where a request comes from: another site's page (a form or fetch aimed at a loopback
  // admin listener without a token) is refused. The status page's own requests are same-origin.
  const site = req.headers["sec-fetch-site"];
  if (site === "cross-site" || site === "same-site") return { status: 403, body: { error: "cross_site_request" } };
  if (!authorized(req, options.token())) return { status: 401, body: { error: "unauthorized" } };

  const body = await readJson(req);
  if (body === INVALID) return { status: 400, body: { error: "invalid_json" } };
  return options.api({ method: req.method ?? "GET", path }, body);
}

function wildcardHandler(api: ReadonlyMap<string, AdminHandler>, key: string): AdminHandler | undefined {
  for (const [pattern, handler] of api) {
    if (pattern.endsWith("*") && key.startsWith(pattern.slice(0, -1)) && key.length > pattern.length - 1) return handler;
  }
  return undefined;
}

function authorized(req: http.IncomingMessage, token: string): boolean {
  if (token === "") return true;
  const given = Buffer.from(req.headers.authorization ?? "");
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const INVALID = Symbol("invalid");

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_ADMIN_BODY) return INVALID;
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    return INVALID;
  }
}

function send(res: http.ServerResponse, reply: AdminReply | RawReply): void {
  if ("raw" in reply) {
    res.writeHead(200, { ...reply.headers, "content-type": reply.contentType }).end(reply.raw);
    return;
  }
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}

export function listenAdmin(server: http.Server, address: ListenAddress): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const refuse = (error: Error) => reject(listenError("admin", address, error));
    server.once("error", refuse);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off("error", refuse);
      resolve(server.address() as AddressInfo);
    });
  });
}

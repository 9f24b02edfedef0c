// How the operations commands reach a running gateway: the admin listener's address and token, from
// RAMPART_ADMIN / RAMPART_ADMIN_TOKEN when set, else from the config file the gateway runs
// (`listen.admin`, `adminToken`), else the defaults; and one request helper whose failures are
// sentences an operator can act on.
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { parseDocument } from "yaml";
import { interpolate, type Env } from "../config/interpolate.js";
import { configSchema } from "../config/schema.js";

/** A failure with the exit code the CLI ends with: 1 the gateway said no, 2 it could not be asked. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 2,
    readonly detail?: string,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export interface AdminTarget {
  /** Base URL without trailing slash, e.g. http://127.0.0.1:9901 */
  readonly url: string;
  /** host:port as an operator would write it, for messages. */
  readonly display: string;
  readonly token: string;
  /** Where the address came from, for the "cannot reach" hint. */
  readonly source: string;
}

export interface ConfigLocation {
  readonly file: string;
  /** True when the operator named the file (-c or RAMPART_CONFIG), false for the default path. */
  readonly explicit: boolean;
}

/** `listen.admin` and `adminToken` of the file, read without validating the rest (a file being edited may be invalid). */
function adminSettings(location: ConfigLocation, env: Env, required: boolean): { host: string; port: number; token: string } | undefined {
  let text: string;
  try {
    text = readFileSync(location.file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!required || (!location.explicit && code === "ENOENT")) return undefined;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" || code === "EPERM" ? "permission denied" : (error as Error).message;
    throw new CliError(`cannot read the config file ${location.file} (${why}); pass -c FILE or set RAMPART_ADMIN`);
  }
  const doc = parseDocument(text);
  interpolate(doc, env);
  const raw = (doc.errors.length === 0 ? doc.toJS() : {}) as { listen?: unknown; adminToken?: unknown } | null;
  const listen = configSchema.shape.listen.safeParse(raw?.listen ?? {});
  if (!listen.success) throw new CliError(`listen.admin in ${location.file} is not an address; fix it or set RAMPART_ADMIN`);
  const token = configSchema.shape.adminToken.safeParse(raw?.adminToken ?? "");
  return { ...listen.data.admin, token: token.success ? token.data : "" };
}

/** A wildcard bind is reached on loopback. */
function reachableHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}

function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** RAMPART_ADMIN as host:port, [v6]:port, :port or an http(s) URL. */
function parseAdminEnv(value: string): { url: string; display: string } {
  const text = value.trim();
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new CliError(`RAMPART_ADMIN="${value}" is not a URL or host:port`);
    }
    return { url: `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`, display: url.host };
  }
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (match === null || Number(match[3]) > 65_535) throw new CliError(`RAMPART_ADMIN="${value}" is not host:port (such as 127.0.0.1:9901) or a URL`);
  const host = reachableHost(match[1] ?? match[2] ?? "");
  const display = hostPort(host, Number(match[3]));
  return { url: `http://${display}`, display };
}

/** Where the admin API is and what token to send: the environment wins over the config file, which wins over the defaults. */
export function resolveAdmin(location: ConfigLocation, env: Env = process.env): AdminTarget {
  const fromEnv = env.RAMPART_ADMIN !== undefined && env.RAMPART_ADMIN !== "" ? parseAdminEnv(env.RAMPART_ADMIN) : undefined;
  const envToken = env.RAMPART_ADMIN_TOKEN !== undefined && env.RAMPART_ADMIN_TOKEN !== "" ? env.RAMPART_ADMIN_TOKEN : undefined;
  // The file only matters for what the environment leaves open; with RAMPART_ADMIN set, a file that
  // cannot be read just means no token.
  const settings = fromEnv === undefined || envToken === undefined ? adminSettings(location, env, fromEnv === undefined) : undefined;
  const token = envToken ?? settings?.token ?? "";
  if (fromEnv !== undefined) return { ...fromEnv, token, source: "RAMPART_ADMIN" };
  const host = reachableHost(settings?.host ?? "127.0.0.1");
  const port = settings?.port ?? 9901;
  if (port === 0) {
    throw new CliError(`listen.admin in ${location.file} has port 0 (a free port chosen at start); set RAMPART_ADMIN to the admin address rampart logged`);
  }
  const display = hostPort(host, port);
  return { url: `http://${display}`, display, token, source: settings === undefined ? "the default address" : `listen.admin in ${location.file}` };
}

export interface AdminResponse {
  readonly status: number;
  readonly body: unknown;
}

export class AdminClient {
  readonly #timeoutMs: number;

  constructor(
    readonly target: AdminTarget,
    timeoutMs = 5_000,
  ) {
    this.#timeoutMs = timeoutMs;
  }

  /** One request; a 401 and an unreachable gateway become CliErrors (exit 2), every other status is returned. */
  async request(method: string, path: string, body?: unknown): Promise<AdminResponse> {
    const url = new URL(this.target.url + path);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.target.token !== "") headers.authorization = `Bearer ${this.target.token}`;
    if (payload !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(Buffer.byteLength(payload));
    }
    const response = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const transport = url.protocol === "https:" ? https : http;
      const req = transport.request(url, { method, headers, timeout: this.#timeoutMs, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.#timeoutMs / 1000} s`)));
      req.on("error", reject);
      req.end(payload);
    }).catch((error: unknown) => {
      throw new CliError(`cannot reach the admin API at ${this.target.display} (is rampart running?)`, 2, `${describe(error)}; the address is ${this.target.source} (RAMPART_ADMIN overrides it)`);
    });
    if (response.status === 401) {
      const detail =
        this.target.token === ""
          ? "the gateway requires a token and none was sent: set RAMPART_ADMIN_TOKEN or adminToken in the config file"
          : "the token sent (RAMPART_ADMIN_TOKEN or adminToken in the config file) is not the gateway's adminToken";
      throw new CliError("admin token rejected", 2, detail);
    }
    let parsed: unknown = response.text;
    try {
      parsed = response.text === "" ? undefined : JSON.parse(response.text);
    } catch {
      // Not JSON (a proxy's error page): kept as text for the message.
    }
    return { status: response.status, body: parsed };
  }

  /** request(), expecting `ok` (200 by default): any other status is a CliError (exit 1) naming the gateway's reason. */
  async expect<T>(method: string, path: string, body?: unknown, ok: readonly number[] = [200]): Promise<T> {
    const response = await this.request(method, path, body);
    if (!ok.includes(response.status)) throw new CliError(`${method} ${path}: ${reasonOf(response)}`, 1);
    return response.body as T;
  }
}

/** The gateway's own words for a refusal: `message`, else `error`, else the status. */
export function reasonOf(response: AdminResponse): string {
  const body = response.body as { message?: unknown; error?: unknown } | string | undefined;
  if (typeof body === "object" && body !== null) {
    if (typeof body.message === "string") return body.message;
    if (typeof body.error === "string") return `${body.error} (HTTP ${response.status})`;
  }
  return typeof body === "string" && body !== "" ? `HTTP ${response.status}: ${body.slice(0, 200)}` : `HTTP ${response.status}`;
}

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
}

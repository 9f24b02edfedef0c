// Minimal HTTP(S) client for tests: one fresh connection per request (agent: false) unless an agent is
// given, self-signed certificates accepted, the whole body collected.
import http from "node:http";
import https from "node:https";

export interface Response {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  json<T = unknown>(): T;
}

export interface RequestOptions {
  readonly port: number;
  readonly path?: string;
  readonly method?: string;
  readonly headers?: http.OutgoingHttpHeaders;
  readonly body?: string | Buffer;
  readonly tls?: boolean;
  readonly servername?: string;
  readonly agent?: http.Agent | false;
  readonly host?: string;
}

export function request(options: RequestOptions): Promise<Response> {
  const transport = options.tls ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(
      {
        host: options.host ?? "127.0.0.1",
        port: options.port,
        path: options.path ?? "/",
        method: options.method ?? "GET",
        headers: options.headers,
        agent: options.agent ?? false,
        rejectUnauthorized: false,
        servername: options.servername,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: <T>() => JSON.parse(body) as T });
        });
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Sends raw bytes on a fresh TCP connection and returns everything received until the server closes or `ms` pass. */
export async function rawRequest(port: number, payload: string | Buffer, ms = 2_000): Promise<string> {
  const net = await import("node:net");
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, "127.0.0.1", () => socket.write(payload));
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
  });
}

export interface GetResult {
  /** 0 when the request failed without a status. */
  readonly status: number;
  readonly error: string | undefined;
  readonly body: Buffer;
}

/** One GET (a fresh connection unless `agent` is given; self-signed certificates accepted) with a timeout; never rejects. */
export function getOnce(options: { port: number; path: string; tls?: boolean; localAddress?: string; timeoutMs?: number; headers?: http.OutgoingHttpHeaders; agent?: http.Agent | false }): Promise<GetResult> {
  const transport = options.tls ? https : http;
  return new Promise((resolve) => {
    let done = false;
    const chunks: Buffer[] = [];
    const finish = (status: number, error: string | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ status, error, body: Buffer.concat(chunks) });
    };
    const req = transport.request(
      {
        host: "127.0.0.1",
        port: options.port,
        path: options.path,
        method: "GET",
        headers: options.headers,
        localAddress: options.localAddress,
        agent: options.agent ?? false,
        rejectUnauthorized: false,
        servername: options.tls ? "localhost" : undefined,
      },
      (res) => {
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", (error: NodeJS.ErrnoException) => finish(0, error.code ?? error.message));
        res.on("aborted", () => finish(0, "aborted"));
        res.on("end", () => finish(res.statusCode ?? 0, undefined));
      },
    );
    const timer = setTimeout(() => {
      finish(0, "timeout");
      req.destroy();
    }, options.timeoutMs ?? 3_000);
    req.on("error", (error: NodeJS.ErrnoException) => finish(0, error.code ?? error.message));
    req.end();
  });
}

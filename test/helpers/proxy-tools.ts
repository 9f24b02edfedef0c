// Extra tools for the proxy and routing integration tests: raw bytes over TLS (for request lines and
// headers Node's client would refuse or rewrite), a pino logger whose lines the test can read (the
// access log), polling (sync and async checks), and a Prometheus text reader for the admin /metrics endpoint.
import http from "node:http";
import { Writable } from "node:stream";
import tls from "node:tls";
import { pino, type Logger } from "pino";

/** Opens a TLS connection to the gateway (self-signed certificates accepted) and resolves once it is secure. */
export function connectTls(port: number, servername?: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] }, () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

export interface RawResult {
  /** Everything received, as latin1 text. */
  readonly text: string;
  /** The status code of the first response, 0 when none arrived. */
  readonly status: number;
  /** True when the server closed (or reset) the connection before `ms` passed. */
  readonly closedByServer: boolean;
  readonly elapsedMs: number;
}

/**
 * Sends raw bytes on a fresh TLS connection and collects everything until the server closes or `ms`
 * pass. Payload parts are written one after another, `gapMs` apart (for slow clients).
 */
export async function rawTls(port: number, payload: string | readonly string[], options: { ms?: number; gapMs?: number; servername?: string } = {}): Promise<RawResult> {
  const ms = options.ms ?? 2_000;
  const parts = typeof payload === "string" ? [payload] : payload;
  const socket = await connectTls(port, options.servername);
  const started = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closedByServer = true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      closedByServer = false;
      socket.destroy();
    }, ms);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(deadline);
      if (timer !== undefined) clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("latin1");
      resolve({ text, status: statusOf(text), closedByServer, elapsedMs: Date.now() - started });
    });
    let index = 0;
    const writeNext = () => {
      if (socket.destroyed || index >= parts.length) return;
      socket.write(parts[index++]!);
      if (index < parts.length) timer = setTimeout(writeNext, options.gapMs ?? 0);
    };
    writeNext();
  });
}

export function statusOf(responseText: string): number {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(responseText);
  return match ? Number(match[1]) : 0;
}

/** The body of the first response in raw response text (after the blank line, de-chunked when chunked). */
export function bodyOf(responseText: string): string {
  const end = responseText.indexOf("\r\n\r\n");
  if (end === -1) return "";
  const rest = responseText.slice(end + 4);
  if (!/chunked/i.test(headerOf(responseText, "transfer-encoding") ?? "")) {
    const length = headerOf(responseText, "content-length");
    return length === undefined ? rest : rest.slice(0, Number(length));
  }
  let body = "";
  let at = 0;
  for (;;) {
    const lineEnd = rest.indexOf("\r\n", at);
    if (lineEnd === -1) return body;
    const size = parseInt(rest.slice(at, lineEnd), 16);
    if (!(size > 0)) return body;
    body += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}

/** A header of the first response in raw response text (lower-cased name), undefined when absent. */
export function headerOf(responseText: string, name: string): string | undefined {
  const head = responseText.slice(0, responseText.indexOf("\r\n\r\n"));
  for (const line of head.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (line.slice(0, colon).trim().toLowerCase() === name.toLowerCase()) return line.slice(colon + 1).trim();
  }
  return undefined;
}

export interface CapturedLog {
  readonly logger: Logger;
  /** Pass as startGateway's accessLog so access-log lines land in `lines` too. */
  readonly accessLog: { write(line: string): void };
  readonly lines: Record<string, unknown>[];
}

/** A pino logger at info level, and an access-log sink, whose JSON lines are parsed into `lines`. */
export function captureLogger(): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  const accessLog = {
    write: (chunk: string) => {
      for (const line of chunk.split("\n")) if (line !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  };
  return { logger: pino({ level: "info" }, stream), accessLog, lines };
}

/** Polls `check` every 10 ms until it returns a value other than undefined, or throws after `ms`. */
export async function waitFor<T>(check: () => T | undefined, ms = 2_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Polls the async `check` every `intervalMs` until it returns a value other than undefined, or throws after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 2_000, what = "condition", intervalMs = 10): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** GET http://127.0.0.1:adminPort/metrics as text. */
export function fetchMetrics(adminPort: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port: adminPort, path: "/metrics", agent: false }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve(text));
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

/** The value of one sample, e.g. metricValue(text, 'rampart_connections_rejected_total{reason="connection_limit"}'). */
export function metricValue(text: string, sample: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(sample + " ")) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

/** One sample of the Prometheus text whose labels are exactly `labels` (in any order); undefined when absent. */
export function metricSample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const end = line.lastIndexOf("}");
    const found = new Map<string, string>();
    for (const match of line.slice(name.length + 1, end).matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) found.set(match[1]!, match[2]!);
    const wanted = Object.entries(labels);
    if (found.size === wanted.length && wanted.every(([key, value]) => found.get(key) === value)) return Number(line.slice(end + 2));
  }
  return undefined;
}

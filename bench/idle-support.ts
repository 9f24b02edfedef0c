// Helpers of the idle scenario (bench/scenarios/idle.ts): the open-files check, the client process
// (bench/idle-clients.ts) driven over its stdin/stdout, server-side socket counts from `ss`, and nginx as
// an HTTP/1.1 proxy sized for many connections.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { LOAD_CPU, PROXY_CPU, pinned, pinning, sleep, stop, track, waitForHttp, which, type Managed } from "./processes.js";
import { launchNginx, nginxBinary, nginxPreamble, nginxVersion } from "./targets.js";

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench

/** RLIMIT_NOFILE of this process (children inherit it), from /proc/self/limits; undefined without /proc. */
export function openFilesLimit(): { readonly soft: number; readonly hard: number } | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((row) => row.startsWith("Max open files"));
    const [soft, hard] = (line ?? "").slice("Max open files".length).trim().split(/\s+/);
    const parse = (text: string | undefined) => (text === "unlimited" ? Number.POSITIVE_INFINITY : Number(text));
    const limit = { soft: parse(soft), hard: parse(hard) };
    return Number.isNaN(limit.soft) || Number.isNaN(limit.hard) ? undefined : limit;
  } catch {
    return undefined;
  }
}

export interface Opened {
  readonly ok: number;
  readonly failed: number;
  /** Connections the client holds open after this batch (every batch so far). */
  readonly open: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly errors: Readonly<Record<string, number>>;
  readonly seconds: number;
}

export interface ClientStatus {
  readonly open: number;
  /** Connections that ended while idle, closed by the server. */
  readonly closedByServer: number;
  /** Bytes received on idle connections (there should be none). */
  readonly unexpectedBytes: number;
}

/** bench/idle-clients.ts on the load CPU, one command at a time; stopped by PID like every child. */
export class IdleClients {
  readonly #managed: Managed;
  readonly #stderrFile: string;
  readonly #waiting: { resolve: (message: Record<string, unknown>) => void; reject: (error: Error) => void }[] = [];

  private constructor(managed: Managed, stderrFile: string) {
    this.#managed = managed;
    this.#stderrFile = stderrFile;
    const child = managed.child;
    if (child.stdout === null) throw new Error(`${managed.name}: no stdout pipe`);
    // A write after the client died fails the command (below), not the benchmark.
    child.stdin?.on("error", () => undefined);
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const waiter = this.#waiting.shift();
      if (waiter === undefined) return;
      try {
        const message = JSON.parse(line) as Record<string, unknown>;
        if (message.event === "error") waiter.reject(new Error(`${managed.name}: ${String(message.message)}`));
        else waiter.resolve(message);
      } catch {
        waiter.reject(new Error(`${managed.name}: unreadable answer ${JSON.stringify(line)}`));
      }
    });
    void managed.exit.then(() => {
      for (const waiter of this.#waiting.splice(0)) waiter.reject(new Error(`${managed.name} exited${this.#stderrTail()}`));
    });
  }

  /** `total`: the most connections it will hold at once, which sets how many source addresses it spreads them over. */
  static async start(dir: string, name: string, port: number, total: number, perAddress: number, concurrency: number): Promise<IdleClients> {
    const stderrFile = path.join(dir, `${name}.err`);
    const [command, args] = pinned(LOAD_CPU, process.execPath, [path.join(here, "idle-clients.js"), String(port), String(total), String(perAddress), String(concurrency)]);
    const stderr = openSync(stderrFile, "a");
    try {
      const child = spawn(command, args, { stdio: ["pipe", "pipe", stderr] });
      return new IdleClients(await track(name, child, [stderrFile], pinning ? LOAD_CPU : undefined), stderrFile);
    } finally {
      closeSync(stderr);
    }
  }

  #stderrTail(): string {
    try {
      const text = readFileSync(this.#stderrFile, "utf8").trim();
      return text === "" ? "" : `: ${text.split("\n").slice(-10).join("\n")}`;
    } catch {
      return "";
    }
  }

  #command(line: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const stdin = this.#managed.child.stdin;
    if (this.#managed.exited || stdin === null) return Promise.reject(new Error(`${this.#managed.name} is not running${this.#stderrTail()}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.#managed.name}: no answer to "${line}" within ${timeoutMs / 1_000} s`)), timeoutMs);
      this.#waiting.push({
        resolve: (message) => {
          clearTimeout(timer);
          resolve(message);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      stdin.write(`${line}\n`);
    });
  }

  /** Opens `count` more connections, one GET each; resolves once every one answered or failed. */
  async open(count: number, timeoutMs = 120_000): Promise<Opened> {
    return (await this.#command(`open ${count}`, timeoutMs)) as unknown as Opened;
  }

  async status(): Promise<ClientStatus> {
    return (await this.#command("status", 10_000)) as unknown as ClientStatus;
  }

  /** Closes every connection it holds; resolves how many. */
  async close(): Promise<number> {
    return Number((await this.#command("close", 30_000)).closed);
  }

  /** Ends stdin (the client closes everything and exits); SIGTERM, then SIGKILL, if it does not. */
  async end(): Promise<void> {
    this.#managed.child.stdin?.end();
    const exited = await Promise.race([this.#managed.exit.then(() => true), sleep(5_000).then(() => false)]);
    if (!exited) await stop(this.#managed);
  }
}

const ss = which("ss");
export const ssAvailable = ss !== undefined;

/**
 * TCP sockets whose local address is 127.0.0.1:`port` (the server's side of its accepted connections, never
 * the listening socket; a client socket bound to 127.0.0.2 may well have the same port): `established`, or `connected` (every state but listening, closed and time-wait, so a
 * connection the peer closed and the server did not yet close still counts). Undefined without `ss`.
 */
export function serverSockets(port: number, state: "established" | "connected"): number | undefined {
  if (ss === undefined) return undefined;
  // A connection the server closed first (the readiness probe's) lingers in TIME-WAIT with no process.
  const states = state === "connected" ? ["state", "connected", "exclude", "time-wait"] : ["state", state];
  const output = execFileSync(ss, ["-Htn", ...states, `( src 127.0.0.1:${port} )`], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  return output.split("\n").filter((line) => line.trim() !== "").length;
}

export interface NginxIdleProxy {
  readonly url: string;
  readonly version: string;
  readonly configFile: string;
  readonly workerConnections: number;
  readonly process: Managed;
}

/**
 * nginx as a plain HTTP/1.1 reverse proxy to `backendUrl` (upstream keep-alive, like Rampart's pool),
 * pinned to the proxy CPU: one worker with `workerConnections`, keepalive_timeout 120 s, no access log.
 * Undefined when nginx is not installed.
 */
export async function startNginxIdleProxy(dir: string, name: string, port: number, backendUrl: string, workerConnections: number): Promise<NginxIdleProxy | undefined> {
  const nginx = nginxBinary();
  if (nginx === undefined) return undefined;
  const version = nginxVersion(nginx);
  const root = path.join(dir, name);
  mkdirSync(root, { recursive: true });
  const configFile = path.join(root, "nginx.conf");
  const backend = new URL(backendUrl);
  writeFileSync(
    configFile,
    `${nginxPreamble(root, workerConnections)}  keepalive_requests 1000000;
  upstream backend {
    server ${backend.host};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port} backlog=1024;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`,
  );
  const managed = await launchNginx(nginx, name, root, configFile, PROXY_CPU);
  const url = `http://127.0.0.1:${port}/`;
  await waitForHttp(url, managed, 10_000);
  return { url, version, configFile, workerConnections, process: managed };
}

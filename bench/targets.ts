// Starts the processes under test: backends (nginx when installed, else bench/backend.ts), bare
// http-proxy-3 (bench/bare-proxy.ts), Rampart (`node dist/src/cli.js start -c <config>`) and nginx as an
// HTTP/2 TLS proxy (the h2 scenario's reference) or as a TLS server answering by itself (the resumption
// scenario's).
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BODY } from "./body.js";
import { waitForUnary } from "./grpc.js";
import { LOAD_CPU, PROXY_CPU, freePort, launch, stop, waitForHttp, which, type Managed } from "./processes.js";
import { rampartConfig, type RampartOptions, type RampartPorts } from "./rampart-config.js";

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
export const repoRoot = path.resolve(here, "../..");
let rampartCli = path.join(repoRoot, "dist/src/cli.js");

/**
 * Runs every Rampart of this benchmark from a copy of dist/src taken now (removed at exit), so a rebuild
 * during the run (a shared checkout) can neither change nor break the Ramparts started later. The copy
 * sits under dist/ so that node_modules still resolves.
 */
/** The CLI Rampart processes run: the snapshot once snapshotRampart() took it. */
export function rampartCliPath(): string {
  return rampartCli;
}

export function snapshotRampart(): void {
  const copy = path.join(repoRoot, "dist", `.bench-${process.pid}`);
  cpSync(path.join(repoRoot, "dist/src"), path.join(copy, "src"), { recursive: true });
  process.on("exit", () => rmSync(copy, { recursive: true, force: true }));
  rampartCli = path.join(copy, "src/cli.js");
}

export interface Backends {
  readonly kind: "nginx" | "node";
  /** One URL per port. */
  readonly urls: readonly string[];
  /** nginx: one process listening on every port; node: one process per port. */
  readonly processes: readonly Managed[];
}

/**
 * nginx if /usr/sbin/nginx (or nginx on PATH) starts, else node backends; pinned with the load generator.
 * `node: true` forces separate node processes (one per port), e.g. to kill one of them.
 */
export async function startBackends(dir: string, ports: readonly number[], options: { readonly node?: boolean } = {}): Promise<Backends> {
  const nginx = process.env.BENCH_BACKEND === "node" || options.node === true ? undefined : nginxBinary();
  const urls = ports.map((port) => `http://127.0.0.1:${port}/`);
  if (nginx !== undefined) {
    const managed = await startNginx(nginx, dir, ports);
    try {
      for (const url of urls) await waitForHttp(url, managed, 10_000);
      return { kind: "nginx", urls, processes: [managed] };
    } catch (error) {
      console.error(`nginx did not start, using node backends: ${error instanceof Error ? error.message : String(error)}`);
      await stop(managed);
    }
  }
  const processes: Managed[] = [];
  for (const [index, port] of ports.entries()) {
    const managed = await launch({
      name: ports.length > 1 ? `node backend ${index + 1}` : "node backend",
      command: process.execPath,
      args: [path.join(here, "backend.js"), String(port)],
      cpu: LOAD_CPU,
      stderrFile: path.join(dir, `backend-${port}.err`),
    });
    await waitForHttp(urls[index]!, managed);
    processes.push(managed);
  }
  return { kind: "node", urls, processes };
}

async function startNginx(nginx: string, dir: string, ports: readonly number[]): Promise<Managed> {
  const root = path.join(dir, "nginx");
  mkdirSync(root, { recursive: true });
  const conf = path.join(root, "nginx.conf");
  writeFileSync(
    conf,
    `${nginxPreamble(root)}  keepalive_requests 1000000;
  server {
${ports.map((port) => `    listen 127.0.0.1:${port};`).join("\n")}
    default_type text/plain;
    location / { return 200 "${BODY}"; }
  }
}
`,
  );
  return launchNginx(nginx, "nginx", root, conf, LOAD_CPU);
}

/** nginx in the foreground with its files under `root`, pinned to `cpu`; `process` is the master, the worker its child. */
export function launchNginx(nginx: string, name: string, root: string, configFile: string, cpu: number): Promise<Managed> {
  return launch({
    name,
    command: nginx,
    args: ["-p", `${root}/`, "-c", configFile, "-e", `${root}/error.log`],
    cpu,
    stderrFile: path.join(root, "stderr.log"),
  });
}

/** The nginx binary the benchmark uses (/usr/sbin/nginx or nginx on PATH), if any. */
export function nginxBinary(): string | undefined {
  return which("/usr/sbin/nginx") ?? which("nginx");
}

/**
 * Requests one HTTP/2 connection may carry before the proxy sends GOAWAY, for Rampart and nginx in the h2
 * scenario: h2load does not reconnect after a GOAWAY, so the default (1,000 for both) would end its
 * connections one by one within a run.
 */
export const H2_MAX_REQUESTS_PER_CONNECTION = 100_000_000;

export interface NginxProxy {
  readonly url: string;
  readonly version: string;
  readonly configFile: string;
  readonly process: Managed;
}

/**
 * nginx terminating TLS with HTTP/2 (ALPN h2, HTTP/1.1 for clients without it) in front of `backendUrl`
 * over HTTP/1.1 keep-alive, pinned to the proxy CPU: one worker, no access log, the given certificate.
 * Undefined when nginx is not installed.
 */
export async function startNginxH2Proxy(
  dir: string,
  port: number,
  backendUrl: string,
  certificate: { readonly certFile: string; readonly keyFile: string },
): Promise<NginxProxy | undefined> {
  const nginx = nginxBinary();
  if (nginx === undefined) return undefined;
  // `nginx -V` prints to stderr: "nginx version: nginx/1.22.1".
  const version = nginxVersion(nginx);
  const root = path.join(dir, "nginx-h2");
  mkdirSync(root, { recursive: true });
  const conf = path.join(root, "nginx.conf");
  const backend = new URL(backendUrl);
  // `listen … ssl http2` is the syntax up to nginx 1.25.0, which moved it to `http2 on;` (and still
  // accepts the old one, with a warning). keepalive_requests bounds HTTP/2 connections too (since
  // 1.19.7): raised like Rampart's http2.maxRequestsPerConnection in the h2 scenario.
  const http2Directive = versionAtLeast(version, [1, 25, 1]) ? `    listen 127.0.0.1:${port} ssl;\n    http2 on;` : `    listen 127.0.0.1:${port} ssl http2;`;
  writeFileSync(
    conf,
    `${nginxPreamble(root)}  keepalive_requests ${H2_MAX_REQUESTS_PER_CONNECTION};
  upstream backend {
    server ${backend.host};
    keepalive 64;
  }
  server {
${http2Directive}
    ssl_certificate ${certificate.certFile};
    ssl_certificate_key ${certificate.keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    http2_max_concurrent_streams 100;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`,
  );
  const managed = await launchNginx(nginx, "nginx-h2", root, conf, PROXY_CPU);
  const url = `https://127.0.0.1:${port}/`;
  await waitForHttp(url, managed, 10_000);
  return { url, version, configFile: conf, process: managed };
}

/**
 * nginx terminating TLS (HTTP/1.1 by ALPN) and answering every request itself with 200 and the bench's
 * body, pinned to the proxy CPU: one worker, no access log, the given certificate, TLS 1.2 and 1.3, session
 * tickets on (nginx's default, written out; ticket keys random per start, no shared session cache). For
 * handshake figures (the resumption scenario). `process` is the master, the worker its child: cpuSeconds
 * charges both. Undefined when nginx is not installed.
 */
export async function startNginxTlsServer(
  dir: string,
  port: number,
  certificate: { readonly certFile: string; readonly keyFile: string },
  name = "nginx-tls",
): Promise<NginxProxy | undefined> {
  const nginx = nginxBinary();
  if (nginx === undefined) return undefined;
  const version = nginxVersion(nginx);
  const root = path.join(dir, name);
  mkdirSync(root, { recursive: true });
  const conf = path.join(root, "nginx.conf");
  writeFileSync(
    conf,
    `${nginxPreamble(root)}  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${certificate.certFile};
    ssl_certificate_key ${certificate.keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
    default_type text/plain;
    location / { return 200 "${BODY}"; }
  }
}
`,
  );
  const managed = await launchNginx(nginx, name, root, conf, PROXY_CPU);
  const url = `https://127.0.0.1:${port}/`;
  await waitForHttp(url, managed, 10_000);
  return { url, version, configFile: conf, process: managed };
}

function versionAtLeast(version: string, wanted: readonly number[]): boolean {
  const parts = (/[\d.]+$/.exec(version)?.[0] ?? "0").split(".").map(Number);
  for (const [index, want] of wanted.entries()) {
    const have = parts[index] ?? 0;
    if (have !== want) return have > want;
  }
  return true;
}

export interface AppBackend {
  readonly url: string;
  readonly port: number;
  /** GET: `{"open":…,"busy":…,"requests":…}`, on a port of its own so that asking does not count. */
  readonly statsUrl: string;
  readonly statsPort: number;
  readonly process: Managed;
}

/**
 * bench/app-backend.ts (GET /bytes/N, POST bodies, /health, open-socket counts), pinned with the load
 * generator. Given ports restart a killed backend on the same address.
 */
export async function startAppBackend(dir: string, name: string, ports?: { readonly port: number; readonly statsPort: number }): Promise<AppBackend> {
  const port = ports?.port ?? (await freePort());
  const statsPort = ports?.statsPort ?? (await freePort());
  const managed = await launch({
    name,
    command: process.execPath,
    args: [path.join(here, "app-backend.js"), String(port), String(statsPort)],
    cpu: LOAD_CPU,
    stderrFile: path.join(dir, `${name.replace(/[^A-Za-z0-9-]/g, "-")}.err`),
  });
  const url = `http://127.0.0.1:${port}/`;
  const statsUrl = `http://127.0.0.1:${statsPort}/`;
  await waitForHttp(`${url}health`, managed);
  await waitForHttp(statsUrl, managed);
  return { url, port, statsUrl, statsPort, process: managed };
}

export interface GrpcBackend {
  /** http://127.0.0.1:PORT, a target URL for an h2c service. */
  readonly url: string;
  /** 127.0.0.1:PORT, what a grpc-js client takes. */
  readonly address: string;
  readonly process: Managed;
}

/** bench/grpc-backend.ts (@grpc/grpc-js, h2c), pinned with the load generator; ready once a unary call answers the 100 bytes. */
export async function startGrpcBackend(dir: string, port: number): Promise<GrpcBackend> {
  const managed = await launch({
    name: "grpc backend",
    command: process.execPath,
    args: [path.join(here, "grpc-backend.js"), String(port)],
    cpu: LOAD_CPU,
    stderrFile: path.join(dir, "grpc-backend.err"),
  });
  const address = `127.0.0.1:${port}`;
  await waitForUnary(address, Buffer.from(BODY), Buffer.from(BODY), managed);
  return { url: `http://${address}`, address, process: managed };
}

/**
 * Bare http-proxy-3; with `mode: "node"` Node's own http.request and pipe (behind HTTPS with
 * `mode: "node-https"` and `certificate`); with `mode: "answer"` a Node server answering 429 by itself;
 * with `mode: "refuse"` one closing 127.0.0.2 at accept (bench/bare-proxy.ts).
 */
export async function startBareProxy(
  dir: string,
  port: number,
  backendUrl: string,
  mode?: "node" | "answer" | "refuse" | "node-https",
  certificate?: { readonly certFile: string; readonly keyFile: string },
): Promise<{ url: string; process: Managed }> {
  const url = `${mode === "node-https" ? "https" : "http"}://127.0.0.1:${port}/`;
  const managed = await launch({
    name: mode === undefined ? "http-proxy-3" : mode === "node" ? "node:http" : `node:${mode}`,
    command: process.execPath,
    args: [
      path.join(here, "bare-proxy.js"),
      String(port),
      backendUrl.replace(/\/$/, ""),
      ...(mode === undefined ? [] : [mode]),
      ...(certificate === undefined ? [] : [certificate.certFile, certificate.keyFile]),
    ],
    cpu: PROXY_CPU,
    stderrFile: path.join(dir, `bare-proxy${mode === undefined ? "" : `-${mode}`}.err`),
  });
  // The answering server says 429 to everything but /ready.
  await waitForHttp(mode === "answer" ? `${url}ready` : url, managed);
  return { url, process: managed };
}

/**
 * Caddy (Debian's package) as a reverse proxy to the same backend, the issue's stretch peer; undefined
 * when `caddy` is not installed. No admin endpoint, no access log, upstream keep-alive as Caddy does by
 * default; GOMAXPROCS=1 on the one proxy core, like every other proxy here.
 */
export async function startCaddy(dir: string, port: number, backendUrl: string): Promise<{ url: string; process: Managed } | undefined> {
  const caddy = which("caddy");
  if (caddy === undefined) return undefined;
  const config = path.join(dir, "Caddyfile");
  writeFileSync(config, `{\n\tadmin off\n\tauto_https off\n}\nhttp://127.0.0.1:${port} {\n\treverse_proxy ${backendUrl.replace(/^http:\/\//, "").replace(/\/$/, "")}\n}\n`);
  const url = `http://127.0.0.1:${port}/`;
  const managed = await launch({
    name: "caddy",
    command: caddy,
    args: ["run", "--config", config, "--adapter", "caddyfile"],
    cpu: PROXY_CPU,
    env: { ...process.env, GOMAXPROCS: "1", HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
    stderrFile: path.join(dir, "caddy.err"),
  });
  await waitForHttp(url, managed);
  return { url, process: managed };
}

export interface Rampart {
  readonly httpUrl: string;
  readonly httpsUrl: string;
  readonly adminUrl: string;
  readonly accessLog: string;
  readonly configFile: string;
  readonly process: Managed;
}

/** Rampart as the CLI starts it; its stdout (the JSON log, access lines included) goes to `accessLog` (default a file in `dir`). */
export async function startRampart(dir: string, options: RampartOptions, accessLog = path.join(dir, `${options.name}-access.log`)): Promise<Rampart> {
  const configFile = path.join(dir, `${options.name}.yaml`);
  writeFileSync(configFile, rampartConfig(dir, options));
  const managed = await launch({
    name: options.name,
    command: process.execPath,
    args: [...(options.nodeArgs ?? []), rampartCli, "start", "-c", configFile],
    cpu: PROXY_CPU,
    cwd: repoRoot,
    stdoutFile: accessLog,
    stderrFile: path.join(dir, `${options.name}.err`),
  });
  const httpUrl = `http://127.0.0.1:${options.ports.http}/`;
  const httpsUrl = `https://127.0.0.1:${options.ports.https}/`;
  const ready = (options.readyPath ?? "/").replace(/^\//, "");
  await waitForHttp(httpUrl + ready, managed, 30_000);
  await waitForHttp(httpsUrl + ready, managed, 10_000);
  return { httpUrl, httpsUrl, adminUrl: `http://127.0.0.1:${options.ports.admin}`, accessLog, configFile, process: managed };
}

/** Free ports for one Rampart's three listeners. */
export async function rampartPorts(): Promise<RampartPorts> {
  const [http, https, admin] = await Promise.all([freePort(), freePort(), freePort()]);
  return { http: http!, https: https!, admin: admin! };
}

/** "nginx/1.22.1" (`nginx -v` prints it to stderr). */
export function nginxVersion(nginx: string): string {
  return /nginx\/[\d.]+/.exec(spawnSync(nginx, ["-v"], { encoding: "utf8" }).stderr ?? "")?.[0] ?? "nginx";
}

/** The start of every nginx.conf the bench writes: one worker, files under `root`, no access log. */
export function nginxPreamble(root: string, workerConnections = 1_024): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${root}/nginx.pid;
error_log ${root}/error.log warn;
events { worker_connections ${workerConnections}; }
http {
  access_log off;
  client_body_temp_path ${root}/client_body;
  proxy_temp_path ${root}/proxy;
  fastcgi_temp_path ${root}/fastcgi;
  uwsgi_temp_path ${root}/uwsgi;
  scgi_temp_path ${root}/scgi;
  keepalive_timeout 120s;
`;
}

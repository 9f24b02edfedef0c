// Starts the three processes under test: the backend (nginx when installed, else bench/backend.ts),
// bare http-proxy-3 (bench/bare-proxy.ts) and Rampart (`node dist/src/cli.js start -c <config>`).
import { writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BODY } from "./body.js";
import { LOAD_CPU, PROXY_CPU, launch, stop, waitForHttp, which, type Managed } from "./processes.js";

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
export const repoRoot = path.resolve(here, "../..");
const rampartCli = path.join(repoRoot, "dist/src/cli.js");

export interface Backend {
  readonly kind: "nginx" | "node";
  readonly url: string;
  readonly process: Managed;
}

/** nginx if /usr/sbin/nginx (or nginx on PATH) starts, else the node backend; pinned with the load generator. */
export async function startBackend(dir: string, port: number): Promise<Backend> {
  const nginx = process.env.BENCH_BACKEND === "node" ? undefined : which("/usr/sbin/nginx") ?? which("nginx");
  const url = `http://127.0.0.1:${port}/`;
  if (nginx !== undefined) {
    const managed = await startNginx(nginx, dir, port);
    try {
      await waitForHttp(url, managed, 10_000);
      return { kind: "nginx", url, process: managed };
    } catch (error) {
      console.error(`nginx did not start, using the node backend: ${error instanceof Error ? error.message : String(error)}`);
      await stop(managed);
    }
  }
  const managed = await launch({
    name: "node backend",
    command: process.execPath,
    args: [path.join(here, "backend.js"), String(port)],
    cpu: LOAD_CPU,
    stderrFile: path.join(dir, "backend.err"),
  });
  await waitForHttp(url, managed);
  return { kind: "node", url, process: managed };
}

async function startNginx(nginx: string, dir: string, port: number): Promise<Managed> {
  const root = path.join(dir, "nginx");
  mkdirSync(root, { recursive: true });
  const conf = path.join(root, "nginx.conf");
  writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes 1;
pid ${root}/nginx.pid;
error_log ${root}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${root}/client_body;
  proxy_temp_path ${root}/proxy;
  fastcgi_temp_path ${root}/fastcgi;
  uwsgi_temp_path ${root}/uwsgi;
  scgi_temp_path ${root}/scgi;
  keepalive_timeout 120s;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    default_type text/plain;
    location / { return 200 "${BODY}"; }
  }
}
`,
  );
  return launch({
    name: "nginx",
    command: nginx,
    args: ["-p", `${root}/`, "-c", conf, "-e", `${root}/error.log`],
    cpu: LOAD_CPU,
    stderrFile: path.join(root, "stderr.log"),
  });
}

export async function startBareProxy(dir: string, port: number, backendUrl: string): Promise<{ url: string; process: Managed }> {
  const url = `http://127.0.0.1:${port}/`;
  const managed = await launch({
    name: "http-proxy-3",
    command: process.execPath,
    args: [path.join(here, "bare-proxy.js"), String(port), backendUrl.replace(/\/$/, "")],
    cpu: PROXY_CPU,
    stderrFile: path.join(dir, "bare-proxy.err"),
  });
  await waitForHttp(url, managed);
  return { url, process: managed };
}

export interface RampartPorts {
  readonly http: number;
  readonly https: number;
  readonly admin: number;
}

export interface Rampart {
  readonly httpUrl: string;
  readonly httpsUrl: string;
  readonly accessLog: string;
  readonly configFile: string;
  readonly process: Managed;
}

/**
 * Every guard of the core on, none able to fire under this load: a denylist entry, a rate limit far above
 * any reachable rate, a jail on 401/403, a circuit breaker, retries and active health checks; metrics and
 * the access log are always on. BENCH_GUARDS=off leaves only routing, forwarding, metrics and the access log.
 */
export function rampartConfig(dir: string, ports: RampartPorts, backendUrl: string, guards: boolean): string {
  const q = JSON.stringify;
  const serviceExtras = guards
    ? `
    healthCheck: { path: /, interval: 5s, timeout: 2s }
    circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 20, window: 10s, resetTimeout: 30s }
    retry: { attempts: 2 }`
    : "";
  const guardBlocks = guards
    ? `denylist: [203.0.113.0/24]
rateLimits:
  bench: { limit: 1000000000, window: 1s, key: ip }
jails:
  bench: { when: { status: [401, 403] }, maxRetry: 1000000, findTime: 10m, banTime: 1m }
`
    : "";
  const routeExtras = guards
    ? `
    rateLimit: bench
    jails: [bench]`
    : "";
  return `# Written by bench/run.ts for one benchmark run.
workers: 1
shutdownGrace: 1s
listen:
  http: 127.0.0.1:${ports.http}
  https: 127.0.0.1:${ports.https}
  admin: 127.0.0.1:${ports.admin}
log: { level: info, access: true }
store: { kind: memory, dir: ${q(path.join(dir, "state"))} }
tls:
  redirectHttp: false
  selfSigned: true
  certDir: ${q(path.join(dir, "certs"))}
${guardBlocks}services:
  backend:
    targets:
      - url: ${q(backendUrl.replace(/\/$/, ""))}${serviceExtras}
routes:
  - name: all
    match: { pathPrefix: / }
    service: backend${routeExtras}
`;
}

/** Rampart as the CLI starts it; its stdout (the JSON log, access lines included) goes to `accessLog`. */
export async function startRampart(dir: string, ports: RampartPorts, backendUrl: string, guards: boolean, accessLog: string): Promise<Rampart> {
  const configFile = path.join(dir, "rampart.yaml");
  writeFileSync(configFile, rampartConfig(dir, ports, backendUrl, guards));
  const managed = await launch({
    name: "rampart",
    command: process.execPath,
    args: [rampartCli, "start", "-c", configFile],
    cpu: PROXY_CPU,
    cwd: repoRoot,
    stdoutFile: accessLog,
    stderrFile: path.join(dir, "rampart.err"),
  });
  const httpUrl = `http://127.0.0.1:${ports.http}/`;
  const httpsUrl = `https://127.0.0.1:${ports.https}/`;
  await waitForHttp(httpUrl, managed, 30_000);
  await waitForHttp(httpsUrl, managed, 10_000);
  return { httpUrl, httpsUrl, accessLog, configFile, process: managed };
}

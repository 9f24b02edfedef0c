// A real three-node Redis Cluster for integration tests: three `redis-server --cluster-enabled yes` on
// free loopback ports (each port + 10000, the cluster bus, free too), joined by `redis-cli --cluster
// create ... --cluster-replicas 0`, ready once every node says cluster_state:ok. No persistence; the
// node files live in a temp directory. Every server is killed by its PID at close, and when the test
// process exits, whatever happened.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./backend.js";
import { eventually } from "./proxy-tools.js";
import { ping } from "./redis.js";

export interface TestRedisCluster {
  readonly ports: readonly number[];
  /** redis://127.0.0.1:PORT for each node: store.redis.cluster. */
  readonly urls: readonly string[];
  /** Runs `redis-cli -c -p <first node> ...args` (follows MOVED redirections) and returns its output. */
  cli(...args: string[]): Promise<string>;
  close(): Promise<void>;
}

const REDIS_SERVER = process.env.REDIS_SERVER ?? "redis-server";
const REDIS_CLI = process.env.REDIS_CLI ?? "redis-cli";

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
});

function run(command: string, args: readonly string[], timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** A free port whose cluster bus port (+10000) is free too. */
async function clusterPort(taken: ReadonlySet<number>): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 > 65_535 || taken.has(port) || taken.has(port + 10_000)) continue;
    if (await portFree(port + 10_000)) return port;
  }
}

async function portFree(port: number): Promise<boolean> {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  process.kill(child.pid, "SIGTERM");
  const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, "SIGKILL"), 2_000);
  await exited(child);
  clearTimeout(timer);
}

export async function startRedisCluster(nodes = 3): Promise<TestRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), "rampart-redis-cluster-"));
  const children: ChildProcess[] = [];
  const close = async () => {
    await Promise.all(children.map((child) => kill(child)));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const taken = new Set<number>();
    const ports: number[] = [];
    for (let i = 0; i < nodes; i++) {
      const port = await clusterPort(taken);
      taken.add(port).add(port + 10_000);
      ports.push(port);
    }
    for (const port of ports) {
      const child = spawn(
        REDIS_SERVER,
        ["--port", String(port), "--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`), "--save", "", "--appendonly", "no",
          "--bind", "127.0.0.1", "--dir", dir, "--daemonize", "no", "--loglevel", "warning"],
        { stdio: "ignore" },
      );
      children.push(child);
      running.add(child);
      child.once("exit", () => running.delete(child));
      child.once("error", () => {});
    }
    for (const port of ports) await eventually(async () => ((await ping(port)) ? true : undefined), 5_000, `redis-server on ${port} answering PING`, 20);
    await run(REDIS_CLI, ["--cluster", "create", ...ports.map((port) => `127.0.0.1:${port}`), "--cluster-replicas", "0", "--cluster-yes"]);
    for (const port of ports) {
      await eventually(
        async () => ((await run(REDIS_CLI, ["-p", String(port), "cluster", "info"])).includes("cluster_state:ok") ? true : undefined),
        10_000,
        `cluster_state:ok on ${port}`,
        100,
      );
    }
    return {
      ports,
      urls: ports.map((port) => `redis://127.0.0.1:${port}`),
      cli: (...args) => run(REDIS_CLI, ["-c", "-p", String(ports[0]), ...args]),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

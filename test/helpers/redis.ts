// A real, throw-away redis-server for integration tests: a free loopback port, no persistence
// (`--save "" --appendonly no`), no config file, in the foreground. stop() and restart() let a test
// take Redis away under a running gateway and bring it back on the same address (empty: nothing was
// persisted). Every server this module started is killed when the test process exits, whatever happened.
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { freePort } from "./backend.js";

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGTERM, SIGKILL after 2 s; or SIGKILL at once) and waits for it to exit. */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Starts the server again on the same port (stopping it first if it still runs); its data is gone. */
  restart(): Promise<void>;
}

const REDIS_SERVER = process.env.REDIS_SERVER ?? "redis-server";
const READY_TIMEOUT_MS = 5_000;
const KILL_AFTER_MS = 2_000;

// Last line of defence: no redis-server outlives the test process, even when an after hook never ran.
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** Sends one raw PING; true when the answer is +PONG. */
export function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (text.includes("\r\n")) done(text.startsWith("+PONG"));
    });
    socket.on("error", () => done(false));
    socket.on("close", () => done(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function spawnRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    REDIS_SERVER,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  running.add(child);
  let output = "";
  const collect = (chunk: Buffer) => {
    if (output.length < 8_000) output += chunk.toString("utf8");
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  child.once("exit", () => running.delete(child));
  const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}) before answering PING:\n${output}`);
    }
    const failure = await Promise.race([spawnError, new Promise<undefined>((resolve) => setImmediate(resolve, undefined))]);
    if (failure !== undefined) throw new Error(`could not start ${REDIS_SERVER}: ${failure.message}`);
    if (await ping(port)) return child;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await exited(child);
      throw new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function kill(child: ChildProcess, signal: "SIGTERM" | "SIGKILL"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), KILL_AFTER_MS);
  await exited(child);
  clearTimeout(timer);
}

/** Starts a redis-server on a free loopback port and resolves once it answers PING. */
export async function startRedis(): Promise<TestRedis> {
  let child: ChildProcess | undefined;
  let port = 0;
  // The free port may be taken between probing and binding: try a few.
  for (let attempt = 1; child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await spawnRedis(port);
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
  const stop = async (signal: "SIGTERM" | "SIGKILL" = "SIGTERM") => {
    if (child !== undefined) await kill(child, signal);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    restart: async () => {
      await stop();
      child = await spawnRedis(port);
    },
  };
}

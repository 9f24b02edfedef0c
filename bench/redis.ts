// A throwaway redis-server for the Redis-store target: loopback only, no persistence, pinned to the load
// CPU, killed by PID with the other children. Its CPU time is charged to the target that uses it.
import net from "node:net";
import path from "node:path";
import { LOAD_CPU, freePort, launch, sleep, which, type Managed } from "./processes.js";

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly process: Managed;
}

/** Sends inline commands, then QUIT, and resolves everything Redis answered. */
function redisSession(port: number, commands: readonly string[], timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = "";
    const socket = net.connect({ host: "127.0.0.1", port }, () => socket.write([...commands, "QUIT"].map((line) => `${line}\r\n`).join("")));
    socket.setEncoding("utf8");
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error("redis: timeout")));
    socket.on("data", (chunk: string) => (output += chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(output));
  });
}

/**
 * A counter of INFO stats: `total_commands_processed` (commands run inside a Lua script included), or
 * `total_reads_processed` (read events on client sockets: a pipeline of commands read at once is one,
 * so this counts round trips from Redis's side).
 */
export async function redisStat(port: number, name: "total_commands_processed" | "total_reads_processed"): Promise<number | null> {
  try {
    const match = new RegExp(`${name}:(\\d+)`).exec(await redisSession(port, ["INFO stats"]));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Undefined (with the reason printed by the caller) when redis-server is not installed. `port` restarts
 * a killed server on the same address (empty: nothing is persisted).
 */
export async function startRedis(dir: string, port?: number): Promise<RedisServer | undefined> {
  const server = which("redis-server");
  if (server === undefined) return undefined;
  port ??= await freePort();
  const managed = await launch({
    name: "redis",
    command: server,
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
    cpu: LOAD_CPU,
    stdoutFile: path.join(dir, "redis.log"),
    stderrFile: path.join(dir, "redis.log"),
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (managed.exited) throw new Error(`redis-server exited at start (see ${path.join(dir, "redis.log")})`);
    try {
      if ((await redisSession(port, ["PING"], 500)).startsWith("+PONG")) return { url: `redis://127.0.0.1:${port}`, port, process: managed };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error("redis-server did not answer PING within 10 s");
}

// Runs the built CLI (`node dist/src/cli.js ...`) as a child process, asynchronously: the gateway these
// tests talk to runs in the test process, so a synchronous spawn would block it from answering. The
// child's environment is the test's without RAMPART_* (so the runner's own settings cannot leak in),
// plus what the test passes. A run is killed by PID after `timeoutMs`; none outlives the test process.
import { spawn } from "node:child_process";

export const CLI = new URL("../../../src/cli.js", import.meta.url).pathname;

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const live = new Set<number>();
process.once("exit", () => {
  for (const pid of live) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("RAMPART_")) env[key] = value;
  return { ...env, ...extra };
}

export function runCli(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"], env: cleanEnv(env) });
    const pid = child.pid;
    if (pid === undefined) {
      child.once("error", reject);
      return;
    }
    live.add(pid);
    const timer = setTimeout(() => {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr!.on("data", (chunk: Buffer) => err.push(chunk));
    child.once("error", (error) => {
      clearTimeout(timer);
      live.delete(pid);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      live.delete(pid);
      resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
  });
}

/** For assertion messages. */
export function show(result: CliResult): string {
  return `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
}

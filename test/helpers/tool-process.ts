// Third-party command-line clients (curl, nghttp, h2load) run against the in-process gateway. They are
// spawned asynchronously (a synchronous spawn would block the event loop the gateway runs on), bounded
// by a timeout after which they are killed by PID, and never outlive the test process.
import { spawn } from "node:child_process";

export interface ToolResult {
  /** The exit code, null when the process was killed. */
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

const live = new Set<number>();

function killPid(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

// Last line of defence: nothing started here outlives the test process.
process.once("exit", () => {
  for (const pid of live) killPid(pid);
});

/** SIGKILL (by PID) to every tool started here that is still running; for after() hooks. */
export function killTools(): void {
  for (const pid of live) killPid(pid);
  live.clear();
}

/** Runs `file args...` with no stdin and collects its output; SIGKILLed after `timeoutMs`. */
export function runTool(file: string, args: readonly string[], timeoutMs = 30_000, env?: NodeJS.ProcessEnv): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], env });
    const pid = child.pid;
    if (pid === undefined) {
      child.once("error", reject);
      return;
    }
    live.add(pid);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killPid(pid);
    }, timeoutMs);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.once("error", (error) => {
      clearTimeout(timer);
      live.delete(pid);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      live.delete(pid);
      resolve({ exitCode: code, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8"), timedOut });
    });
  });
}

/** A one-line description of a run, for assertion messages. */
export function describeRun(name: string, result: ToolResult): string {
  const tail = (text: string) => (text.length > 2_000 ? "…" + text.slice(-2_000) : text);
  return `${name} exit ${result.exitCode}${result.timedOut ? " (timed out, killed)" : ""}\nstdout: ${tail(result.stdout)}\nstderr: ${tail(result.stderr)}`;
}

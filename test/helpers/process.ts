// `rampart start` as a real process tree for the cluster tests: spawns the CLI, parses its JSON log
// lines from stdout, finds the worker processes (`pgrep -P <primary>`, and the `pid` of their log
// lines), and always kills the whole tree by PID, even when a test failed half-way or the test
// process itself is about to exit.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const CLI = new URL("../../src/cli.js", import.meta.url).pathname;

export interface LogLine {
  readonly msg?: string;
  readonly pid?: number;
  readonly role?: string;
  readonly level?: number;
  readonly [key: string]: unknown;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RampartProcess {
  readonly child: ChildProcess;
  /** The process the CLI runs in: the primary with workers > 1, the gateway itself otherwise. */
  readonly pid: number;
  /** Every JSON line read from stdout so far (access-log lines included), oldest first. */
  readonly lines: readonly LogLine[];
  /** Everything written to stderr so far. */
  stderr(): string;
  readonly exited: Promise<Exit>;
  running(): boolean;
  /** Resolves with the first line (already read or still to come) that `match` accepts. */
  waitForLine(match: (line: LogLine) => boolean, ms?: number, what?: string): Promise<LogLine>;
  /** How many lines read so far `match` accepts. */
  count(match: (line: LogLine) => boolean): number;
  signal(signal: NodeJS.Signals): void;
  /** The live (not zombie) child processes of the primary, sorted. */
  workerPids(): number[];
  /** SIGTERM, then waits for the exit; kills the tree if it takes longer than `ms`. */
  stop(ms?: number): Promise<Exit>;
  /** SIGKILL to every process of the tree this helper has seen, and waits until they are gone. */
  killTree(): Promise<void>;
}

// Last line of defence: no process started here outlives the test process.
const everyPid = new Set<number>();
process.once("exit", () => {
  for (const pid of everyPid) if (isOurs(pid)) killQuietly(pid);
});

/** True while `pid` is a live (not zombie) process running the Rampart CLI. */
export function isOurs(pid: number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes(CLI) && alive(pid);
  } catch {
    return false;
  }
}

/** True while `pid` exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) S ...": the state follows the last ")".
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Live children of `pid` (pgrep -P), zombies left out. */
export function childPids(pid: number): number[] {
  let out = "";
  try {
    out = execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" });
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
  return out
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map(Number)
    .filter((child) => alive(child))
    .sort((a, b) => a - b);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts `node dist/src/cli.js start -c configFile` and resolves once `ready` accepts a log line
 * (default: "rampart primary running", the primary's line once every worker is serving). On a start
 * failure the tree is killed and the error carries the process's output.
 */
export async function startRampart(
  configFile: string,
  options: { ready?: (line: LogLine) => boolean; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RampartProcess> {
  const child = spawn(process.execPath, [CLI, "start", "-c", configFile], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
  });
  if (child.pid === undefined) throw new Error("could not spawn the rampart CLI");
  const pid = child.pid;
  everyPid.add(pid);
  const lines: LogLine[] = [];
  const waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    if (stderr.length < 64_000) stderr += chunk.toString("utf8");
  });
  createInterface({ input: child.stdout! }).on("line", (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text };
    }
    lines.push(line);
    // Workers log with their pid: remember every one, so killTree finds them even once orphaned.
    if (typeof line.pid === "number" && line.pid !== pid) everyPid.add(line.pid);
    for (const waiter of waiters) {
      if (waiter.match(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<Exit>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const seen = new Set<number>([pid]);

  const waitForLine = (match: (line: LogLine) => boolean, ms = 10_000, what = "a log line") => {
    const found = lines.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<LogLine>((resolve, reject) => {
      const waiter = {
        match,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; stderr:\n${stderr}\nlast lines:\n${lines.slice(-10).map((l) => JSON.stringify(l)).join("\n")}`));
      }, ms);
      waiters.add(waiter);
    });
  };

  const workerPids = () => {
    const pids = childPids(pid);
    for (const each of pids) {
      seen.add(each);
      everyPid.add(each);
    }
    return pids;
  };

  const killTree = async () => {
    // Workers first (the primary would restart them), then the primary; orphans by the pids seen.
    const tree = new Set<number>([...workerPids(), ...seen, ...lines.flatMap((line) => (typeof line.pid === "number" ? [line.pid] : []))]);
    tree.delete(pid);
    for (const each of tree) if (isOurs(each)) killQuietly(each);
    if (!hasExited) killQuietly(pid);
    await exited;
    const deadline = Date.now() + 5_000;
    while ([...tree].some((each) => isOurs(each)) && Date.now() < deadline) await sleep(20);
  };

  const process_: RampartProcess = {
    child,
    pid,
    lines,
    stderr: () => stderr,
    exited,
    running: () => !hasExited,
    waitForLine,
    count: (match) => lines.filter(match).length,
    signal: (signal) => {
      if (!hasExited) child.kill(signal);
    },
    workerPids,
    stop: async (ms = 15_000) => {
      if (hasExited) return exited;
      workerPids();
      child.kill("SIGTERM");
      const result = await within(exited, ms);
      if (result === undefined) {
        await killTree();
        return exited;
      }
      return result;
    },
    killTree,
  };

  const ready = options.ready ?? ((line: LogLine) => line.msg === "rampart primary running");
  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      waitForLine(ready, options.timeoutMs ?? 30_000, "rampart to start").then(
        () => {
          settled = true;
          resolve();
        },
        (error: unknown) => {
          settled = true;
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
      void exited.then((exit) => {
        if (!settled) reject(new Error(`rampart exited (${exit.code ?? exit.signal}) before it was ready; stderr:\n${stderr}`));
      });
    });
  } catch (error) {
    await killTree();
    throw error;
  }
  workerPids();
  return process_;
}

/** Matches a line by its `msg`, and by its role: the primary's lines carry role "primary". */
export function message(msg: string, role?: "primary" | "worker"): (line: LogLine) => boolean {
  return (line) => line.msg === msg && (role === undefined || (role === "primary") === (line.role === "primary"));
}

export { sleep };

/** `promise`'s value, or undefined when it takes longer than `ms` (the timer never holds the process open). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)))]);
  } finally {
    clearTimeout(timer);
  }
}

// Child processes for the benchmark: spawning (pinned to a CPU with taskset when there are two or more),
// readiness probes, CPU-time sampling from /proc, and cleanup. Every child is killed by its PID when the
// run ends, fails or is interrupted.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { accessSync, closeSync, constants, openSync, readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/** Proxies run on CPU 0; the load generator and the backend share CPU 1. */
export const PROXY_CPU = 0;
export const LOAD_CPU = 1;

/** The absolute path of an executable found on PATH (or given absolute), else undefined. */
export function which(name: string): string | undefined {
  const candidates = path.isAbsolute(name)
    ? [name]
    : [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/usr/bin", "/usr/local/bin"].map((dir) => path.join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const taskset = which("taskset");
/** Pinning needs taskset and at least two CPUs. */
export const pinning = taskset !== undefined && os.availableParallelism() >= 2;

/** The command line to run `command args` on one CPU (unchanged when pinning is unavailable). */
export function pinned(cpu: number, command: string, args: readonly string[]): [string, string[]] {
  return pinning && taskset !== undefined ? [taskset, ["-c", String(cpu), command, ...args]] : [command, [...args]];
}

/** Moves this process (the orchestrator, and autocannon when it runs in-process) onto the load CPU. */
export function pinSelf(cpu: number): void {
  if (!pinning || taskset === undefined) return;
  execFileSync(taskset, ["-p", "-c", String(cpu), String(process.pid)], { stdio: "ignore" });
}

export interface Managed {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Where the child's output goes, shown when it fails. */
  readonly logFiles: readonly string[];
  /** The CPU it is pinned to, if any. */
  readonly cpu: number | undefined;
  readonly exit: Promise<void>;
  exited: boolean;
}

const running = new Set<Managed>();

/** Tracks a spawned child so that cleanup kills it; resolves once it has a PID. */
export function track(name: string, child: ChildProcess, logFiles: readonly string[] = [], cpu?: number): Promise<Managed> {
  return new Promise((resolve, reject) => {
    let spawned = false;
    child.on("error", (error) => {
      if (spawned) console.error(`${name}: ${error.message}`);
      else reject(new Error(`${name}: ${error.message}`));
    });
    child.once("spawn", () => {
      spawned = true;
      const pid = child.pid;
      if (pid === undefined) {
        reject(new Error(`${name}: no pid`));
        return;
      }
      let done: () => void = () => undefined;
      const exit = new Promise<void>((settle) => (done = settle));
      const managed: Managed = { name, pid, child, logFiles, cpu, exit, exited: false };
      child.once("exit", () => {
        managed.exited = true;
        running.delete(managed);
        done();
      });
      running.add(managed);
      resolve(managed);
    });
  });
}

export interface LaunchOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** The CPU to pin to, when pinning is available. */
  readonly cpu: number;
  readonly cwd?: string;
  /** stdout goes to this file (the access log for Rampart), else to /dev/null. */
  readonly stdoutFile?: string;
  /** stderr goes to this file, else to /dev/null. */
  readonly stderrFile?: string;
  /** The child's environment (default this process's). */
  readonly env?: NodeJS.ProcessEnv;
}

export async function launch(options: LaunchOptions): Promise<Managed> {
  const [command, args] = pinned(options.cpu, options.command, options.args);
  const stdout = options.stdoutFile === undefined ? "ignore" : openSync(options.stdoutFile, "a");
  const stderr = options.stderrFile === undefined ? "ignore" : openSync(options.stderrFile, "a");
  try {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", stdout, stderr] });
    const logs = [options.stderrFile, options.stdoutFile].filter((file): file is string => file !== undefined);
    return await track(options.name, child, logs, pinning ? options.cpu : undefined);
  } finally {
    if (typeof stdout === "number") closeSync(stdout);
    if (typeof stderr === "number") closeSync(stderr);
  }
}

/** SIGTERM, then SIGKILL after a grace period. */
export async function stop(managed: Managed, graceMs = 3_000): Promise<void> {
  if (managed.exited) return;
  signal(managed.pid, "SIGTERM");
  const timedOut = await Promise.race([managed.exit.then(() => false), sleep(graceMs).then(() => true)]);
  if (timedOut && !managed.exited) {
    signal(managed.pid, "SIGKILL");
    await Promise.race([managed.exit, sleep(1_000)]);
  }
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((managed) => stop(managed)));
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

let handlersInstalled = false;
/** Set once SIGINT or SIGTERM arrived: the errors that follow are the interruption's, not findings. */
export let interrupted = false;

/** Kills every child on exit (synchronously, as a last resort) and on SIGINT/SIGTERM (gracefully). */
export function installCleanup(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", () => {
    for (const managed of running) if (!managed.exited) signal(managed.pid, "SIGKILL");
  });
  for (const name of ["SIGINT", "SIGTERM"] as const) {
    process.once(name, () => {
      interrupted = true;
      console.error(`\n${name}: stopping benchmark processes`);
      void stopAll().finally(() => process.exit(130));
    });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}

/** One GET with a fresh connection; resolves the status code. Certificates are not checked (self-signed). */
function probe(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onResponse = (res: http.IncomingMessage) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    };
    const req = url.startsWith("https:")
      ? https.get(url, { agent: false, timeout: 1_000, rejectUnauthorized: false }, onResponse)
      : http.get(url, { agent: false, timeout: 1_000 }, onResponse);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** Waits until `url` answers 200; fails early with the child's log when the child exits. */
export async function waitForHttp(url: string, managed: Managed, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (managed.exited) throw new Error(`${managed.name} exited before answering ${url}${logTail(managed)}`);
    try {
      const status = await probe(url);
      if (status === 200) return;
      last = `status ${status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(100);
  }
  throw new Error(`${managed.name} did not answer 200 at ${url} within ${timeoutMs} ms (${last})${logTail(managed)}`);
}

function logTail(managed: Managed): string {
  return managed.logFiles
    .map((file) => {
      try {
        const text = readFileSync(file, "utf8").trim();
        return text === "" ? "" : `\n--- ${file} (tail) ---\n${text.split("\n").slice(-20).join("\n")}`;
      } catch {
        return "";
      }
    })
    .join("");
}

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK`, usually 100. */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface ProcStat {
  readonly ppid: number;
  /** utime + stime, in clock ticks. */
  readonly ticks: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after "(comm)": state is field 3, so field N is at index N - 3 (ppid 4, utime 14, stime 15).
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** `pid` and its live descendants (nginx's worker, cluster workers), from /proc; empty without /proc. */
export function processTree(pid: number): number[] {
  if (readStat(pid) === undefined) return [];
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat === undefined) continue;
    const siblings = children.get(stat.ppid) ?? [];
    siblings.push(Number(entry));
    children.set(stat.ppid, siblings);
  }
  const tree: number[] = [];
  const queue = [pid];
  const seen = new Set<number>();
  while (queue.length > 0) {
    const current = queue.pop()!;
    if (seen.has(current)) continue;
    seen.add(current);
    tree.push(current);
    queue.push(...(children.get(current) ?? []));
  }
  return tree;
}

/**
 * CPU seconds (user + system) used so far by `pid` and its live descendants, or undefined without /proc.
 * Only differences between two samples are meaningful.
 */
export function cpuSeconds(pid: number): number | undefined {
  const tree = processTree(pid);
  if (tree.length === 0) return undefined;
  const ticks = tree.reduce((sum, current) => sum + (readStat(current)?.ticks ?? 0), 0);
  return ticks / clockTicks();
}

/** Resident memory (VmRSS, and its peak VmHWM) of `pid` and its descendants in MB, or undefined without /proc. */
export function residentMemory(pid: number): { readonly rssMb: number; readonly peakMb: number } | undefined {
  const tree = processTree(pid);
  if (tree.length === 0) return undefined;
  let rssKb = 0;
  let peakKb = 0;
  for (const current of tree) {
    try {
      const status = readFileSync(`/proc/${current}/status`, "utf8");
      rssKb += Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
      peakKb += Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
    } catch {
      // exited meanwhile
    }
  }
  return { rssMb: rssKb / 1024, peakMb: peakKb / 1024 };
}

/** Resident memory (VmRSS) of `pid` alone in MB, or undefined once it is gone (or without /proc). */
export function ownRssMb(pid: number): number | undefined {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** Seconds CPU `cpu` has spent busy (anything but idle and iowait) since boot, from /proc/stat; undefined without it. */
export function cpuBusySeconds(cpu: number): number | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8")
      .split("\n")
      .find((row) => row.startsWith(`cpu${cpu} `));
    if (line === undefined) return undefined;
    // user nice system idle iowait irq softirq steal (guest time is already counted in user).
    const [user, nice, system, , , irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / clockTicks();
  } catch {
    return undefined;
  }
}

/** Runs a bench's main(): exits with its code, or prints the error, stops every process and exits 1. */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      // Ctrl-C already said why it stopped.
      if (!interrupted) console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
      void stopAll().finally(() => process.exit(1));
    },
  );
}

/**
 * Runs a load script of the bench (`node SCRIPT JSON-SPEC`) pinned to the load CPU, killed if it outlives
 * `seconds` by 30 s, and resolves the JSON line it prints at the end.
 */
export async function runLoadScript(script: string, spec: unknown, seconds: number): Promise<unknown> {
  const name = path.basename(script, ".js");
  const [command, args] = pinned(LOAD_CPU, process.execPath, [script, JSON.stringify(spec)]);
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const managed = await track(name, child);
  const killer = setTimeout(() => child.kill("SIGKILL"), (seconds + 30) * 1_000);
  await managed.exit;
  clearTimeout(killer);
  const line = output.split("\n").find((text) => text.startsWith("{"));
  if (child.exitCode !== 0 || line === undefined) throw new Error(`${name} exited with ${child.exitCode ?? child.signalCode}:\n${output}`);
  return JSON.parse(line) as unknown;
}

// Runs the built CLI (`node dist/src/cli.js ...`) as a child process, asynchronously: the gateway these
// tests talk to runs in the test process, so a synchronous spawn would block it from answering. The
// child's environment is the test's without RAMPART_* (so the runner's own settings cannot leak in),
// plus what the test passes. runTool kills a run by PID after `timeoutMs`; none outlives the test process.
import { runTool } from "../../helpers/tool-process.js";

export const CLI = new URL("../../../src/cli.js", import.meta.url).pathname;

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("RAMPART_")) env[key] = value;
  return { ...env, ...extra };
}

export async function runCli(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<CliResult> {
  const result = await runTool(process.execPath, [CLI, ...args], timeoutMs, cleanEnv(env));
  return { code: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

/** For assertion messages. */
export function show(result: CliResult): string {
  return `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
}

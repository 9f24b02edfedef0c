// exec: lego's contract, `command present|cleanup FQDN VALUE`, for any DNS API a script can reach.
// Run without a shell (the value never passes through one), with the gateway's environment (where
// hooks find their API keys), killed after `timeout`.
import { execFile } from "node:child_process";
import type { AcmeDnsConfig } from "../../../config/schema.js";
import { DnsChallengeError } from "./dns-errors.js";
import type { DnsProvider } from "./dns-provider.js";

type ExecConfig = NonNullable<AcmeDnsConfig["exec"]>;

/** How much of the hook's stderr goes into the error: enough to say why, not a log dump. */
const STDERR_TAIL = 500;

export class ExecProvider implements DnsProvider {
  readonly #config: ExecConfig;

  constructor(config: ExecConfig) {
    this.#config = config;
  }

  present(fqdn: string, value: string): Promise<void> {
    return this.#run("present", fqdn, value);
  }

  cleanup(fqdn: string, value: string): Promise<void> {
    return this.#run("cleanup", fqdn, value);
  }

  #run(action: "present" | "cleanup", fqdn: string, value: string): Promise<void> {
    const { command, timeout } = this.#config;
    return new Promise((resolve, reject) => {
      execFile(command, [action, fqdn, value], { timeout, killSignal: "SIGKILL", maxBuffer: 1024 * 1024 }, (error, _stdout, stderr) => {
        if (error === null) return resolve();
        const how = error.killed ? `was killed after ${timeout} ms` : typeof error.code === "number" ? `exited with ${error.code}` : `could not run (${error.message})`;
        const said = stderr.trim().slice(-STDERR_TAIL);
        reject(new DnsChallengeError("DNS_HOOK_FAILED", `${command} ${action} ${fqdn} ${how}${said ? `: ${said}` : ""}`, { cause: error }));
      });
    });
  }
}

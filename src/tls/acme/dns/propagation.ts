// Before the CA is told to validate, the record must be visible where the CA will look: every
// configured resolver (or the system's) must answer the TXT value, polled every `interval` up to
// `timeout`. Telling the CA too early fails the order and burns Let's Encrypt's failed-validation limit.
import { Resolver } from "node:dns/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { DnsChallengeError } from "./dns-errors.js";

export interface PropagationCheck {
  /** "host:port" resolvers; empty: the system's. */
  readonly resolvers: readonly string[];
  readonly timeout: number;
  readonly interval: number;
}

/** Resolves once every resolver answers `value` among the TXT records of `fqdn`; rejects at the timeout. */
export async function waitForTxt(fqdn: string, value: string, check: PropagationCheck, signal?: AbortSignal): Promise<void> {
  const name = fqdn.replace(/\.$/, "");
  const resolvers = (check.resolvers.length > 0 ? check.resolvers.map((server) => [server]) : [[]]).map((servers) => {
    const resolver = new Resolver({ timeout: Math.max(500, Math.min(check.interval, 5_000)), tries: 1 });
    if (servers.length > 0) resolver.setServers(servers);
    return { resolver, label: servers[0] ?? "the system resolver", seen: false };
  });
  const deadline = Date.now() + check.timeout;
  let lastMiss = "";
  for (;;) {
    for (const entry of resolvers.filter((candidate) => !candidate.seen)) {
      try {
        const records = await entry.resolver.resolveTxt(name);
        entry.seen = records.some((chunks) => chunks.join("") === value);
        if (!entry.seen) lastMiss = `${entry.label} answers ${records.length} other TXT value(s)`;
      } catch (error) {
        lastMiss = `${entry.label}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
      }
    }
    if (resolvers.every((entry) => entry.seen)) return;
    if (Date.now() + check.interval > deadline) {
      throw new DnsChallengeError("DNS_PROPAGATION_TIMEOUT", `TXT ${fqdn} not visible within ${check.timeout} ms (${lastMiss})`);
    }
    await sleep(check.interval, undefined, { signal });
  }
}

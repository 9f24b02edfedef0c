// Steady client load for the cluster tests: a few clients each sending one request after another
// (on a keep-alive connection of its own, or a fresh connection per request), or requests started at a
// fixed rate on fresh connections. Every request is recorded with when it started and ended and how it
// ended, so a test can say which failures happened when, and prove that none did.
import https from "node:https";
import { getOnce } from "./client.js";

export interface Outcome {
  readonly client: number;
  readonly startedAt: number;
  readonly endedAt: number;
  /** The HTTP status, 0 when the request failed without one. */
  readonly status: number;
  /** The error code (ECONNREFUSED, ECONNRESET, ...) or message when it failed without a status. */
  readonly error: string | undefined;
}

export interface Load {
  /** Outcomes so far (requests still in flight are missing). */
  readonly outcomes: readonly Outcome[];
  /** Stops starting requests and resolves once the ones in flight are done. */
  stop(): Promise<Outcome[]>;
}

export interface LoadOptions {
  readonly port: number;
  readonly path?: string;
  /** Per-request timeout; a request that takes longer counts as failed. Default 5 s. */
  readonly timeoutMs?: number;
  /** Closed model: this many clients, each sending its next request when the previous one ended. */
  readonly clients?: number;
  /** With `clients`: one keep-alive connection per client (default) or a fresh connection per request. */
  readonly keepAlive?: boolean;
  /** With `clients`: a pause after each request. */
  readonly pauseMs?: number;
  /** Open model instead of `clients`: start this many requests per second, each on a fresh connection. */
  readonly ratePerSecond?: number;
}

export function failed(outcome: Outcome): boolean {
  return outcome.status !== 200;
}

export function describeOutcomes(outcomes: readonly Outcome[]): string {
  const counts = new Map<string, number>();
  for (const outcome of outcomes) {
    const key = outcome.error ?? String(outcome.status);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, count]) => `${key}: ${count}`).join(", ");
}

export function startLoad(options: LoadOptions): Load {
  const path = options.path ?? "/";
  const timeoutMs = options.timeoutMs ?? 5_000;
  const outcomes: Outcome[] = [];
  const inFlight = new Set<Promise<void>>();
  const agents: https.Agent[] = [];
  let stopped = false;

  const one = (client: number, agent: https.Agent | false): Promise<void> => {
    const startedAt = Date.now();
    const pending = getOnce({ port: options.port, path, tls: true, agent, timeoutMs }).then(({ status, error }) => {
      outcomes.push({ client, startedAt, endedAt: Date.now(), status, error });
    });
    inFlight.add(pending);
    void pending.finally(() => inFlight.delete(pending));
    return pending;
  };

  let loops: Promise<void>[] = [];
  let ticker: NodeJS.Timeout | undefined;
  if (options.ratePerSecond !== undefined) {
    let sent = 0;
    ticker = setInterval(() => void one(sent++, false), 1000 / options.ratePerSecond);
  } else {
    const clients = options.clients ?? 1;
    loops = Array.from({ length: clients }, async (_, client) => {
      const agent = options.keepAlive === false ? false : new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
      if (agent !== false) agents.push(agent);
      while (!stopped) {
        await one(client, agent);
        if (options.pauseMs !== undefined && options.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
      }
    });
  }

  return {
    outcomes,
    stop: async () => {
      stopped = true;
      clearInterval(ticker);
      await Promise.all(loops);
      await Promise.all([...inFlight]);
      for (const agent of agents) agent.destroy();
      return [...outcomes].sort((a, b) => a.startedAt - b.startedAt);
    },
  };
}

// Benchmark settings from the environment (see bench/run.ts for the list).
export const SCENARIOS = ["core", "guards", "bans", "balancing", "workers", "h2", "releases", "certs", "rejections", "resumption", "idle"] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Settings {
  /** Seconds per measured run. */
  readonly duration: number;
  /** Seconds of unmeasured load before each measured run. */
  readonly warmup: number;
  /** Interleaved rounds for the core, guards, workers, h2, releases and certs scenarios. */
  readonly rounds: number;
  /** Interleaved rounds for the bans and balancing scenarios. */
  readonly secondaryRounds: number;
  readonly connections: number;
  /** Core, h2, releases and certs (TLS to targets) scenarios: Rampart with its guards. */
  readonly guards: boolean;
  readonly only: readonly ScenarioName[];
}

export function envNumber(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max) throw new Error(`${name}=${text}: expected a number from ${min} to ${max}`);
  return value;
}

/** A whole number from the environment, within [min, max]. */
export function envInt(name: string, fallback: number, min: number, max: number): number {
  const value = envNumber(name, fallback, min, max);
  if (!Number.isInteger(value)) throw new Error(`${name}=${value}: expected a whole number from ${min} to ${max}`);
  return value;
}

function scenarioList(text: string | undefined): ScenarioName[] {
  if (text === undefined || text.trim() === "") return [...SCENARIOS];
  const names = text.split(",").map((name) => name.trim()).filter((name) => name !== "");
  const unknown = names.filter((name) => !(SCENARIOS as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`BENCH_ONLY: unknown scenario(s) ${unknown.join(", ")}; expected some of ${SCENARIOS.join(",")}`);
  // Always in the canonical order, each once.
  return SCENARIOS.filter((name) => names.includes(name));
}

export function readSettings(): Settings {
  const rounds = Math.round(envNumber("BENCH_ROUNDS", 3, 1, 20));
  return {
    duration: Math.round(envNumber("BENCH_DURATION", 5, 1, 300)),
    warmup: Math.round(envNumber("BENCH_WARMUP", 2, 0, 60)),
    rounds,
    secondaryRounds: Math.round(envNumber("BENCH_ROUNDS_SECONDARY", Math.min(rounds, 2), 1, 20)),
    connections: Math.round(envNumber("BENCH_CONNECTIONS", 50, 1, 1_000)),
    guards: process.env.BENCH_GUARDS !== "off",
    only: scenarioList(process.env.BENCH_ONLY),
  };
}

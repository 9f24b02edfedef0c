// `rampart config`: the config a gateway started from this file runs with — every default filled in,
// `${VAR}` references resolved — written back in the file's own units ("10s", not 10000) so it can be
// read, diffed and loaded again, with secrets replaced by "<redacted>".
import { stringify } from "yaml";
import type { z } from "zod";
import { configSchema, type Config } from "../config/schema.js";
import { defOf, unwrap, valueKind } from "./schema-kinds.js";

export const REDACTED = "<redacted>";

/** The loaded config in the units a YAML file uses, walked alongside the schema that produced it. */
export function inputForm(config: Config): unknown {
  return toInput(configSchema, config);
}

function toInput(schema: z.core.$ZodType, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  const node = unwrap(schema);
  const def = defOf(node);
  switch (def.type) {
    case "pipe":
      return fromKind(node, value);
    case "object": {
      const shape = def.shape as Record<string, z.core.$ZodType>;
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
        const converted = shape[key] === undefined ? child : toInput(shape[key], child);
        if (converted !== undefined) out[key] = converted;
      }
      return out;
    }
    case "record": {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(value as Record<string, unknown>)) out[key] = toInput(def.valueType as z.core.$ZodType, child);
      return out;
    }
    case "array":
      return (value as unknown[]).map((item) => toInput(def.element as z.core.$ZodType, item));
    default:
      return value;
  }
}

function fromKind(schema: z.core.$ZodType, value: unknown): unknown {
  switch (valueKind(schema)) {
    case "duration":
      return typeof value === "number" ? formatDuration(value) : value;
    case "size":
      return typeof value === "number" ? formatSize(value) : value;
    case "listen": {
      const { host, port } = value as { host: string; port: number };
      return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    }
    case "status-range": {
      const { min, max } = value as { min: number; max: number };
      return min === max ? String(min) : `${min}-${max}`;
    }
    default:
      return value;
  }
}

const DURATION_UNITS: readonly [string, number][] = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1_000],
];

/** Milliseconds in the largest unit that divides them: 90000 → "90s", 3600000 → "1h", 250 → "250ms". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  for (const [unit, size] of DURATION_UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

const SIZE_UNITS: readonly [string, number][] = [
  ["GiB", 1_073_741_824],
  ["MiB", 1_048_576],
  ["KiB", 1_024],
  ["GB", 1_000_000_000],
  ["MB", 1_000_000],
  ["KB", 1_000],
];

/** Bytes in the largest unit that divides them: 16384 → "16KiB", 1000 → "1KB", 100 → 100. */
export function formatSize(bytes: number): string | number {
  if (bytes === 0) return 0;
  for (const [unit, size] of SIZE_UNITS) if (bytes % size === 0) return `${bytes / size}${unit}`;
  return bytes;
}

/**
 * Names whose values are secrets: adminToken, an EAB hmacKey, and anything called *password*, *secret*
 * or *token*, or ending in "Key" (hmacKey, apiKey, privateKey). Not `key`, `keyFile`, `keyPrefix` or
 * `keyName`: those hold a rate-limit key kind, a file path, a Redis prefix, a TSIG key's name.
 */
export function isSecretName(name: string): boolean {
  return /password|passwd|secret|token/i.test(name) || /[a-z]Key$/.test(name);
}

/** A copy of `value` with secret-named values and the passwords of URLs (redis://:pw@host) redacted. */
export function redact(value: unknown, name = ""): unknown {
  if (Array.isArray(value)) return value.map((item) => redact(item, name));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, redact(child, key)]));
  }
  if (isSecretName(name) && value !== "" && value !== undefined && value !== null && typeof value !== "boolean") return REDACTED;
  return typeof value === "string" ? redactUrl(value) : value;
}

/** redis://user:pw@host:6379 → redis://user:<redacted>@host:6379; other text unchanged. */
export function redactUrl(text: string): string {
  // Not `new URL`: it would re-encode the rest, and "<redacted>" would come out percent-encoded.
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:\s]*:)([^/@\s]+)@/i, (_match, head: string) => `${head}${REDACTED}@`);
}

/** The effective config as YAML (or JSON), secrets redacted, headed by a comment naming the file. */
export function renderEffectiveConfig(config: Config, file: string, format: "yaml" | "json"): string {
  const effective = redact(inputForm(config));
  if (format === "json") return `${JSON.stringify(effective, null, 2)}\n`;
  return `# The effective config of ${file}: every default filled in, \${VAR} references resolved, secrets shown as "${REDACTED}".\n${stringify(effective, { lineWidth: 0 })}`;
}

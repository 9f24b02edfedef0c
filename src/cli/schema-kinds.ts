// The config schema (src/config/schema.ts) turns YAML text into typed values: "10s" into 10000 ms,
// "16KiB" into bytes, "0.0.0.0:8080" into {host, port}, "200-399" into {min, max}. Tools that work on
// the schema itself (the JSON Schema, the effective config printed by `rampart config`) need to know
// which node does which; they ask each node by parsing a sample, so nothing here restates the schema.
import { z } from "zod";

export type ValueKind = "duration" | "size" | "listen" | "status-range";

type Def = { readonly type: string } & Record<string, unknown>;

/** A zod node's definition (zod 4 keeps it at `_zod.def`). */
export function defOf(schema: z.core.$ZodType): Def {
  return schema._zod.def as unknown as Def;
}

const kinds = new WeakMap<z.core.$ZodType, ValueKind | undefined>();

function parses(schema: z.core.$ZodType, input: unknown, expected: unknown): boolean {
  const result = z.safeParse(schema, input);
  return result.success && JSON.stringify(result.data) === JSON.stringify(expected);
}

/**
 * What a transforming node (a zod pipe) produces, found by parsing one sample of each kind. Samples sit
 * inside every bound the schema puts on them today (an SLO latency threshold stops at 60s).
 */
export function valueKind(schema: z.core.$ZodType): ValueKind | undefined {
  if (defOf(schema).type !== "pipe") return undefined;
  if (kinds.has(schema)) return kinds.get(schema);
  let kind: ValueKind | undefined;
  if (parses(schema, "1s", 1_000) && !parses(schema, "1KiB", 1_024)) kind = "duration";
  else if (parses(schema, "1KiB", 1_024)) kind = "size";
  else if (parses(schema, "127.0.0.1:1", { host: "127.0.0.1", port: 1 })) kind = "listen";
  else if (parses(schema, "200-299", { min: 200, max: 299 })) kind = "status-range";
  kinds.set(schema, kind);
  return kind;
}

/** True for a number the schema accepts only whole (its refinement says "expected a whole number"). */
export function isWholeNumber(schema: z.core.$ZodType): boolean {
  if (defOf(schema).type !== "number") return false;
  const result = z.safeParse(schema, 0.5);
  return !result.success && result.error.issues.some((issue) => issue.message.startsWith("expected a whole number"));
}

/** Wrappers that change nothing about a present value: default, prefault, optional, nullable, readonly, catch. */
export function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  let node = schema;
  for (;;) {
    const def = defOf(node);
    if (!["default", "prefault", "optional", "nullable", "readonly", "catch", "nonoptional"].includes(def.type)) return node;
    node = def.innerType as z.core.$ZodType;
  }
}

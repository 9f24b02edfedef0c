// The JSON Schema of the config file, generated from the one zod schema (src/config/schema.ts) as the
// file's *input*: durations and sizes are the strings written in YAML, defaults are shown, unknown keys
// are refused. Shipped as config/rampart.schema.json (kept current by test/unit/cli/json-schema.test.ts)
// and printed by `rampart schema`, for editors (yaml-language-server) and CI linters.
import { z } from "zod";
import { configSchema } from "../config/schema.js";
import { isWholeNumber, valueKind } from "./schema-kinds.js";

const DURATION = "^\\s*\\d+(\\.\\d+)?(ms|s|m|h|d)\\s*$";
const SIZE = "^\\s*\\d+(\\.\\d+)?\\s*(B|KB|KiB|MB|MiB|GB|GiB)?\\s*$";

// Any value may instead be written as an environment reference, ${WORKERS} or ${GRACE:-10s}, replaced
// when the file is loaded: every constrained scalar (a number, a boolean, an enum, a duration...) also
// accepts a string holding one, so editors do not flag what the loader accepts.
const REFERENCE_NAME = "envReference";
const REFERENCE = { $ref: `#/definitions/${REFERENCE_NAME}` };
const REFERENCE_DEFINITION = {
  type: "string",
  pattern: "\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}",
  description: "An environment reference: ${NAME} or ${NAME:-default}, replaced when the file is loaded.",
};
const CONSTRAINTS = ["pattern", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "format"];

type Json = Record<string, unknown>;

/** Whether a loaded string could fail where a ${...} reference is written: any non-string type, or a constrained string. */
function isConstrainedScalar(node: Json): boolean {
  if (node.type === "number" || node.type === "integer" || node.type === "boolean") return true;
  return node.type === "string" && CONSTRAINTS.some((key) => key in node);
}

/** Rewrites `node` in place as anyOf [what it was, an env reference], keeping default and description outside. */
function orReference(node: Json): void {
  const { default: fallback, description, ...typed } = node;
  for (const key of Object.keys(node)) delete node[key];
  if (fallback !== undefined) node.default = fallback;
  if (description !== undefined) node.description = description;
  node.anyOf = [typed, REFERENCE];
}

const DESCRIPTIONS = {
  duration: "A duration: a number and a unit (ms, s, m, h, d), such as 250ms, 10s, 5m, 1h, 7d.",
  size: "A size: bytes as a number, or a number and a unit (B, KB, KiB, MB, MiB, GB, GiB), such as 16KiB or 10MiB.",
  listen: 'A listen address, host:port: "0.0.0.0:8080", "[::1]:8443", ":8080" (every interface); port 0 picks a free port.',
  "status-range": 'An HTTP status or an inclusive range of them, such as 200 or "200-399".',
} as const;

export function configJsonSchema(): Json {
  const generated = z.toJSONSchema(configSchema, {
    io: "input",
    // draft-07 is what editors (yaml-language-server, VS Code) understand best.
    target: "draft-7",
    override: ({ zodSchema, jsonSchema }) => {
      const kind = valueKind(zodSchema);
      if (kind !== undefined) jsonSchema.description = DESCRIPTIONS[kind];
      if (kind === "duration") jsonSchema.pattern = DURATION;
      if (jsonSchema.type === "number" && isWholeNumber(zodSchema)) jsonSchema.type = "integer";
      // zod's own formats ("starts_with") mean nothing to other validators.
      if (jsonSchema.format === "starts_with") delete jsonSchema.format;
      if (kind === "size") {
        // number | string, each with its constraint, or a reference.
        delete jsonSchema.type;
        jsonSchema.anyOf = [{ type: "number", minimum: 0 }, { type: "string", pattern: SIZE }, REFERENCE];
      } else if (isConstrainedScalar(jsonSchema)) {
        orReference(jsonSchema);
      }
    },
  }) as Json;
  const { $schema, definitions, ...rest } = generated;
  return {
    $schema,
    title: "Rampart gateway configuration",
    description: "config/gateway.yaml (rampart start -c FILE). Generated from src/config/schema.ts by `rampart schema`; do not edit.",
    ...rest,
    definitions: { ...(definitions as Json | undefined), [REFERENCE_NAME]: REFERENCE_DEFINITION },
  };
}

/** The file's text: the schema, two-space indented, with a final newline. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

// Plain-language texts for zod issues that the schema gives no message of its own. Passed per parse, so a
// message written in schema.ts always wins (zod applies schema-level messages before this map).
import type { z } from "zod";

type RawIssue = z.core.$ZodRawIssue;
type Issue = z.core.$ZodIssue;

const TYPE_NAMES: Readonly<Record<string, string>> = {
  number: "a number",
  int: "a whole number",
  string: "a string",
  boolean: "true or false",
  array: "a list",
  tuple: "a list",
  object: "a mapping",
  record: "a mapping",
};

export const humanErrorMap: z.core.$ZodErrorMap = (issue) => messageFor(issue);

function messageFor(issue: RawIssue): string | undefined {
  switch (issue.code) {
    case "invalid_type":
      // The loader replaces this with the key's name when the key is absent from the file.
      if (issue.input === undefined) return "is required";
      return `expected ${typeName(issue.expected)} (got ${describe(issue.input)})`;
    case "invalid_value":
      return issue.values.length === 1
        ? `expected ${JSON.stringify(issue.values[0])} (got ${describe(issue.input)})`
        : `expected one of: ${issue.values.map(String).join(", ")} (got ${describe(issue.input)})`;
    case "invalid_union":
      return unionMessage(issue.errors, issue.input);
    case "too_small":
      return bound(issue.origin, "at least", "greater than", issue.minimum, issue.inclusive);
    case "too_big":
      return bound(issue.origin, "at most", "less than", issue.maximum, issue.inclusive);
    case "invalid_format":
      return formatMessage(issue);
    case "not_multiple_of":
      return `must be a multiple of ${issue.divisor}`;
    case "invalid_key":
      return issue.issues.map((inner) => inner.message).join("; ");
    case "unrecognized_keys":
      return `unknown ${issue.keys.length === 1 ? "key" : "keys"} ${issue.keys.map((key) => `"${key}"`).join(", ")}`;
    default:
      return undefined;
  }
}

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? expected;
}

/** For messages only: short enough for one line of `rampart validate` output. */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  return String(value);
}

// A branch that failed on something other than the kind of value was the one the user meant
// (e.g. `workers: 0` is a number that is too small, not a wrong "auto"), so its message is the useful one.
function unionMessage(branches: readonly (readonly Issue[])[], input: unknown): string {
  const isKindMismatch = (issue: Issue) =>
    issue.path.length === 0 && (issue.code === "invalid_type" || issue.code === "invalid_value");
  const meant = branches.find((issues) => issues.length > 0 && !issues.every(isKindMismatch));
  if (meant?.[0]) return meant[0].message;
  const expected = branches.flat().flatMap((issue) => {
    if (issue.code === "invalid_type") return [typeName(issue.expected)];
    if (issue.code === "invalid_value") return issue.values.map((value) => JSON.stringify(value));
    return [];
  });
  return `expected ${[...new Set(expected)].join(" or ")} (got ${describe(input)})`;
}

function bound(origin: string, inclusiveWord: string, exclusiveWord: string, limit: number | bigint, inclusive?: boolean): string {
  const relation = inclusive === false ? exclusiveWord : inclusiveWord;
  if (origin === "array" || origin === "set") return `needs ${relation} ${limit} ${limit === 1 ? "item" : "items"}`;
  if (origin === "string") {
    return relation === "at least" && Number(limit) === 1 ? "must not be empty" : `must be ${relation} ${limit} characters long`;
  }
  return `must be ${relation} ${limit}`;
}

function formatMessage(issue: Extract<RawIssue, { code: "invalid_format" }>): string {
  const input = typeof issue.input === "string" ? ` (got ${describe(issue.input)})` : "";
  switch (issue.format) {
    case "starts_with":
      return `must start with "${String(issue.prefix)}"${input}`;
    case "ends_with":
      return `must end with "${String(issue.suffix)}"${input}`;
    case "includes":
      return `must contain "${String(issue.includes)}"${input}`;
    case "regex":
      return `must match ${String(issue.pattern)}${input}`;
    default:
      return `is not a valid ${issue.format}${input}`;
  }
}

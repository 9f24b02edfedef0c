// Reads the YAML config into a frozen, typed `Config`, or throws a ConfigError that lists every problem
// with the line and column of the offending key, so `rampart validate` can be fixed in one pass.
import { readFileSync } from "node:fs";
import { LineCounter, parseDocument, type YAMLError } from "yaml";
import type { z } from "zod";
import { interpolate, type Env, type PathKey, type Substitution } from "./interpolate.js";
import { Locator } from "./locate.js";
import { humanErrorMap } from "./messages.js";
import { configSchema, type Config } from "./schema.js";
import { readFailure } from "./read-failure.js";

export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Such as `routes[2].service`; "(root)" for the document itself. */
  readonly path: string;
  readonly message: string;
}

const ROOT = "(root)";

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
    this.problems = Object.freeze(problems.map((problem) => Object.freeze({ ...problem })));
  }
}

/** `FILE:LINE:COL path: message`, the format `rampart validate` prints and editors can jump to. */
export function formatProblem(problem: ConfigProblem): string {
  return `${problem.file}:${problem.line}:${problem.col} ${problem.path || ROOT}: ${problem.message}`;
}

/** What a failed load says, one line per problem (FILE:LINE:COL key: message), for logs, the CLI and /api/reload. */
/** What to print for an error: a config error's problems, one a line, else the message with its stable code, if any. */
export function problemsOf(error: unknown): string[] {
  if (error instanceof ConfigError) return error.problems.map(formatProblem);
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | undefined)?.code;
  return [typeof code === "string" && /^[A-Z][A-Z0-9_]+$/.test(code) ? `${message} [${code}]` : message];
}

export function renderPath(path: readonly PathKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(key)) out += out === "" ? key : `.${key}`;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out === "" ? ROOT : out;
}

export function loadConfigFile(file: string, env: Env = process.env): Config {
  return loadConfigText(readConfigFile(file), file, env);
}

/** The config file's text; a ConfigError naming the file when it cannot be read. */
export function readConfigFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError([{ file, line: 1, col: 1, path: ROOT, message: `cannot read the config file (${readFailure(error)})` }]);
  }
}

export function loadConfigText(text: string, file: string, env: Env = process.env): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const locator = new Locator(doc, lineCounter);
  const problems: ConfigProblem[] = [];
  const add = (where: { line: number; col: number }, path: readonly PathKey[], message: string) =>
    problems.push({ file, line: where.line, col: where.col, path: renderPath(path), message });

  // One syntax error per line: the parser reports every token it trips over after the first, which is noise.
  const errorLines = new Set<number>();
  for (const error of [...doc.errors, ...doc.warnings]) {
    const where = locator.offset(error.pos[0]);
    if (errorLines.has(where.line)) continue;
    errorLines.add(where.line);
    add(where, locator.pathAt(error.pos[0]), yamlMessage(error, text));
  }

  const substitutions = interpolate(doc, env);
  for (const { path, node, problems: texts } of substitutions) {
    for (const message of texts) add(locator.offset(node.range?.[0] ?? 0), path, message);
  }

  let config: Config | undefined;
  // After a syntax error the tree is the parser's best guess; validating it would bury the real error
  // under follow-on noise.
  if (doc.errors.length === 0) {
    let input: unknown;
    try {
      input = doc.toJS() ?? {};
    } catch (error) {
      // toJS throws for an unresolved alias or an alias explosion ("billion laughs").
      add({ line: 1, col: 1 }, [], error instanceof Error ? error.message : String(error));
    }
    if (input !== undefined) {
      const result = validate(input, substitutions);
      if (result.success) config = result.data;
      else addIssues(result.error.issues, substitutions, locator, add);
    }
  }

  if (problems.length > 0 || config === undefined) {
    throw new ConfigError(problems.sort((a, b) => a.line - b.line || a.col - b.col));
  }
  return deepFreeze(config);
}

function validate(input: unknown, substitutions: readonly Substitution[]): z.ZodSafeParseResult<Config> {
  const result = configSchema.safeParse(input, { error: humanErrorMap });
  if (result.success || !retypeSubstitutions(input, result.error.issues, substitutions)) return result;
  return configSchema.safeParse(input, { error: humanErrorMap });
}

// An unquoted `${LIMIT:-100}` must give a number where the schema wants one, but an all-digit token in
// `adminToken: ${TOKEN}` must stay a string. Only the schema knows which, so re-type just the values
// it rejected for their type, then validate once more.
function retypeSubstitutions(input: unknown, issues: readonly z.core.$ZodIssue[], substitutions: readonly Substitution[]): boolean {
  let changed = false;
  for (const issue of issues) {
    if (issue.code !== "invalid_type" && issue.code !== "invalid_union") continue;
    const sub = substitutions.find((s) => s.plain && s.problems.length === 0 && samePath(s.path, issue.path));
    const text = sub?.node.value;
    if (typeof text !== "string") continue;
    const typed = retype(text);
    if (typed !== undefined && setIn(input, issue.path, typed)) changed = true;
  }
  return changed;
}

/** What the text would have been had it been written unquoted in the YAML (core schema). */
function retype(text: string): number | boolean | undefined {
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return Number(text);
  if (/^(true|false)$/i.test(text)) return text.toLowerCase() === "true";
  return undefined;
}

type Add = (where: { line: number; col: number }, path: readonly PathKey[], message: string) => void;

function addIssues(issues: readonly z.core.$ZodIssue[], substitutions: readonly Substitution[], locator: Locator, add: Add): void {
  // A reference that could not be resolved has already been reported at that value.
  const unresolved = substitutions.filter((s) => s.problems.length > 0).map((s) => s.path);
  for (const issue of issues) {
    const path = issue.path.map((key) => (typeof key === "number" ? key : String(key)));
    if (unresolved.some((prefix) => samePath(prefix, path.slice(0, prefix.length)))) continue;
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) add(locator.key([...path, key]), [...path, key], `unknown key "${key}"`);
    } else if (issue.code === "invalid_type" && !locator.has(path)) {
      const last = path.at(-1);
      add(locator.key(path), path, typeof last === "string" ? `missing required key "${last}"` : issue.message);
    } else if (issue.code === "invalid_key") {
      add(locator.key(path), path, issue.message);
    } else {
      add(locator.value(path), path, issue.message);
    }
  }
}

function yamlMessage(error: YAMLError, source: string): string {
  if (error.code === "DUPLICATE_KEY") return "duplicate key: this key is already set earlier in the same mapping";
  if (error.code === "MULTIPLE_DOCS") return "YAML syntax error: the file must hold one document (remove the extra ---)";
  const kind = error.name === "YAMLWarning" ? "YAML" : "YAML syntax error";
  const text = `${kind}: ${error.message.charAt(0).toLowerCase()}${error.message.slice(1)}`;
  // `{ limit: ${LIMIT} }` is the usual way to get here: braces are YAML flow syntax.
  const lineStart = source.lastIndexOf("\n", error.pos[0] - 1) + 1;
  const lineEnd = source.indexOf("\n", error.pos[0]);
  const line = source.slice(lineStart, lineEnd < 0 ? undefined : lineEnd);
  return /[{[].*\$\{/.test(line) ? `${text} (quote values that contain \${...} inside { } or [ ])` : text;
}

function samePath(a: readonly PropertyKey[], b: readonly PropertyKey[]): boolean {
  return a.length === b.length && a.every((key, i) => String(key) === String(b[i]));
}

function setIn(root: unknown, path: readonly PropertyKey[], value: unknown): boolean {
  let node = root;
  for (const key of path.slice(0, -1)) {
    if (typeof node !== "object" || node === null) return false;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  const last = path.at(-1);
  if (typeof node !== "object" || node === null || last === undefined) return false;
  (node as Record<PropertyKey, unknown>)[last] = value;
  return true;
}

function deepFreeze<T>(value: T): T {
  // The isFrozen guard also stops at shared (aliased) subtrees already visited.
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

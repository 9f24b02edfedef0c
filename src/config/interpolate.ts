// `${VAR}` / `${VAR:-default}` substitution on the parsed YAML tree rather than on the raw text, so
// every node keeps its original line and column and a value can never inject YAML structure.
import { isMap, isScalar, isSeq, Scalar, type Document } from "yaml";

export type Env = Readonly<Record<string, string | undefined>>;
export type PathKey = string | number;

export interface Substitution {
  readonly path: readonly PathKey[];
  readonly node: Scalar;
  /** Unquoted in the YAML, so the text may stand for a number or boolean (see load.ts). */
  readonly plain: boolean;
  readonly problems: readonly string[];
}

// `$${` first, so an escaped `${` is never read as the start of a reference.
const TOKEN = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{/g;

/** Rewrites string scalar values in place; returns one entry per scalar that held a reference. */
export function interpolate(doc: Document, env: Env): Substitution[] {
  const found: Substitution[] = [];
  walk(doc.contents, [], env, found);
  return found;
}

function walk(node: unknown, path: PathKey[], env: Env, found: Substitution[]): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      // Keys are left alone: a key whose name depends on the environment could not be validated.
      const key = isScalar(pair.key) ? pair.key.value : pair.key;
      walk(pair.value, [...path, String(key)], env, found);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => walk(item, [...path, index], env, found));
  } else if (isScalar(node) && typeof node.value === "string" && node.value.includes("${")) {
    const problems: string[] = [];
    node.value = substitute(node.value, env, problems);
    found.push({ path, node, plain: node.type === Scalar.PLAIN, problems });
  }
}

export function substitute(text: string, env: Env, problems: string[]): string {
  return text.replace(TOKEN, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === "$${") return "${";
    if (name === undefined) {
      problems.push(`malformed reference in "${text}": use \${NAME} or \${NAME:-default}, or $\${ for a literal \${`);
      return match;
    }
    const value = env[name];
    // Shell semantics: `:-` also replaces a variable that is set but empty.
    if (value !== undefined && (value !== "" || fallback === undefined)) return value;
    if (fallback !== undefined) return fallback;
    problems.push(`environment variable ${name} is not set`);
    return match;
  });
}

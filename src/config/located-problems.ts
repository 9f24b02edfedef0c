// Problems found after the schema accepted the file (a file the config names cannot be read or used),
// reported as the loader reports its own: FILE:LINE:COL key: message, at the value's place in the YAML,
// so `rampart start`, a rejected reload and /api/reload all point at the line to fix.
import { readFileSync } from "node:fs";
import { LineCounter, parseDocument } from "yaml";
import type { PathKey } from "./interpolate.js";
import { ConfigError, renderPath } from "./load.js";
import { Locator, type Position } from "./locate.js";

export interface FoundProblem {
  readonly path: readonly PathKey[];
  readonly message: string;
}

/** `text`: the config as loaded; without it the file is read again (only on this error path). */
export function configErrorAt(file: string, text: string | undefined, problems: readonly FoundProblem[]): ConfigError {
  let locate = (_path: readonly PathKey[]): Position => ({ line: 1, col: 1 });
  try {
    const source = text ?? readFileSync(file, "utf8");
    const lineCounter = new LineCounter();
    const locator = new Locator(parseDocument(source, { lineCounter, prettyErrors: false }), lineCounter);
    locate = (path) => locator.value(path);
  } catch {
    // The file changed or vanished since it was loaded: the key path alone still names the problem.
  }
  return new ConfigError(problems.map((problem) => ({ file, ...locate(problem.path), path: renderPath(problem.path), message: problem.message })));
}

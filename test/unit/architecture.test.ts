// The import graph runs one way (README, "How a request flows"): a module imports from its own folder or
// from a layer below it, never from one above, and folders of one layer never import each other in a
// cycle. Read from the TypeScript sources, so a new upward import fails here rather than in review.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../src");

/** Bottom first; folders (or top-level files) of one layer may import each other, without cycles. */
const LAYERS: readonly (readonly string[])[] = [
  ["observability"],
  ["config"],
  ["state", "tls", "guards", "routing", "upstream"],
  ["pipeline"],
  ["proxy", "stages"],
  ["assembly"],
  ["server", "admin"],
  ["main.ts"],
  ["cluster"],
  ["cli.ts", "cli"],
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(path.join(dir, entry.name)) : entry.name.endsWith(".ts") ? [path.join(dir, entry.name)] : [],
  );
}

/** src-relative path → the src-relative paths it imports (relative specifiers only). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, "utf8");
    const imported = [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)\.js"/g)].map((match) =>
      path.relative(SRC, path.resolve(path.dirname(file), `${match[1]}.ts`)),
    );
    graph.set(path.relative(SRC, file), imported);
  }
  return graph;
}

const top = (file: string) => file.split(path.sep)[0]!;
const layerOf = (file: string) => LAYERS.findIndex((layer) => layer.includes(top(file)));

test("every source folder has a layer", () => {
  const unplaced = [...importGraph().keys()].filter((file) => layerOf(file) === -1);
  assert.deepEqual(unplaced, []);
});

test("no import runs up a layer", () => {
  const upward = [...importGraph()].flatMap(([file, imports]) => imports.filter((target) => layerOf(target) > layerOf(file)).map((target) => `${file} -> ${target}`));
  assert.deepEqual(upward, []);
});

test("no import cycle between folders", () => {
  const folders = new Map<string, Set<string>>();
  for (const [file, imports] of importGraph()) {
    for (const target of imports) {
      if (top(target) === top(file)) continue;
      const edges = folders.get(top(file)) ?? new Set<string>();
      edges.add(top(target));
      folders.set(top(file), edges);
    }
  }
  const cycles: string[] = [];
  const visit = (folder: string, trail: string[]) => {
    for (const next of folders.get(folder) ?? []) {
      if (trail.includes(next)) cycles.push([...trail.slice(trail.indexOf(next)), next].join(" -> "));
      else visit(next, [...trail, next]);
    }
  };
  for (const folder of folders.keys()) visit(folder, [folder]);
  assert.deepEqual(cycles, []);
});

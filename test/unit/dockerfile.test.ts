// No Docker engine runs here, so the Dockerfile is checked for what can go wrong without one: every
// stage builds on a maintained Node.js line, every path it copies from the build context exists, and it
// runs as a non-root user with a health check.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";

const root = new URL("../../../", import.meta.url).pathname;
const dockerfile = readFileSync(`${root}Dockerfile`, "utf8");

// The release lines that still get security fixes (Node 20 reached end of life in April 2026). Every
// stage counts: the build stages compile and install the modules the final one runs.
const MAINTAINED_NODE_LINES = ["22", "24"];

test("every stage builds on a maintained Node.js line, the same one throughout", () => {
  const bases = dockerfile
    .split("\n")
    .filter((line) => /^FROM\s/i.test(line))
    .map((line) => line.trim().split(/\s+/).slice(1).find((word) => !word.startsWith("--")) ?? "");
  assert.ok(bases.length > 0);
  const lines = bases.map((base) => /^node:(\d+)(?:[.-]|$)/.exec(base)?.[1]);
  for (const [index, line] of lines.entries()) {
    assert.ok(line !== undefined && MAINTAINED_NODE_LINES.includes(line), `${bases[index]} is not on a maintained Node.js line`);
  }
  assert.equal(new Set(lines).size, 1, `the stages mix Node.js lines: ${bases.join(", ")}`);
});

test("every COPY source in the Dockerfile exists in the repository", () => {
  const sources = dockerfile
    .split("\n")
    .filter((line) => /^COPY\s/.test(line) && !line.includes("--from="))
    .flatMap((line) => line.trim().split(/\s+/).slice(1, -1));
  assert.ok(sources.length >= 4);
  for (const source of sources) assert.ok(existsSync(`${root}${source}`), `${source} is copied but does not exist`);
});

test("the image runs as a non-root user, exposes the listeners and checks /healthz", () => {
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /^EXPOSE 8080 8443 9901$/m);
  assert.match(dockerfile, /^HEALTHCHECK .*$/m);
  assert.match(dockerfile, /healthz/);
  assert.match(dockerfile, /npm ci --omit=dev/);
});

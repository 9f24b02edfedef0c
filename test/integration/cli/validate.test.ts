// `rampart validate` as CI runs it: exit 1 with FILE:LINE:COL key: message lines on stderr for what
// `start` would reject (certificate files, no routes, colliding listeners); exit 0 with warnings for a
// shadowed route and, with --check-targets, a service whose targets all refuse connections; --json.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { generateSelfSigned } from "../../../src/tls/self-signed.js";
import { runCli, show } from "./run-cli.js";

describe("rampart validate", () => {
  let dir: string;
  let closedPort: number;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "rampart-cli-validate-"));
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    closedPort = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const file = async (name: string, ...lines: string[]) => {
    const path = join(dir, name);
    await writeFile(path, `${lines.join("\n")}\n`);
    return path;
  };
  const service = () => ["services:", "  app:", `    targets: [ { url: "http://127.0.0.1:${closedPort}" } ]`];

  test("what start rejects: a key that is not its certificate's, colliding listeners; every problem in one run", async () => {
    const [a, b] = await Promise.all([generateSelfSigned(["a.example"]), generateSelfSigned(["b.example"])]);
    await Promise.all([writeFile(join(dir, "a.crt"), a.cert), writeFile(join(dir, "b.key"), b.key)]);
    const path = await file(
      "bad.yaml",
      "listen: { http: 0.0.0.0:8080, https: 127.0.0.1:8080, admin: 127.0.0.1:9901 }",
      ...service(),
      "routes: [ { name: app, service: app } ]",
      "tls:",
      "  certificates:",
      `    - { certFile: ${join(dir, "a.crt")}, keyFile: ${join(dir, "b.key")} }`,
    );
    const result = await runCli(["validate", "-c", path]);
    assert.equal(result.code, 1, show(result));
    assert.equal(result.stdout, "");
    assert.deepEqual(result.stderr.trim().split("\n"), [
      `${path}:1:38 listen.https: 127.0.0.1:8080 collides with listen.http (0.0.0.0:8080): both cannot bind the same port`,
      `${path}:8:${`    - { certFile: ${join(dir, "a.crt")}, keyFile: `.length + 1} tls.certificates[0].keyFile: private key "${join(dir, "b.key")}" does not belong to certificate "${join(dir, "a.crt")}"`,
    ]);
  });

  test("an empty file and a file without routes are errors", async () => {
    const [empty, noRoutes] = await Promise.all([file("empty.yaml", "# nothing yet"), file("no-routes.yaml", ...service())]);
    const [first, second] = await Promise.all([runCli(["validate", "-c", empty]), runCli(["validate", "-c", noRoutes])]);
    assert.equal(first.code, 1, show(first));
    assert.equal(first.stderr, `${empty}:1:1 (root): the file is empty: a gateway needs at least one service and one route\n`);
    assert.equal(second.code, 1, show(second));
    assert.equal(second.stderr, `${noRoutes}:1:1 routes: no routes: every request would be answered 404 (add at least one route)\n`);
  });

  test("warnings exit 0: a shadowed route always, an unreachable service with --check-targets", async () => {
    const path = await file(
      "warn.yaml",
      "listen: { http: 127.0.0.1:0, https: 127.0.0.1:0, admin: 127.0.0.1:0 }",
      ...service(),
      "routes:",
      "  - { name: api, service: app, match: { pathPrefix: /api } }",
      "  - { name: site, service: app, match: { host: www.example.com, pathPrefix: / } }",
    );
    const [plain, checked, json] = await Promise.all([
      runCli(["validate", "-c", path]),
      runCli(["validate", "--check-targets", "-c", path]),
      runCli(["validate", "--check-targets", "--json", "-c", path]),
    ]);
    const shadow = `${path}:7:42 routes[1].match.host: warning: route "site" takes every www.example.com request under /, so host-less route "api" (routes[0], /api) never sees www.example.com: a host's routes are all tried before host-less ones`;
    assert.equal(plain.code, 0, show(plain));
    assert.equal(plain.stdout, `${path}: ok (1 warning)\n`);
    assert.equal(plain.stderr, `${shadow}\n`);

    assert.equal(checked.code, 0, show(checked));
    assert.equal(checked.stdout, `${path}: ok (2 warnings)\n`);
    assert.deepEqual(checked.stderr.trim().split("\n"), [
      `${path}:4:5 services.app.targets: warning: no target of service "app" accepts a TCP connection: 127.0.0.1:${closedPort} (ECONNREFUSED)`,
      shadow,
    ]);

    assert.equal(json.code, 0, show(json));
    const report = JSON.parse(json.stdout) as { valid: boolean; errors: number; warnings: number; problems: { severity: string; path: string; line: number; text: string }[] };
    assert.deepEqual([report.valid, report.errors, report.warnings], [true, 0, 2]);
    assert.deepEqual(report.problems.map((p) => [p.severity, p.path, p.line]), [["warning", "services.app.targets", 4], ["warning", "routes[1].match.host", 7]]);
  });

  test("a misspelled key suggests the closest one", async () => {
    const path = await file("typo.yaml", ...service(), "routes:", "  - name: app", "    service: app", "    rateLimt: x");
    const result = await runCli(["validate", "-c", path]);
    assert.equal(result.code, 1, show(result));
    assert.equal(result.stderr, `${path}:7:5 routes[0].rateLimt: unknown key "rateLimt" (did you mean "rateLimit"?)\n`);
  });
});

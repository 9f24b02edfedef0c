// `rampart validate` beyond the schema: what `start` would reject (certificate files, no routes,
// colliding listeners) as errors, and warnings for shadowed routes and unreachable targets, each as
// FILE:LINE:COL key: message; plus "did you mean" for misspelled keys and names.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parseDocument } from "yaml";
import { collide, formatDiagnostic, knownKeys, parsePath, validateFile, withSuggestion } from "../../../src/cli/validate.js";
import { generateSelfSigned } from "../../../src/tls/self-signed.js";

let dir: string;
let counter = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "rampart-validate-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines = (...text: string[]) => `${text.join("\n")}\n`;
const BASE = ["listen: { http: 127.0.0.1:0, https: 127.0.0.1:0, admin: 127.0.0.1:0 }", "services:", "  app:", "    targets: [ { url: http://127.0.0.1:3001 } ]"];

/** Writes the YAML, validates it, returns the formatted lines with the file name replaced by F. */
async function validate(text: string, options: { checkTargets?: boolean } = {}): Promise<{ lines: string[]; ok: boolean }> {
  const file = join(dir, `c${++counter}.yaml`);
  await writeFile(file, text);
  const result = await validateFile(file, { env: {}, ...options });
  return { lines: result.diagnostics.map((d) => formatDiagnostic(d).replace(file, "F")), ok: result.config !== undefined };
}

describe("errors start would report", () => {
  test("an empty file", async () => {
    for (const text of ["", "# just a comment\n", "{}\n"]) {
      const result = await validate(text);
      assert.equal(result.ok, false);
      assert.deepEqual(result.lines, ["F:1:1 (root): the file is empty: a gateway needs at least one service and one route"], JSON.stringify(text));
    }
  });

  test("a file without routes", async () => {
    assert.deepEqual((await validate(lines(...BASE))).lines, ["F:1:1 routes: no routes: every request would be answered 404 (add at least one route)"]);
    assert.deepEqual((await validate(lines(...BASE, "routes: []"))).lines, ["F:5:1 routes: no routes: every request would be answered 404 (add at least one route)"]);
  });

  test("listeners on the same port of the same or a wildcard address", async () => {
    const result = await validate(lines("listen:", "  http: 0.0.0.0:8080", "  https: 127.0.0.1:8080", "  admin: 127.0.0.1:8080", ...BASE.slice(1), "routes: [ { name: app, service: app } ]"));
    assert.deepEqual(result.lines, [
      "F:3:10 listen.https: 127.0.0.1:8080 collides with listen.http (0.0.0.0:8080): both cannot bind the same port",
      "F:4:10 listen.admin: 127.0.0.1:8080 collides with listen.http (0.0.0.0:8080): both cannot bind the same port",
      "F:4:10 listen.admin: 127.0.0.1:8080 collides with listen.https (127.0.0.1:8080): both cannot bind the same port",
    ]);
  });

  test("collide(): port 0 never collides; different specific hosts do not", () => {
    const at = (host: string, port: number) => ({ host, port });
    assert.equal(collide(at("0.0.0.0", 0), at("0.0.0.0", 0)), false);
    assert.equal(collide(at("127.0.0.1", 80), at("127.0.0.2", 80)), false);
    assert.equal(collide(at("127.0.0.1", 80), at("127.0.0.1", 81)), false);
    assert.equal(collide(at("::", 80), at("127.0.0.1", 80)), true);
    assert.equal(collide(at("localhost", 80), at("127.0.0.1", 80)), true);
    assert.equal(collide(at("10.0.0.1", 80), at("10.0.0.1", 80)), true);
  });

  describe("tls.certificates", () => {
    let good: { cert: string; key: string };
    let other: { cert: string; key: string };
    before(async () => {
      const [a, b] = await Promise.all([generateSelfSigned(["example.com"]), generateSelfSigned(["other.example"])]);
      good = { cert: join(dir, "good.crt"), key: join(dir, "good.key") };
      other = { cert: join(dir, "other.crt"), key: join(dir, "other.key") };
      await Promise.all([writeFile(good.cert, a.cert), writeFile(good.key, a.key), writeFile(other.cert, b.cert), writeFile(other.key, b.key), writeFile(join(dir, "empty.pem"), "")]);
    });
    const withCert = (certFile: string, keyFile: string) =>
      lines(...BASE, "routes: [ { name: app, service: app } ]", "tls:", "  certificates:", `    - certFile: ${certFile}`, `      keyFile: ${keyFile}`);

    test("a matching pair passes", async () => {
      assert.deepEqual((await validate(withCert(good.cert, good.key))).lines, []);
    });

    test("a missing file names itself", async () => {
      const missing = join(dir, "missing.crt");
      const result = await validate(withCert(missing, good.key));
      assert.equal(result.lines.length, 1);
      assert.equal(result.lines[0], `F:8:17 tls.certificates[0].certFile: cannot read certificate file "${missing}": no such file`);
    });

    test("an empty certificate file or a key that is not a key", async () => {
      const result = await validate(withCert(join(dir, "empty.pem"), good.key));
      assert.match(result.lines[0]!, /^F:8:17 tls\.certificates\[0\]\.certFile: certificate ".*empty\.pem" is not a PEM X\.509 certificate/);
      const badKey = await validate(withCert(good.cert, good.cert));
      assert.match(badKey.lines[0]!, /^F:9:16 tls\.certificates\[0\]\.keyFile: private key ".*good\.crt" is not an unencrypted PEM private key/);
    });

    test("a key that belongs to another certificate", async () => {
      const result = await validate(withCert(good.cert, other.key));
      assert.equal(result.ok, false);
      assert.match(result.lines[0]!, /^F:9:16 tls\.certificates\[0\]\.keyFile: private key ".*other\.key" does not belong to certificate ".*good\.crt"$/);
    });

    test("an expired certificate is a warning", async () => {
      const old = await generateSelfSigned(["old.example"], { now: new Date(Date.now() - 400 * 86_400_000) });
      const cert = join(dir, "old.crt");
      const key = join(dir, "old.key");
      await Promise.all([writeFile(cert, old.cert), writeFile(key, old.key)]);
      const result = await validate(withCert(cert, key));
      assert.equal(result.ok, true);
      assert.match(result.lines[0]!, /^F:8:17 tls\.certificates\[0\]\.certFile: warning: certificate ".*old\.crt" expired on /);
    });
  });
});

describe("warnings", () => {
  test("a host route whose prefix covers host-less routes' takes that host's requests from them", async () => {
    const result = await validate(
      lines(
        ...BASE,
        "routes:",
        "  - { name: api, service: app, match: { pathPrefix: /api } }",
        "  - { name: docs, service: app, match: { pathPrefix: /docs, methods: [GET] } }",
        "  - { name: www, service: app, match: { host: www.example.com } }",
        "  - { name: www-api, service: app, match: { host: www.example.com, pathPrefix: /api } }",
        "  - { name: other-host, service: app, match: { host: other.example, pathPrefix: /static } }",
      ),
    );
    assert.equal(result.ok, true);
    assert.deepEqual(result.lines, [
      'F:8:41 routes[2].match.host: warning: route "www" takes every www.example.com request under /, so host-less route "docs" (routes[1], /docs) never sees www.example.com: a host\'s routes are all tried before host-less ones',
      'F:9:45 routes[3].match.host: warning: route "www-api" takes every www.example.com request under /api, so host-less route "api" (routes[0], /api) never sees www.example.com: a host\'s routes are all tried before host-less ones',
    ]);
  });

  test("a host route limited to some methods leaves the others to the host-less route", async () => {
    const result = await validate(
      lines(...BASE, "routes:", "  - { name: api, service: app, match: { pathPrefix: /api } }", "  - { name: www, service: app, match: { host: www.example.com, methods: [GET] } }"),
    );
    assert.deepEqual(result.lines, []);
  });

  describe("--check-targets", () => {
    let server: Server;
    let open: number;
    let closed: number;
    before(async () => {
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
      closed = (probe.address() as { port: number }).port;
      await new Promise((resolve) => probe.close(resolve));
      server = createServer((socket) => socket.destroy());
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      open = (server.address() as { port: number }).port;
    });
    after(() => new Promise((resolve) => server.close(resolve)));

    test("warns for a service none of whose targets accepts a connection, not for one with a live target", async () => {
      const text = lines(
        "listen: { http: 127.0.0.1:0, https: 127.0.0.1:0, admin: 127.0.0.1:0 }",
        "services:",
        "  down:",
        `    targets: [ { url: http://127.0.0.1:${closed} }, { url: "http://[::1]:${closed}" } ]`,
        "  half:",
        `    targets: [ { url: http://127.0.0.1:${closed} }, { url: http://127.0.0.1:${open} } ]`,
        "routes: [ { name: a, service: down }, { name: b, service: half } ]",
      );
      assert.deepEqual((await validate(text)).lines, [], "no connections are tried without --check-targets");
      const result = await validate(text, { checkTargets: true });
      assert.equal(result.ok, true);
      assert.equal(result.lines.length, 1);
      assert.match(result.lines[0]!, new RegExp(`^F:4:5 services\\.down\\.targets: warning: no target of service "down" accepts a TCP connection: 127\\.0\\.0\\.1:${closed} \\(ECONNREFUSED\\), \\[::1\\]:${closed} \\((ECONNREFUSED|EADDRNOTAVAIL|ENETUNREACH|EAFNOSUPPORT)\\)$`));
    });
  });
});

describe("did you mean", () => {
  test("misspelled keys and names get the closest one", async () => {
    const result = await validate(
      lines(
        "listen: { http: 127.0.0.1:0, https: 127.0.0.1:0, admin: 127.0.0.1:0 }",
        "services:",
        "  app:",
        "    targets: [ { url: http://127.0.0.1:3001 } ]",
        "    helthCheck: {}",
        "rateLimits: { per-ip: { limit: 10, window: 1s } }",
        "routes:",
        "  - name: app",
        "    service: apq",
        "    rateLimt: per-ip",
        "    match: { pathPrefx: /x }",
        "  - { name: b, service: app, rateLimit: per-ipp }",
        "shutdownGrase: 5s",
        "zzz: 1",
      ),
    );
    assert.equal(result.ok, false);
    assert.deepEqual(result.lines, [
      'F:5:5 services.app.helthCheck: unknown key "helthCheck" (did you mean "healthCheck"?)',
      'F:9:14 routes[0].service: unknown service "apq" (did you mean "app"?)',
      'F:10:5 routes[0].rateLimt: unknown key "rateLimt" (did you mean "rateLimit"?)',
      'F:11:14 routes[0].match.pathPrefx: unknown key "pathPrefx" (did you mean "pathPrefix"?)',
      'F:12:41 routes[1].rateLimit: unknown rate limit "per-ipp" (did you mean "per-ip"?)',
      'F:13:1 shutdownGrase: unknown key "shutdownGrase" (did you mean "shutdownGrace"?)',
      'F:14:1 zzz: unknown key "zzz"',
    ]);
  });

  test("parsePath reads what the loader renders", () => {
    assert.deepEqual(parsePath("routes[0].rateLimt"), ["routes", 0, "rateLimt"]);
    assert.deepEqual(parsePath('services["my svc"].targets[1].url'), ["services", "my svc", "targets", 1, "url"]);
    assert.deepEqual(parsePath("(root)"), []);
    assert.equal(parsePath("routes[x]"), undefined);
  });

  test("knownKeys follows objects, maps and lists of the schema", () => {
    assert.ok(knownKeys([]).includes("rateLimits"));
    assert.ok(knownKeys(["routes", 3]).includes("rateLimit"));
    assert.ok(knownKeys(["services", "any-name"]).includes("healthCheck"));
    assert.ok(knownKeys(["services", "any-name", "targets", 0]).includes("weight"));
    assert.deepEqual(knownKeys(["services"]), [], "service names are free");
  });

  test("a problem that is not about a name is left alone", () => {
    const problem = { file: "F", line: 1, col: 1, path: "shutdownGrace", message: '"soon" is not a duration' };
    assert.deepEqual(withSuggestion(problem, parseDocument("")), problem);
  });
});

test("an unreadable file says so, as the loader does", async () => {
  const result = await validateFile(join(dir, "nope.yaml"), { env: {} });
  assert.equal(result.config, undefined);
  assert.deepEqual(result.diagnostics.map(formatDiagnostic), [`${join(dir, "nope.yaml")}:1:1 (root): cannot read the config file (no such file)`]);
});

test("tls.clientAuth.ca: a missing or certificate-less file is the error start would give", async () => {
  const config = (ca: string) => lines(...BASE, "routes: [ { name: app, service: app } ]", "tls:", `  clientAuth: { ca: ${ca} }`);
  const missing = join(dir, "no-client-ca.pem");
  assert.deepEqual((await validate(config(missing))).lines, [`F:7:21 tls.clientAuth.ca: cannot read "${missing}": no such file`]);
  const keyOnly = join(dir, "client-ca-key.pem");
  await writeFile(keyOnly, (await generateSelfSigned(["example.com"])).key);
  assert.deepEqual((await validate(config(keyOnly))).lines, [`F:7:21 tls.clientAuth.ca: "${keyOnly}" holds no PEM certificate`]);
  const good = join(dir, "client-ca.pem");
  await writeFile(good, (await generateSelfSigned(["example.com"])).cert);
  assert.deepEqual((await validate(config(good))).lines, []);
});

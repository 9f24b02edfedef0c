import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ConfigError, formatProblem, loadConfigFile, loadConfigText, type ConfigProblem } from "../../../src/config/load.js";

// Compiled to dist/test/unit/config/, while the fixtures stay in the source tree.
const FIXTURES = join(fileURLToPath(new URL("../../../../", import.meta.url)), "test", "fixtures", "config");
const fixture = (name: string) => join(FIXTURES, name);

/** Lines joined, so a test can count the line numbers it asserts. */
const yaml = (...lines: string[]) => `${lines.join("\n")}\n`;

function problemsOf(load: () => unknown): readonly ConfigProblem[] {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return assert.fail("expected a ConfigError");
}

/** Formatted problems of inline YAML, reported as test.yaml. */
function problems(text: string, env: Record<string, string | undefined> = {}): string[] {
  return problemsOf(() => loadConfigText(text, "test.yaml", env)).map(formatProblem);
}

const SERVICE = ["services:", "  api:", "    targets:", "      - url: http://127.0.0.1:3001"];

describe("defaults", () => {
  test("an empty document means every default", () => {
    for (const text of ["", "\n", "# only a comment\n", "---\n"]) {
      const config = loadConfigText(text, "test.yaml", {});
      assert.deepEqual(config.listen.https, { host: "0.0.0.0", port: 8443 });
      assert.deepEqual(config.listen.admin, { host: "127.0.0.1", port: 9901 });
      assert.equal(config.limits.maxBodySize, 10_485_760);
      assert.equal(config.limits.maxHeaderSize, 16_384);
      assert.equal(config.limits.headersTimeout, 10_000);
      assert.equal(config.shutdownGrace, 10_000);
      assert.equal(config.workers, 1);
      assert.equal(config.tls.acme.renewBefore, 30 * 86_400_000);
      assert.equal(config.tls.acme.directoryUrl, "https://acme-staging-v02.api.letsencrypt.org/directory");
      assert.deepEqual(config.rateLimits, {});
      assert.deepEqual(config.routes, []);
    }
  });

  test("the empty fixture file loads", () => {
    assert.equal(loadConfigFile(fixture("empty.yaml"), {}).limits.maxBodySize, 10_485_760);
  });

  test("defaults inside an optional block apply once the block is present", () => {
    const config = loadConfigText(yaml(...SERVICE, "    healthCheck: {}"), "test.yaml", {});
    const check = config.services.api?.healthCheck;
    assert.deepEqual(check, {
      path: "/health",
      grpc: false,
      interval: 5_000,
      timeout: 2_000,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      expectStatus: { min: 200, max: 399 },
    });
    assert.equal(config.services.api?.circuitBreaker, undefined);
  });

  test("the example in DESIGN.md is a valid config", () => {
    const config = loadConfigFile(fixture("design-example.yaml"), {});
    assert.equal(config.routes[0]?.service, "api");
    assert.equal(config.jails["auth-failures"]?.banTimeIncrement?.maxTime, 7 * 86_400_000);
    assert.equal(config.adminToken, "");
  });
});

test("the result is deeply frozen", () => {
  const config = loadConfigFile(fixture("minimal.yaml"), {});
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.limits));
  assert.ok(Object.isFrozen(config.routes));
  assert.ok(Object.isFrozen(config.routes[0]?.match));
  assert.ok(Object.isFrozen(config.services.web?.targets[0]));
  // ES modules run in strict mode, where writing to a frozen object throws.
  assert.throws(() => {
    (config.limits as { maxBodySize: number }).maxBodySize = 1;
  }, TypeError);
  assert.throws(() => config.routes.push(config.routes[0]!), TypeError);
  assert.throws(() => {
    (config.services as Record<string, unknown>).extra = {};
  }, TypeError);
});

describe("unknown keys", () => {
  test("at the top level, at the key's own line", () => {
    assert.deepEqual(problems(yaml("log:", "  level: info", "rateLimt: {}")), ['test.yaml:3:1 rateLimt: unknown key "rateLimt"']);
  });

  test("nested, each on its own line", () => {
    assert.deepEqual(problems(yaml("limits:", "  maxBodySise: 1MiB", "  idleTimeout: 5s", "  headerTimeout: 5s")), [
      'test.yaml:2:3 limits.maxBodySise: unknown key "maxBodySise"',
      'test.yaml:4:3 limits.headerTimeout: unknown key "headerTimeout"',
    ]);
  });

  test("inside a list item and a flow mapping", () => {
    assert.deepEqual(problems(yaml(...SERVICE, "        wieght: 2", "    retry: { attempts: 1, backoff: 2s }")), [
      'test.yaml:5:9 services.api.targets[0].wieght: unknown key "wieght"',
      'test.yaml:6:27 services.api.retry.backoff: unknown key "backoff"',
    ]);
  });
});

describe("references between sections", () => {
  test("a typo'd route service points at the value", () => {
    const file = fixture("typo-service.yaml");
    assert.deepEqual(problemsOf(() => loadConfigFile(file, {})), [
      { file, line: 11, col: 14, path: "routes[1].service", message: 'unknown service "apii"' },
    ]);
  });

  test("a name inherited from Object.prototype is not a service", () => {
    assert.deepEqual(problems(yaml(...SERVICE, "routes:", "  - name: a", "    service: constructor")), [
      'test.yaml:7:14 routes[0].service: unknown service "constructor"',
    ]);
  });

  test("unknown rate limit and jail names", () => {
    assert.deepEqual(problems(yaml(...SERVICE, "routes:", "  - name: a", "    service: api", "    rateLimit: per-ip", "    jails: [scanners]")), [
      'test.yaml:8:16 routes[0].rateLimit: unknown rate limit "per-ip"',
      'test.yaml:9:13 routes[0].jails[0]: unknown jail "scanners"',
    ]);
  });

  test("duplicate route names point at the second name", () => {
    assert.deepEqual(problems(yaml(...SERVICE, "routes:", "  - name: api", "    service: api", "  - name: api", "    service: api")), [
      'test.yaml:8:11 routes[1].name: duplicate route name "api"',
    ]);
  });

  test("stripPrefix must be a prefix of the route's path", () => {
    assert.deepEqual(problems(yaml(...SERVICE, "routes:", "  - name: a", "    service: api", "    match: { pathPrefix: /v1 }", "    stripPrefix: /v2")), [
      'test.yaml:9:18 routes[0].stripPrefix: "/v2" is not a prefix of the route\'s pathPrefix "/v1"',
    ]);
  });
});

describe("values", () => {
  test("a bad duration", () => {
    assert.deepEqual(problems(yaml("shutdownGrace: 10 seconds")), [
      'test.yaml:1:16 shutdownGrace: "10 seconds" is not a duration (e.g. 250ms, 10s, 5m, 1h, 7d)',
    ]);
  });

  test("a duration without a unit is refused, not guessed", () => {
    assert.deepEqual(problems(yaml("limits:", "  idleTimeout: 30")), [
      "test.yaml:2:16 limits.idleTimeout: expected a duration with a unit, such as 10s or 5m (got 30)",
    ]);
  });

  test("a bad size", () => {
    assert.deepEqual(problems(yaml("limits:", "  maxBodySize: 10 megs")), [
      'test.yaml:2:16 limits.maxBodySize: "10 megs" is not a size (e.g. 16KiB, 10MiB)',
    ]);
  });

  test("a size given as a plain number is bytes", () => {
    assert.equal(loadConfigText(yaml("limits:", "  maxBodySize: 1048576"), "test.yaml", {}).limits.maxBodySize, 1_048_576);
  });

  test("an invalid choice lists the allowed values", () => {
    assert.deepEqual(problems(yaml("log:", "  level: verbose")), [
      'test.yaml:2:10 log.level: expected one of: fatal, error, warn, info, debug, trace, silent (got "verbose")',
    ]);
  });

  test("numbers: wrong type, out of range, not whole", () => {
    assert.deepEqual(problems(yaml("workers: many", "limits:", "  maxConnectionsPerIp: 0", "rateLimits:", "  x: { limit: 1.5, window: 1m }")), [
      'test.yaml:1:10 workers: expected a number or "auto" (got "many")',
      "test.yaml:3:24 limits.maxConnectionsPerIp: must be at least 1",
      "test.yaml:5:15 rateLimits.x.limit: expected a whole number (got 1.5)",
    ]);
  });

  test("an invalid field does not hide cross-reference problems", () => {
    assert.deepEqual(problems(yaml("rateLimits:", "  x: { limit: 1.5, window: 1m }", "routes:", "  - name: a", "    service: web")), [
      "test.yaml:2:15 rateLimits.x.limit: expected a whole number (got 1.5)",
      'test.yaml:5:14 routes[0].service: unknown service "web"',
    ]);
  });

  test("a mapping where a scalar belongs points at the key", () => {
    assert.deepEqual(problems(yaml("listen:", "  http:", "    port: 80")), ['test.yaml:2:3 listen.http: expected a string (got a mapping)']);
  });

  test("a document that is not a mapping", () => {
    assert.deepEqual(problems(yaml("- listen")), ["test.yaml:1:1 (root): expected a mapping (got a list)"]);
  });
});

describe("missing required keys", () => {
  test("point at the parent's line", () => {
    assert.deepEqual(problems(yaml("log:", "  level: info", "rateLimits:", "  per-ip:", "    window: 1m")), [
      'test.yaml:4:3 rateLimits.per-ip.limit: missing required key "limit"',
    ]);
  });

  test("inside a list item, point at the item", () => {
    assert.deepEqual(problems(yaml(...SERVICE, "routes:", "  - name: a", "    stripPrefix: /")), [
      'test.yaml:6:5 routes[0].service: missing required key "service" (or "split", or "respond")',
    ]);
  });
});

describe("rules across keys", () => {
  test("an admin address off loopback needs a token", () => {
    assert.deepEqual(problems(yaml("listen:", "  admin: 0.0.0.0:9901")), [
      "test.yaml:2:10 listen.admin: an admin address off loopback needs adminToken (set RAMPART_ADMIN_TOKEN)",
    ]);
    assert.equal(loadConfigText(yaml("listen:", "  admin: 0.0.0.0:9901", "adminToken: s3cret"), "test.yaml", {}).adminToken, "s3cret");
    assert.equal(loadConfigText(yaml("listen:", "  admin: '[::1]:9901'"), "test.yaml", {}).listen.admin.host, "::1");
  });

  test("a wildcard ACME domain is refused while ACME is enabled", () => {
    const text = (enabled: boolean) => yaml("tls:", "  acme:", `    enabled: ${enabled}`, "    domains:", "      - example.com", "      - '*.example.com'");
    assert.deepEqual(problems(text(true)), [
      "test.yaml:6:9 tls.acme.domains[1]: wildcard names need the DNS-01 challenge (tls.acme.challenge: dns-01 with tls.acme.dns)",
    ]);
    assert.deepEqual(loadConfigText(text(false), "test.yaml", {}).tls.acme.domains, ["example.com", "*.example.com"]);
  });

  test("a wildcard is accepted with DNS-01, which needs a provider with its own block", () => {
    const acme = (...dns: string[]) =>
      yaml("tls:", "  acme:", "    enabled: true", "    challenge: dns-01", "    domains: ['*.example.com']", ...dns);
    assert.match(problems(acme()).join("\n"), /tls\.acme\.dns: challenge dns-01 needs tls\.acme\.dns/);
    assert.match(problems(acme("    dns: { provider: rfc2136 }")).join("\n"), /tls\.acme\.dns: the provider's own block is missing/);
    const config = loadConfigText(acme("    dns:", "      provider: exec", "      exec: { command: /usr/local/bin/dns-hook }"), "test.yaml", {});
    assert.equal(config.tls.acme.dns?.exec?.command, "/usr/local/bin/dns-hook");
    assert.equal(config.tls.acme.dns?.propagationTimeout, 60_000);
  });

  test("on-demand TLS needs ACME and an ask URL; client auth needs a CA; mTLS to targets needs cert and key", () => {
    assert.deepEqual(problems(yaml("tls:", "  onDemand: { enabled: true }")), [
      "test.yaml:2:3 tls.onDemand.ask: on-demand TLS needs an ask URL (http://... answering 2xx for names to certify)",
      "test.yaml:2:24 tls.onDemand.enabled: on-demand TLS needs tls.acme.enabled: true",
    ]);
    assert.match(problems(yaml("tls:", "  clientAuth: { mode: require }")).join("\n"), /tls\.clientAuth\.ca: mode require needs the CA/);
    assert.match(
      problems(yaml("services:", "  api:", "    targets: [{ url: 'https://127.0.0.1:1' }]", "    tls: { cert: c.pem }")).join("\n"),
      /services\.api\.tls\.key: a client certificate needs both cert and key/,
    );
  });

  test("h2c on the HTTP listener needs the redirect off", () => {
    assert.deepEqual(problems(yaml("http2:", "  cleartext: true")), [
      "test.yaml:2:14 http2.cleartext: h2c on the HTTP listener needs tls.redirectHttp: false (otherwise it only redirects)",
    ]);
    assert.equal(loadConfigText(yaml("http2:", "  cleartext: true", "tls:", "  redirectHttp: false"), "test.yaml", {}).http2.cleartext, true);
  });

  test("an HTTP/2 service's targets match its protocol, and gRPC health checks need HTTP/2", () => {
    const service = (protocol: string, url: string, grpc: boolean) =>
      yaml("services:", "  api:", `    protocol: ${protocol}`, "    targets:", `      - url: ${url}`, "    healthCheck:", `      grpc: ${grpc}`);
    assert.deepEqual(problems(service("h2c", "https://127.0.0.1:50051", true)), ["test.yaml:5:14 services.api.targets[0].url: protocol h2c needs http:// targets"]);
    assert.deepEqual(problems(service("h2", "http://127.0.0.1:50051", true)), ["test.yaml:5:14 services.api.targets[0].url: protocol h2 needs https:// targets"]);
    assert.deepEqual(problems(service("http1", "http://127.0.0.1:3000", true)), ["test.yaml:7:13 services.api.healthCheck.grpc: the gRPC health protocol needs protocol: h2c or h2"]);
    const loaded = loadConfigText(service("h2c", "http://127.0.0.1:50051", true), "test.yaml", {});
    assert.deepEqual([loaded.services.api?.protocol, loaded.services.api?.healthCheck?.grpc], ["h2c", true]);
  });
});

test("every problem is reported at once, sorted by position", () => {
  const file = fixture("many-problems.yaml");
  const found = problemsOf(() => loadConfigFile(file, {}));
  assert.ok(found.every((problem) => problem.file === file));
  assert.deepEqual(
    found.map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`),
    [
      "2:10 listen.admin: an admin address off loopback needs adminToken (set RAMPART_ADMIN_TOKEN)",
      '3:16 shutdownGrace: "soon" is not a duration (e.g. 250ms, 10s, 5m, 1h, 7d)',
      '5:16 limits.maxBodySize: "ten megs" is not a size (e.g. 16KiB, 10MiB)',
      '6:1 rateLimt: unknown key "rateLimt"',
      '8:3 rateLimits.per-ip.limit: missing required key "limit"',
      '14:15 services.api.balancer: expected one of: round-robin, least-requests, ip-hash, random (got "fastest")',
      '18:11 routes[1].name: duplicate route name "api"',
      '19:14 routes[1].service: unknown service "apii"',
      "25:9 tls.acme.domains[1]: wildcard names need the DNS-01 challenge (tls.acme.challenge: dns-01 with tls.acme.dns)",
    ],
  );
});

describe("environment interpolation", () => {
  test("${VAR} and ${VAR:-default}", () => {
    const config = loadConfigFile(fixture("env.yaml"), {
      STORE_KIND: "redis",
      REDIS_HOST: "10.0.0.5",
      ADMIN_ADDRESS: "0.0.0.0:9901",
      RAMPART_ADMIN_TOKEN: "0123",
    });
    assert.equal(config.store.kind, "redis");
    assert.equal(config.store.redis.url, "redis://10.0.0.5:6379");
    assert.deepEqual(config.listen.admin, { host: "0.0.0.0", port: 9901 });
    // All digits, yet still the string the schema asks for.
    assert.equal(config.adminToken, "0123");
    assert.equal(config.workers, "auto");
  });

  test("defaults apply to unset and to empty variables; $${ is a literal ${", () => {
    const config = loadConfigFile(fixture("env.yaml"), { STORE_KIND: "memory", REDIS_HOST: "" });
    assert.equal(config.store.redis.url, "redis://127.0.0.1:6379");
    assert.deepEqual(config.listen.admin, { host: "127.0.0.1", port: 9901 });
    assert.equal(config.adminToken, "");
    assert.equal(config.store.redis.keyPrefix, "${literal}:");
  });

  test("an unquoted value becomes a number or boolean where the schema wants one", () => {
    const text = yaml("workers: ${WORKERS}", "rateLimits:", "  x:", "    limit: ${LIMIT:-100}", "    window: ${WINDOW:-1m}", "log:", "  access: ${ACCESS}");
    const config = loadConfigText(text, "test.yaml", { WORKERS: "4", ACCESS: "false" });
    assert.equal(config.workers, 4);
    assert.deepEqual(config.rateLimits.x, { limit: 100, window: 60_000, key: "ip" });
    assert.equal(config.log.access, false);
  });

  test("a quoted value stays a string", () => {
    assert.deepEqual(problems(yaml('workers: "${WORKERS}"'), { WORKERS: "4" }), ['test.yaml:1:10 workers: expected a number or "auto" (got "4")']);
  });

  test("every unset variable is a problem at its own value", () => {
    assert.deepEqual(problems(yaml("adminToken: ${TOKEN}", "store:", "  kind: memory", "  dir: ${STATE_DIR}/rampart")), [
      "test.yaml:1:13 adminToken: environment variable TOKEN is not set",
      "test.yaml:4:8 store.dir: environment variable STATE_DIR is not set",
    ]);
    assert.deepEqual(
      problemsOf(() => loadConfigFile(fixture("env.yaml"), {})).map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`),
      ["7:9 store.kind: environment variable STORE_KIND is not set"],
    );
  });

  test("a malformed reference is a problem", () => {
    assert.deepEqual(problems(yaml("adminToken: ${1TOKEN}")), [
      "test.yaml:1:13 adminToken: malformed reference in \"${1TOKEN}\": use ${NAME} or ${NAME:-default}, or $${ for a literal ${",
    ]);
  });

  test("the process environment is the default", () => {
    process.env.RAMPART_LOAD_TEST_TOKEN = "from-process";
    try {
      assert.equal(loadConfigText(yaml("adminToken: ${RAMPART_LOAD_TEST_TOKEN}"), "test.yaml").adminToken, "from-process");
    } finally {
      delete process.env.RAMPART_LOAD_TEST_TOKEN;
    }
  });
});

describe("YAML syntax", () => {
  test("a syntax error reports its line", () => {
    const file = fixture("syntax-error.yaml");
    const [problem, ...rest] = problemsOf(() => loadConfigFile(file, {}));
    assert.deepEqual(rest, []);
    assert.equal(problem?.line, 4);
    assert.equal(problem?.col, 1);
    assert.match(problem?.message ?? "", /^YAML syntax error: all mapping items must start at the same column/);
  });

  test("a duplicate key is a problem at the second occurrence", () => {
    assert.deepEqual(problems(yaml("listen:", "  http: :8080", "  https: :8443", "  http: :8081")), [
      "test.yaml:4:3 listen.http: duplicate key: this key is already set earlier in the same mapping",
    ]);
  });

  test("${...} inside a flow mapping gets a hint to quote it", () => {
    const [first] = problems(yaml("rateLimits:", "  x: { limit: ${LIMIT}, window: 1m }"));
    assert.match(first ?? "", /^test\.yaml:2:\d+ .*YAML syntax error: .*\(quote values that contain \$\{\.\.\.\} inside \{ \} or \[ \]\)$/);
  });

  test("more than one document is refused", () => {
    assert.deepEqual(problems(yaml("workers: 1", "---", "workers: 2")), [
      "test.yaml:2:1 (root): YAML syntax error: the file must hold one document (remove the extra ---)",
    ]);
  });
});

describe("files and formatting", () => {
  test("formatProblem prints FILE:LINE:COL path: message", () => {
    const problem = { file: "config/gateway.yaml", line: 14, col: 14, path: "routes[2].service", message: 'unknown service "apii"' };
    assert.equal(formatProblem(problem), 'config/gateway.yaml:14:14 routes[2].service: unknown service "apii"');
    assert.equal(formatProblem({ ...problem, path: "" }), 'config/gateway.yaml:14:14 (root): unknown service "apii"');
  });

  test("odd keys are quoted in paths", () => {
    assert.deepEqual(problems(yaml("services:", "  api v2:", "    targets: [{ url: 'http://127.0.0.1:1' }]")), [
      'test.yaml:2:3 services["api v2"]: service names are letters, digits, _ . and -',
    ]);
  });

  test("ConfigError carries every problem and prints them one per line", () => {
    assert.throws(() => loadConfigText(yaml("a: 1", "b: 2"), "test.yaml", {}), (thrown: unknown) => {
      assert.ok(thrown instanceof ConfigError);
      assert.ok(thrown instanceof Error);
      assert.equal(thrown.name, "ConfigError");
      assert.equal(thrown.message, 'test.yaml:1:1 a: unknown key "a"\ntest.yaml:2:1 b: unknown key "b"');
      assert.equal(thrown.problems.length, 2);
      assert.ok(Object.isFrozen(thrown.problems));
      return true;
    });
  });

  test("a missing file is a ConfigError at 1:1", () => {
    const file = fixture("does-not-exist.yaml");
    assert.deepEqual(problemsOf(() => loadConfigFile(file, {})), [
      { file, line: 1, col: 1, path: "(root)", message: "cannot read the config file (no such file)" },
    ]);
  });

  test("a directory is not a config file", () => {
    const [problem] = problemsOf(() => loadConfigFile(FIXTURES, {}));
    assert.equal(problem?.message, "cannot read the config file (it is a directory)");
  });
});

// `rampart config`: the loaded config written back in the file's units, defaults filled in, secrets
// redacted; loading that output again gives the same config (secrets aside).
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { formatDuration, formatSize, inputForm, isSecretName, redact, redactUrl, renderEffectiveConfig, REDACTED } from "../../../src/cli/effective-config.js";
import { loadConfigFile, loadConfigText } from "../../../src/config/load.js";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

const SECRETS = `
listen: { http: ":8080", https: "[::1]:8443", admin: 127.0.0.1:9901 }
adminToken: \${ADMIN_TOKEN}
store:
  kind: memory
  redis:
    url: redis://default:hunter2@redis.internal:6379/0
    cluster: [ "redis://:clusterpw@10.0.0.1:7000", redis://10.0.0.2:7000 ]
    keyPrefix: "rampart:"
tls:
  certificates: [ { certFile: certs/site.crt, keyFile: certs/site.key } ]
  acme: { eab: { kid: kid-1, hmacKey: c2VjcmV0LWhtYWM } }
rateLimits:
  per-key: { limit: 100, window: 1m, key: "header:x-api-key" }
services:
  api:
    targets: [ { url: http://127.0.0.1:3001 } ]
    healthCheck: { interval: 1500ms, expectStatus: 204 }
    timeouts: { connect: 250ms, response: 90s }
routes:
  - name: api
    service: api
    slo: { availability: 99.9, latency: { threshold: 300ms, objective: 99 } }
`;

const ENV = { ADMIN_TOKEN: "t0p-s3cret" };

describe("units written back", () => {
  test("durations in the largest unit that divides them", () => {
    assert.equal(formatDuration(0), "0s");
    assert.equal(formatDuration(250), "250ms");
    assert.equal(formatDuration(1_500), "1500ms");
    assert.equal(formatDuration(90_000), "90s");
    assert.equal(formatDuration(60_000), "1m");
    assert.equal(formatDuration(3_600_000), "1h");
    assert.equal(formatDuration(30 * 86_400_000), "30d");
  });

  test("sizes in binary units when they divide, else decimal, else bytes", () => {
    assert.equal(formatSize(0), 0);
    assert.equal(formatSize(16_384), "16KiB");
    assert.equal(formatSize(10_485_760), "10MiB");
    assert.equal(formatSize(1_073_741_824), "1GiB");
    assert.equal(formatSize(1_000), "1KB");
    assert.equal(formatSize(1_000_000), "1MB");
    assert.equal(formatSize(100), 100);
  });

  test("listen addresses, status ranges and durations come back as the file writes them", () => {
    const form = inputForm(loadConfigText(SECRETS, "t.yaml", ENV)) as Record<string, Record<string, unknown>>;
    assert.deepEqual(form.listen, { http: "0.0.0.0:8080", https: "[::1]:8443", admin: "127.0.0.1:9901" });
    const api = (form.services as Record<string, Record<string, Record<string, unknown>>>).api!;
    assert.equal(api.healthCheck!.interval, "1500ms");
    assert.equal(api.healthCheck!.expectStatus, "204");
    assert.equal(api.healthCheck!.timeout, "2s", "defaults are filled in");
    assert.deepEqual(api.timeouts, { connect: "250ms", response: "90s" });
    assert.equal(form.shutdownGrace, "10s");
    assert.equal((form.limits as Record<string, unknown>).maxBodySize, "10MiB");
  });

  test("the output loads again into the same config", () => {
    for (const file of [join(ROOT, "config", "gateway.yaml"), join(ROOT, "test", "fixtures", "config", "design-example.yaml")]) {
      const config = loadConfigFile(file, {});
      assert.deepEqual(loadConfigText(stringify(inputForm(config)), "again.yaml", {}), config, file);
    }
    const config = loadConfigText(SECRETS, "t.yaml", ENV);
    assert.deepEqual(loadConfigText(stringify(inputForm(config)), "again.yaml", {}), config);
  });
});

describe("redaction", () => {
  test("secret names", () => {
    for (const name of ["adminToken", "hmacKey", "password", "secret", "apiKey", "privateKey", "clientSecret", "tokenFile"]) assert.ok(isSecretName(name), name);
    for (const name of ["key", "keyFile", "keyPrefix", "keyName", "username", "kid", "url", "maxRetry"]) assert.ok(!isSecretName(name), name);
  });

  test("URL passwords, and only them", () => {
    assert.equal(redactUrl("redis://default:hunter2@redis.internal:6379/0"), `redis://default:${REDACTED}@redis.internal:6379/0`);
    assert.equal(redactUrl("redis://:pw@10.0.0.1:7000"), `redis://:${REDACTED}@10.0.0.1:7000`);
    assert.equal(redactUrl("redis://10.0.0.2:7000"), "redis://10.0.0.2:7000");
    assert.equal(redactUrl("http://user@host/path"), "http://user@host/path");
    assert.equal(redactUrl("not a url: a:b@c"), "not a url: a:b@c");
  });

  test("walks objects and arrays; empty secrets stay empty (they say no token is set)", () => {
    assert.deepEqual(redact({ adminToken: "", a: [{ password: "x" }], eab: { hmacKey: "k", kid: "id" }, n: 3 }), {
      adminToken: "",
      a: [{ password: REDACTED }],
      eab: { hmacKey: REDACTED, kid: "id" },
      n: 3,
    });
  });

  test("DNS-01 provider secrets are redacted; key names and users are not", () => {
    const dns = { provider: "rfc2136", rfc2136: { server: "127.0.0.1:53", keyName: "rampart", secret: "tsig==" }, httpreq: { url: "https://u:pw@dns.internal", username: "u", password: "p" } };
    assert.deepEqual(redact(dns), {
      provider: "rfc2136",
      rfc2136: { server: "127.0.0.1:53", keyName: "rampart", secret: REDACTED },
      httpreq: { url: `https://u:${REDACTED}@dns.internal`, username: "u", password: REDACTED },
    });
  });

  test("the printed config holds no secret and keeps everything else", () => {
    const config = loadConfigText(SECRETS, "t.yaml", ENV);
    for (const format of ["yaml", "json"] as const) {
      const text = renderEffectiveConfig(config, "t.yaml", format);
      for (const secret of ["t0p-s3cret", "hunter2", "clusterpw", "c2VjcmV0LWhtYWM"]) assert.ok(!text.includes(secret), `${format} shows ${secret}`);
      const printed = (format === "json" ? JSON.parse(text) : parse(text)) as Record<string, Record<string, Record<string, unknown>>>;
      assert.equal(printed.adminToken, REDACTED);
      assert.equal(printed.store!.redis!.url, `redis://default:${REDACTED}@redis.internal:6379/0`);
      assert.deepEqual(printed.store!.redis!.cluster, [`redis://:${REDACTED}@10.0.0.1:7000`, "redis://10.0.0.2:7000"]);
      assert.equal(printed.store!.redis!.keyPrefix, "rampart:");
      assert.deepEqual(printed.tls!.acme!.eab, { kid: "kid-1", hmacKey: REDACTED });
      assert.deepEqual(printed.tls!.certificates, [{ certFile: "certs/site.crt", keyFile: "certs/site.key" }]);
      assert.equal((printed.rateLimits!["per-key"] as Record<string, unknown>).key, "header:x-api-key");
    }
  });

  test("the YAML output starts with a comment naming the file and is itself a valid config", () => {
    const text = renderEffectiveConfig(loadConfigText(SECRETS, "t.yaml", ENV), "t.yaml", "yaml");
    assert.match(text, /^# The effective config of t\.yaml: every default filled in/);
    const again = loadConfigText(text, "printed.yaml", {});
    assert.equal(again.adminToken, REDACTED);
    assert.equal(again.routes[0]!.slo!.latency!.threshold, 300);
  });
});

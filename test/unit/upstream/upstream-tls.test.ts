// services.*.tls resolved at load: files read and checked once (each problem named by key and file, at
// its line in the config), options frozen, serverName as SNI and as the name verified, verify: false,
// the per-target SNI rule (none for IP literals), and the comparison a reload uses to keep a pool.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import type { PeerCertificate } from "node:tls";
import { validateFile } from "../../../src/cli/validate.js";
import { ConfigError, loadConfigText } from "../../../src/config/load.js";
import type { UpstreamTlsConfig } from "../../../src/config/schema.js";
import { loadServicesTls, loadUpstreamTls, sameUpstreamTls, targetTlsOptions, type TlsFileKey, type UpstreamTls } from "../../../src/upstream/upstream-tls.js";
import { makePki, type Pki } from "../../helpers/test-pki.js";

let pki: Pki;
let ca: string;
let leaf: { cert: string; key: string };
let other: { cert: string; key: string };

before(async () => {
  pki = await makePki();
  ca = pki.ca("unit");
  leaf = pki.issue("leaf", "unit", { client: true });
  other = pki.issue("other", "unit", { client: true });
});
after(() => pki.remove());

const defaults: UpstreamTlsConfig = { ca: "", serverName: "", cert: "", key: "", verify: true };

function load(config: Partial<UpstreamTlsConfig>): { tls: UpstreamTls | undefined; problems: [TlsFileKey, string][] } {
  const problems: [TlsFileKey, string][] = [];
  const tls = loadUpstreamTls({ ...defaults, ...config }, (key, message) => void problems.push([key, message]));
  return { tls, problems };
}

describe("loadUpstreamTls", () => {
  test("a CA and a client pair load into one frozen secure context; nothing else is set without serverName", () => {
    const { tls, problems } = load({ ca, cert: leaf.cert, key: leaf.key });
    assert.deepEqual(problems, []);
    assert.ok(tls);
    assert.ok(Object.isFrozen(tls) && Object.isFrozen(tls.options) && Object.isFrozen(tls.pem));
    assert.ok(tls.options.secureContext !== undefined);
    assert.equal(tls.options.servername, undefined);
    assert.equal(tls.options.checkServerIdentity, undefined);
    assert.equal(tls.options.rejectUnauthorized, undefined, "verification stays at Node's default (on)");
    assert.equal(tls.pem.ca, pki.read(ca));
  });

  test("serverName is the SNI name and the name verified, whatever host was connected to", () => {
    const { tls } = load({ ca, serverName: "api.internal" });
    assert.equal(tls?.options.servername, "api.internal");
    const check = tls?.options.checkServerIdentity;
    assert.ok(check);
    const cert = { subject: { CN: "x" }, subjectaltname: "DNS:api.internal" } as unknown as PeerCertificate;
    assert.equal(check("127.0.0.1", cert), undefined);
    const wrong = { subject: { CN: "x" }, subjectaltname: "DNS:other.internal" } as unknown as PeerCertificate;
    assert.match(String(check("127.0.0.1", wrong)), /api\.internal/);
  });

  test("an IP address as serverName is verified but not sent as SNI (RFC 6066)", () => {
    const { tls } = load({ serverName: "10.0.0.7" });
    assert.equal(tls?.options.servername, undefined);
    assert.ok(tls?.options.checkServerIdentity);
  });

  test("verify: false accepts any certificate and any name, and still sends serverName", () => {
    const { tls } = load({ verify: false, serverName: "api.internal" });
    assert.equal(tls?.verify, false);
    assert.equal(tls?.options.rejectUnauthorized, false);
    assert.equal(tls?.options.servername, "api.internal");
    assert.equal(tls?.options.checkServerIdentity?.("anything", {} as PeerCertificate), undefined);
  });

  test("every unusable file is reported by its key, with the file and why", () => {
    const garbage = pki.path("garbage.pem");
    writeFileSync(garbage, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n");
    const empty = pki.path("empty.pem");
    writeFileSync(empty, "");
    assert.deepEqual(load({ ca: pki.path("none.pem") }).problems.map(([key, message]) => [key, message.replace(pki.dir, "DIR")]), [["ca", 'cannot read CA file "DIR/none.pem" (no such file)']]);
    assert.deepEqual(load({ ca: pki.dir }).problems.map(([key, message]) => [key, message.replace(pki.dir, "DIR")]), [["ca", 'cannot read CA file "DIR" (it is a directory)']]);
    assert.match(load({ ca: empty }).problems[0]?.[1] ?? "", /holds no PEM certificate/);
    assert.match(load({ ca: garbage }).problems[0]?.[1] ?? "", /certificate 1 cannot be parsed/);
    assert.match(load({ cert: leaf.cert, key: ca }).problems[0]?.[1] ?? "", /client key file ".*unit\.pem" holds no usable private key/);
    const mismatch = load({ cert: leaf.cert, key: other.key });
    assert.deepEqual(mismatch.problems.map(([key]) => key), ["key"]);
    assert.match(mismatch.problems[0]![1], /the key in ".*other\.key" does not belong to the certificate in ".*leaf\.pem"/);
    const both = load({ ca: pki.path("none.pem"), cert: pki.path("none.crt"), key: pki.path("none.key") });
    assert.deepEqual(both.problems.map(([key]) => key), ["ca", "cert", "key"]);
    assert.equal(both.tls, undefined);
  });
});

describe("loadServicesTls", () => {
  test("only services with a tls block; a bad file is a ConfigError at its line in the config", () => {
    const text = ["services:", "  plain:", "    targets: [{ url: http://127.0.0.1:1 }]", "  secure:", "    targets: [{ url: https://127.0.0.1:2 }]", "    tls:", `      ca: ${ca}`, "  broken:", "    targets: [{ url: https://127.0.0.1:3 }]", "    tls:", `      ca: ${pki.path("none.pem")}`, "routes: [{ name: r, match: { pathPrefix: / }, service: plain }]", ""].join("\n");
    const config = loadConfigText(text, "gateway.yaml", {});
    assert.throws(
      () => loadServicesTls(config, "gateway.yaml", text),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.problems.length, 1);
        assert.deepEqual({ ...error.problems[0], message: "" }, { file: "gateway.yaml", line: 11, col: 11, path: "services.broken.tls.ca", message: "" });
        assert.match(error.problems[0]!.message, /cannot read CA file ".*none\.pem" \(no such file\)/);
        return true;
      },
    );
    const fixed = loadConfigText(text.replace(pki.path("none.pem"), ca), "gateway.yaml", {});
    assert.deepEqual([...loadServicesTls(fixed, "gateway.yaml").keys()], ["secure", "broken"]);
  });
});

describe("targetTlsOptions", () => {
  const url = (text: string) => new URL(text);

  test("a DNS host is the SNI name; an IP literal (v4 or v6) gets none", () => {
    assert.deepEqual(targetTlsOptions(undefined, url("https://api.internal:8443")), { servername: "api.internal" });
    assert.deepEqual(targetTlsOptions(undefined, url("https://127.0.0.1:8443")), {});
    assert.deepEqual(targetTlsOptions(undefined, url("https://[::1]:8443")), {});
  });

  test("the service's serverName wins over the target's host", () => {
    const { tls } = load({ serverName: "api.internal" });
    assert.equal(targetTlsOptions(tls, url("https://backend-3.internal")).servername, "api.internal");
    assert.equal(targetTlsOptions(tls, url("https://10.0.0.3")).servername, "api.internal");
    assert.equal(targetTlsOptions(load({}).tls, url("https://backend-3.internal")).servername, "backend-3.internal");
  });
});

describe("sameUpstreamTls", () => {
  test("compares what the files held, not their names", () => {
    const copy = pki.path("copy.pem");
    writeFileSync(copy, pki.read(ca));
    assert.ok(sameUpstreamTls(load({ ca }).tls, load({ ca: copy }).tls));
    writeFileSync(copy, pki.read(pki.ca("another")));
    assert.ok(!sameUpstreamTls(load({ ca }).tls, load({ ca: copy }).tls));
    assert.ok(!sameUpstreamTls(load({ ca }).tls, load({ ca, verify: false }).tls));
    assert.ok(!sameUpstreamTls(load({ ca }).tls, undefined));
    assert.ok(sameUpstreamTls(undefined, undefined));
  });
});

describe("rampart validate", () => {
  test("reports an unusable services.*.tls file as start would, at its line", async () => {
    const file = pki.path("validate.yaml");
    const text = ["services:", "  api:", "    targets: [{ url: https://127.0.0.1:2 }]", "    tls:", `      ca: ${pki.path("none.pem")}`, "routes: [{ name: r, match: { pathPrefix: / }, service: api }]", ""].join("\n");
    writeFileSync(file, text);
    const { config, diagnostics } = await validateFile(file, { env: {} });
    assert.equal(config, undefined);
    const errors = diagnostics.filter((each) => each.severity === "error");
    assert.deepEqual(errors.map(({ line, path }) => ({ line, path })), [{ line: 5, path: "services.api.tls.ca" }]);
    assert.match(errors[0]!.message, /cannot read CA file ".*none\.pem" \(no such file\)/);
  });
});

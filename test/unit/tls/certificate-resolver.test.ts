import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createLogger, silentLogger, type Logger } from "../../../src/observability/logger.js";
import { CertificateResolver, type CertificateInfo } from "../../../src/tls/certificate-resolver.js";
import { generateSelfSigned } from "../../../src/tls/self-signed.js";
import { SniIndex } from "../../../src/tls/sni-index.js";
import { tlsConfig, withTempDir, writeEcCertificate, writePem, writeRsaCertificate } from "../../fixtures/tls/tls-helpers.js";

const DAY = 86_400_000;

interface SniAnswer {
  readonly err: Error | null;
  readonly hasContext: boolean;
}

/** Every answer sniCallback gives for `servername`; it is synchronous, so all of them are in by return. */
function sniAnswers(resolver: CertificateResolver, servername: unknown): SniAnswer[] {
  const answers: SniAnswer[] = [];
  resolver.sniCallback(servername as string, (err, ctx) => answers.push({ err, hasContext: ctx !== undefined }));
  return answers;
}

function capturingLogger(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      messages.push((JSON.parse(chunk.toString()) as { msg: string }).msg);
      done();
    },
  });
  return { logger: createLogger("info", stream), messages };
}

test("a missing static certificate file is an error naming the file", async () => {
  await withTempDir(async (dir) => {
    const certFile = join(dir, "absent.crt");
    const config = tlsConfig({ certDir: dir, certificates: [{ certFile, keyFile: join(dir, "absent.key") }] });
    await assert.rejects(CertificateResolver.create(config, [], silentLogger), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.match(error.message, /^tls\.certificates\[0\]: cannot read certificate file/);
      assert.ok(error.message.includes(certFile), error.message);
      return true;
    });
  });
});

test("a static key that does not match its certificate is an error naming both files", async () => {
  await withTempDir(async (dir) => {
    const a = await writeEcCertificate(dir, "a", ["a.test"]);
    const b = await writeEcCertificate(dir, "b", ["b.test"]);
    const config = tlsConfig({ certDir: dir, certificates: [{ certFile: a.certFile, keyFile: b.keyFile }] });
    await assert.rejects(CertificateResolver.create(config, [], silentLogger), {
      message: `tls.certificates[0]: private key "${b.keyFile}" does not belong to certificate "${a.certFile}"`,
    });
  });
});

test("relative certificate paths resolve against the working directory", async () => {
  await withTempDir(async (dir) => {
    await writeEcCertificate(dir, "site", ["site.test"]);
    const previous = process.cwd();
    process.chdir(dir);
    try {
      const config = tlsConfig({ selfSigned: false, certDir: "certs", certificates: [{ certFile: "site.crt", keyFile: "site.key" }] });
      const resolver = await CertificateResolver.create(config, [], silentLogger);
      assert.deepEqual(resolver.list().map((info) => info.domain), ["localhost", "site.test"]);
    } finally {
      process.chdir(previous);
    }
  });
});

test("the self-signed certificate is stored with a private key and reused by the next start", async () => {
  await withTempDir(async (dir) => {
    const certDir = join(dir, "certs");
    const config = tlsConfig({ certDir });
    const first = await CertificateResolver.create(config, ["app.test"], silentLogger);
    assert.equal((await stat(join(certDir, "self-signed.key"))).mode & 0o777, 0o600);
    assert.equal((await stat(certDir)).mode & 0o777, 0o700);
    assert.equal(first.defaultCertificate()?.cert, await readFile(join(certDir, "self-signed.crt"), "utf8"));

    const second = await CertificateResolver.create(config, ["APP.test"], silentLogger);
    assert.equal(second.defaultCertificate()?.cert, first.defaultCertificate()?.cert);
    const fewerNames = await CertificateResolver.create(config, [], silentLogger);
    assert.equal(fewerNames.defaultCertificate()?.cert, first.defaultCertificate()?.cert);
  });
});

test("the self-signed certificate is replaced when a host is added", async () => {
  await withTempDir(async (dir) => {
    const config = tlsConfig({ certDir: dir });
    const first = await CertificateResolver.create(config, ["app.test"], silentLogger);
    const second = await CertificateResolver.create(config, ["app.test", "*.other.test"], silentLogger);
    assert.notEqual(second.defaultCertificate()?.cert, first.defaultCertificate()?.cert);
    assert.deepEqual(second.list().map((info) => info.domain), ["*.other.test", "app.test", "localhost"]);
  });
});

test("the self-signed certificate is replaced when it expires within 7 days", async () => {
  await withTempDir(async (dir) => {
    const expiring = await generateSelfSigned(["app.test"], { validityDays: 6 });
    await writePem(dir, "self-signed", expiring);
    const resolver = await CertificateResolver.create(tlsConfig({ certDir: dir }), ["app.test"], silentLogger);
    assert.notEqual(resolver.defaultCertificate()?.cert, expiring.cert);
    const [info] = resolver.list();
    assert.ok(info !== undefined && Date.parse(info.notAfter) > Date.now() + 300 * DAY);
  });
});

test("damaged self-signed files are replaced, with a warning", async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, "self-signed.crt"), "garbage");
    await writeFile(join(dir, "self-signed.key"), "garbage");
    const { logger, messages } = capturingLogger();
    const resolver = await CertificateResolver.create(tlsConfig({ certDir: dir }), [], logger);
    assert.match(resolver.defaultCertificate()?.cert ?? "", /BEGIN CERTIFICATE/);
    assert.ok(messages.includes("ignoring the stored self-signed certificate"), messages.join("\n"));
  });
});

test("without self-signed and static certificates there is no default and unknown names fail", async () => {
  await withTempDir(async (dir) => {
    const resolver = await CertificateResolver.create(tlsConfig({ certDir: dir, selfSigned: false }), ["app.test"], silentLogger);
    assert.equal(resolver.defaultCertificate(), undefined);
    assert.deepEqual(resolver.list(), []);
    const error = await new Promise<Error | null>((resolve) => resolver.sniCallback("app.test", (err) => resolve(err)));
    assert.match(error?.message ?? "", /no certificate for "app\.test"/);
  });
});

test("list reports static names, then self-signed names nothing else serves", async () => {
  await withTempDir(async (dir) => {
    const site = await writeEcCertificate(dir, "site", ["*.example.com"]);
    const config = tlsConfig({ certDir: dir, certificates: [{ certFile: site.certFile, keyFile: site.keyFile }] });
    const resolver = await CertificateResolver.create(config, ["a.example.com", "app.test"], silentLogger);
    const byDomain = new Map(resolver.list().map((info) => [info.domain, info]));
    // localhost is named by both: the static certificate wins.
    assert.deepEqual([...byDomain.keys()], ["*.example.com", "app.test", "localhost"]);
    assert.equal(byDomain.get("*.example.com")?.source, "static");
    assert.equal(byDomain.get("app.test")?.source, "self-signed");
    assert.equal(byDomain.get("app.test")?.issuer, "CN=Rampart self-signed, O=Rampart");
    assert.equal(byDomain.get("app.test")?.nextRenewal, null);
  });
});

test("install serves a new name, reports it and computes the ACME renewal time", async () => {
  await withTempDir(async (dir) => {
    const resolver = await CertificateResolver.create(tlsConfig({ certDir: dir, acme: { renewBefore: "30d" } }), [], silentLogger);
    const seen: CertificateInfo[] = [];
    const unsubscribe = resolver.onChange((info) => seen.push(info));
    // Certificates carry whole seconds.
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const pem = await generateSelfSigned(["new.test"], { now });
    const info = resolver.install("NEW.test", pem, "acme");
    const notAfter = Date.parse(info.notAfter);
    assert.deepEqual(info, {
      domain: "new.test",
      notAfter: info.notAfter,
      issuer: "CN=Rampart self-signed, O=Rampart",
      source: "acme",
      // One-year certificate: a third of its lifetime remaining comes before 30 days remaining.
      nextRenewal: new Date(notAfter - (notAfter - (now.getTime() - DAY)) / 3).toISOString(),
    });
    assert.deepEqual(seen, [info]);
    assert.deepEqual(resolver.list().find((entry) => entry.domain === "new.test"), info);

    unsubscribe();
    const planned = new Date(notAfter - 10 * DAY);
    assert.equal(resolver.install("new.test", pem, "acme", { nextRenewal: planned }).nextRenewal, planned.toISOString());
    assert.equal(seen.length, 1);
  });
});

test("install refuses a certificate that does not name the domain, keeping the previous one", async () => {
  await withTempDir(async (dir) => {
    const resolver = await CertificateResolver.create(tlsConfig({ certDir: dir }), [], silentLogger);
    resolver.install("a.test", await generateSelfSigned(["a.test"]), "acme");
    const before = resolver.list();
    assert.throws(() => resolver.install("a.test", { key: "", cert: "" }, "acme"), /certificate for a\.test/);
    const other = await generateSelfSigned(["b.test", "*.a.test"]);
    assert.throws(() => resolver.install("a.test", other, "acme"), /"a\.test" names only/);
    assert.deepEqual(resolver.list(), before);
  });
});

test("mixed key types leave no default certificate, with a warning", async () => {
  await withTempDir(async (dir) => {
    const rsa = await writeRsaCertificate(dir, "rsa", "rsa.test");
    const { logger, messages } = capturingLogger();
    const resolver = await CertificateResolver.create(tlsConfig({ certDir: dir, certificates: [rsa] }), [], logger);
    assert.equal(resolver.defaultCertificate(), undefined);
    assert.ok(messages.some((message) => message.includes("different key types")), messages.join("\n"));
  });
});

test("sniCallback refuses malformed names through its callback, once, without throwing", async () => {
  await withTempDir(async (dir) => {
    const resolver = await CertificateResolver.create(tlsConfig({ certDir: dir }), ["app.test"], silentLogger);
    // What Node never sends but a caller outside Node might, and what a hostile ClientHello can carry.
    for (const name of [undefined, 42, "", "bad name.test", "caf\u00e9.test", "a\u0000b.test", "tab\t.test", "x".repeat(256)]) {
      const answers = sniAnswers(resolver, name);
      assert.equal(answers.length, 1, JSON.stringify(name));
      assert.match(answers[0]?.err?.message ?? "", /malformed SNI name/, JSON.stringify(name));
      assert.equal(answers[0]?.hasContext, false);
    }
    // Well-formed names nothing claims, the longest allowed included, still get the fallback.
    for (const name of ["unknown.test", "UNKNOWN.test.", "x".repeat(255)]) {
      assert.deepEqual(sniAnswers(resolver, name), [{ err: null, hasContext: true }], name);
    }
  });
});

test("a certificate lookup that throws is one refused handshake, reported once and logged", async (t) => {
  await withTempDir(async (dir) => {
    const { logger, messages } = capturingLogger();
    const resolver = await CertificateResolver.create(tlsConfig({ certDir: dir }), ["app.test"], logger);
    const realGet = SniIndex.prototype.get;
    t.after(() => {
      SniIndex.prototype.get = realGet;
    });
    SniIndex.prototype.get = function (this: SniIndex<unknown>, servername: string) {
      if (servername === "boom.test") throw new TypeError("index corrupted");
      return realGet.call(this, servername);
    };

    const answers = sniAnswers(resolver, "boom.test");
    assert.equal(answers.length, 1);
    assert.equal(answers[0]?.err?.message, "certificate lookup failed");
    assert.match(String((answers[0]?.err?.cause as Error | undefined)?.message), /index corrupted/);
    assert.ok(messages.includes("certificate lookup failed; handshake refused"), messages.join("\n"));
    assert.deepEqual(sniAnswers(resolver, "app.test"), [{ err: null, hasContext: true }]);
  });
});

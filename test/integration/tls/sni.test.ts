// Real HTTPS servers and real TLS handshakes: the SNI name decides the certificate (DESIGN.md asks for a
// TLS 1.3 handshake per name, because key-type mixing broke exactly that on this platform).
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { silentLogger } from "../../../src/observability/logger.js";
import { CertificateResolver } from "../../../src/tls/certificate-resolver.js";
import { generateSelfSigned } from "../../../src/tls/self-signed.js";
import {
  handshake,
  makeTempDir,
  removeTempDir,
  startHttpsServer,
  tlsConfig,
  withTempDir,
  writeEcCertificate,
  writeRsaCertificate,
  type RunningServer,
} from "../../fixtures/tls/tls-helpers.js";

const LOOPBACK_SANS = "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1";
const STATIC_API_SANS = `DNS:api.example.com, ${LOOPBACK_SANS}`;
const SELF_SIGNED_SANS = `DNS:app.test, ${LOOPBACK_SANS}`;

describe("SNI with static certificates and the self-signed fallback", () => {
  let dir: string;
  let resolver: CertificateResolver;
  let server: RunningServer;

  before(async () => {
    dir = await makeTempDir();
    const exact = await writeEcCertificate(dir, "api", ["api.example.com"]);
    const wildcard = await writeEcCertificate(dir, "wildcard", ["*.example.com"]);
    const config = tlsConfig({
      minVersion: "TLSv1.3",
      certDir: join(dir, "certs"),
      certificates: [
        { certFile: wildcard.certFile, keyFile: wildcard.keyFile },
        { certFile: exact.certFile, keyFile: exact.keyFile },
      ],
    });
    resolver = await CertificateResolver.create(config, ["app.test"], silentLogger);
    server = await startHttpsServer(resolver, config.minVersion);
  });

  after(async () => {
    await server.close();
    await removeTempDir(dir);
  });

  test("an exact static name gets its certificate, whatever its case", async () => {
    assert.equal((await handshake(server.port, "api.example.com")).subjectaltname, STATIC_API_SANS);
    assert.equal((await handshake(server.port, "API.Example.COM")).subjectaltname.split(", ")[0], "DNS:api.example.com");
  });

  test("a wildcard covers one label and only one", async () => {
    const covered = await handshake(server.port, "a.example.com");
    assert.equal(covered.subjectaltname.split(", ")[0], "DNS:*.example.com");
    const deeper = await handshake(server.port, "a.b.example.com");
    assert.equal(deeper.subjectaltname, SELF_SIGNED_SANS);
  });

  test("an exact name beats a wildcard listed before it", async () => {
    assert.equal((await handshake(server.port, "api.example.com")).subjectaltname.split(", ")[0], "DNS:api.example.com");
  });

  test("unknown names and clients without SNI get the self-signed certificate", async () => {
    assert.equal((await handshake(server.port, "unknown.test")).subjectaltname, SELF_SIGNED_SANS);
    assert.equal((await handshake(server.port, "app.test")).subjectaltname, SELF_SIGNED_SANS);
    assert.equal((await handshake(server.port, undefined)).subjectaltname, SELF_SIGNED_SANS);
  });

  test("the negotiated protocol is TLS 1.3 and a TLS 1.2 client is refused", async () => {
    assert.equal((await handshake(server.port, "api.example.com")).protocol, "TLSv1.3");
    await assert.rejects(handshake(server.port, "api.example.com", "TLSv1.2"));
  });

  test("install() changes the certificate of the very next handshake", async () => {
    const before = await handshake(server.port, "api.example.com");
    const replacement = await generateSelfSigned(["api.example.com"]);
    resolver.install("api.example.com", replacement, "acme");
    const afterInstall = await handshake(server.port, "api.example.com");
    assert.notEqual(afterInstall.fingerprint256, before.fingerprint256);

    const fresh = await generateSelfSigned(["new.example.org"]);
    assert.equal((await handshake(server.port, "new.example.org")).subjectaltname, SELF_SIGNED_SANS);
    resolver.install("new.example.org", fresh, "acme");
    assert.equal((await handshake(server.port, "new.example.org")).subjectaltname.split(", ")[0], "DNS:new.example.org");
  });

  test("an installed wildcard serves its label but not names with an exact certificate", async () => {
    resolver.install("*.example.org", await generateSelfSigned(["*.example.org"]), "acme");
    assert.equal((await handshake(server.port, "x.example.org")).subjectaltname.split(", ")[0], "DNS:*.example.org");
    assert.equal((await handshake(server.port, "new.example.org")).subjectaltname.split(", ")[0], "DNS:new.example.org");
  });
});

test("the stored self-signed certificate has a 0600 key and is served again after a restart", async () => {
  await withTempDir(async (dir) => {
    const config = tlsConfig({ certDir: join(dir, "certs") });
    const fingerprints: string[] = [];
    for (let start = 0; start < 2; start += 1) {
      const resolver = await CertificateResolver.create(config, ["app.test"], silentLogger);
      const server = await startHttpsServer(resolver, config.minVersion);
      try {
        fingerprints.push((await handshake(server.port, "app.test")).fingerprint256);
      } finally {
        await server.close();
      }
    }
    assert.equal((await stat(join(dir, "certs", "self-signed.key"))).mode & 0o777, 0o600);
    assert.equal(fingerprints[0], fingerprints[1]);
  });
});

test("a TLS 1.2 client is served when minVersion allows it", async () => {
  await withTempDir(async (dir) => {
    const config = tlsConfig({ certDir: dir, minVersion: "TLSv1.2" });
    const server = await startHttpsServer(await CertificateResolver.create(config, [], silentLogger), config.minVersion);
    try {
      assert.equal((await handshake(server.port, "localhost", "TLSv1.2")).protocol, "TLSv1.2");
    } finally {
      await server.close();
    }
  });
});

// Regression for the key-type trap in DESIGN.md: an RSA static certificate beside the ECDSA fallback.
test("an RSA static certificate is served to TLS 1.3 and TLS 1.2 clients beside the ECDSA fallback", async () => {
  await withTempDir(async (dir) => {
    const rsa = await writeRsaCertificate(dir, "rsa", "rsa.test");
    const config = tlsConfig({ certDir: join(dir, "certs"), certificates: [rsa] });
    const server = await startHttpsServer(await CertificateResolver.create(config, ["app.test"], silentLogger), config.minVersion);
    try {
      for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
        assert.equal((await handshake(server.port, "rsa.test", version)).subjectaltname, "DNS:rsa.test", version);
        assert.equal((await handshake(server.port, "app.test", version)).subjectaltname, SELF_SIGNED_SANS, version);
      }
      // The price of a mixed setup: no default certificate, so a client without SNI is refused.
      await assert.rejects(handshake(server.port, undefined));
    } finally {
      await server.close();
    }
  });
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalIp, certificateCovers, inspectPemPair } from "../../../src/tls/certificate-details.js";
import { generateSelfSigned } from "../../../src/tls/self-signed.js";

const labels = { cert: "/etc/site.crt", key: "/etc/site.key" };

test("reads names, validity, issuer, fingerprint and key type", async () => {
  const now = new Date("2026-05-01T00:00:00Z");
  const details = inspectPemPair(await generateSelfSigned(["A.example.com", "*.example.com"], { now }), labels);
  assert.deepEqual([...details.dnsNames].sort(), ["*.example.com", "a.example.com", "localhost"]);
  assert.deepEqual([...details.ipAddresses].sort(), ["127.0.0.1", "::1"]);
  assert.equal(details.notAfter.toISOString(), "2027-05-01T00:00:00.000Z");
  assert.ok(details.notBefore < now);
  assert.equal(details.issuer, "CN=Rampart self-signed, O=Rampart");
  assert.match(details.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(details.keyType, "ec");
});

test("a key from another pair is refused, naming both files", async () => {
  const [a, b] = await Promise.all([generateSelfSigned(["a.test"]), generateSelfSigned(["b.test"])]);
  assert.throws(() => inspectPemPair({ cert: a.cert, key: b.key }, labels), {
    message: 'private key "/etc/site.key" does not belong to certificate "/etc/site.crt"',
  });
});

test("text that is not PEM is refused, naming the file", async () => {
  const pem = await generateSelfSigned(["a.test"]);
  assert.throws(() => inspectPemPair({ cert: "hello", key: pem.key }, labels), /certificate "\/etc\/site\.crt" is not a PEM X\.509 certificate/);
  assert.throws(() => inspectPemPair({ cert: pem.cert, key: "hello" }, labels), /private key "\/etc\/site\.key" is not an unencrypted PEM private key/);
});

test("coverage: literal names, and wildcards for exactly one label", async () => {
  const details = inspectPemPair(await generateSelfSigned(["api.example.com", "*.example.net"]), labels);
  assert.ok(certificateCovers(details, "API.example.com"));
  assert.ok(certificateCovers(details, "a.example.net"));
  assert.ok(certificateCovers(details, "*.example.net"));
  assert.ok(!certificateCovers(details, "a.b.example.net"));
  assert.ok(!certificateCovers(details, "example.net"));
  assert.ok(!certificateCovers(details, "*.example.com"));
});

test("IPv6 addresses are compared in one canonical form", () => {
  assert.equal(canonicalIp("0:0:0:0:0:0:0:1"), "::1");
  assert.equal(canonicalIp("[::1]"), "::1");
  assert.equal(canonicalIp("127.0.0.1"), "127.0.0.1");
});

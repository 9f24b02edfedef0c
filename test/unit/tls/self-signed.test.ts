import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { test } from "node:test";
import { generateSelfSigned } from "../../../src/tls/self-signed.js";

test("generates an ECDSA P-256 certificate for the names plus localhost and loopback addresses", async () => {
  const pem = await generateSelfSigned(["API.example.com", "*.example.com", "[::1]"]);
  assert.match(pem.key, /^-----BEGIN PRIVATE KEY-----/);
  const key = createPrivateKey(pem.key);
  assert.equal(key.asymmetricKeyType, "ec");
  assert.deepEqual(key.asymmetricKeyDetails, { namedCurve: "prime256v1" });

  const certificate = new X509Certificate(pem.cert);
  assert.ok(certificate.checkPrivateKey(key));
  assert.equal(certificate.ca, false);
  const names = (certificate.subjectAltName ?? "").split(", ").sort();
  assert.deepEqual(names, [
    "DNS:*.example.com",
    "DNS:api.example.com",
    "DNS:localhost",
    "IP Address:0:0:0:0:0:0:0:1",
    "IP Address:127.0.0.1",
  ]);
});

test("is valid for one year from now", async () => {
  const now = new Date("2026-03-01T12:00:00Z");
  const certificate = new X509Certificate((await generateSelfSigned([], { now })).cert);
  assert.equal(new Date(certificate.validTo).toISOString(), "2027-03-01T12:00:00.000Z");
  assert.ok(new Date(certificate.validFrom) <= now);
});

test("every call makes a new key", async () => {
  const [a, b] = await Promise.all([generateSelfSigned(["a.test"]), generateSelfSigned(["a.test"])]);
  assert.notEqual(a.key, b.key);
});

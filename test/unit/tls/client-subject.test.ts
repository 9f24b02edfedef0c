// The subject Rampart sends upstream for a verified client certificate: RFC 4514, the same text as
// OpenSSL's RFC 2253 printer (nginx's $ssl_client_s_dn), always plain ASCII.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { after, before, test } from "node:test";
import { rfc4514Subject } from "../../../src/tls/client-subject.js";
import { makeClientCertificates, TRICKY_RFC4514, type ClientCertificates } from "../../helpers/client-certs.js";
import { makeTempDir, removeTempDir } from "../../fixtures/tls/tls-helpers.js";

let dir = "";
let certs: ClientCertificates;

before(async () => {
  dir = await makeTempDir();
  certs = makeClientCertificates(dir);
});
after(() => removeTempDir(dir));

test("most specific RDN first, joined by commas", () => {
  assert.equal(rfc4514Subject("C=US\nO=Example\nCN=alice"), "CN=alice,O=Example,C=US");
  assert.equal(rfc4514Subject("CN=alice"), "CN=alice");
  assert.equal(rfc4514Subject(""), "");
});

test("a multi-valued RDN is joined by '+', in OpenSSL's RFC 2253 order", () => {
  assert.equal(rfc4514Subject("O=Example\nCN=bob + UID=7"), "UID=7+CN=bob,O=Example");
});

test("escapes OpenSSL already wrote stay; an escaped trailing space before ' + ' is kept", () => {
  assert.equal(rfc4514Subject("O=Example\\, Inc.\nCN=a\\+b"), "CN=a\\+b,O=Example\\, Inc.");
  assert.equal(rfc4514Subject("CN=x\\  + UID=7"), "UID=7+CN=x\\ ");
});

test("non-ASCII text becomes \\XX of its UTF-8 bytes, control characters \\XX too", () => {
  assert.equal(rfc4514Subject("CN=Jörg"), "CN=J\\C3\\B6rg");
  assert.equal(rfc4514Subject("CN=日本"), "CN=\\E6\\97\\A5\\E6\\9C\\AC");
  assert.equal(rfc4514Subject("CN=a\x7fb"), "CN=a\\7Fb");
  assert.match(rfc4514Subject("CN=😀"), /^CN=(\\[0-9A-F]{2}){4}$/);
});

test("real certificates: the same text as `openssl x509 -nameopt RFC2253`", () => {
  for (const { certFile, cert } of [certs.alice, certs.tricky, certs.mallory]) {
    const printed = execFileSync("openssl", ["x509", "-in", certFile, "-noout", "-subject", "-nameopt", "RFC2253"], { encoding: "utf8" });
    const expected = printed.trim().replace(/^subject=/, "");
    assert.equal(rfc4514Subject(new X509Certificate(cert).subject), expected);
  }
  assert.equal(rfc4514Subject(new X509Certificate(certs.tricky.cert).subject), TRICKY_RFC4514);
  assert.equal(rfc4514Subject(new X509Certificate(certs.alice.cert).subject), "CN=alice,O=Example");
});

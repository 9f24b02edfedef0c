import assert from "node:assert/strict";
import { test } from "node:test";
import { checkServerName, withinSuffixes } from "../../../../src/tls/on-demand/server-name.js";

test("names are lowercased and lose their root dot", () => {
  assert.deepEqual(checkServerName("Shop.Example.COM."), { ok: true, name: "shop.example.com" });
  assert.deepEqual(checkServerName("xn--bcher-kva.example"), { ok: true, name: "xn--bcher-kva.example" });
  assert.deepEqual(checkServerName("a-b.c1.io"), { ok: true, name: "a-b.c1.io" });
});

test("IP literals are refused as such", () => {
  for (const name of ["127.0.0.1", "10.0.0.1.", "::1", "2001:db8::1", "[::1]"]) {
    assert.deepEqual(checkServerName(name), { ok: false, reason: "ip_literal" }, name);
  }
});

test("malformed names are refused", () => {
  const long = `${"a".repeat(63)}.`.repeat(4) + "com"; // 259 characters
  for (const name of ["", ".", "localhost", "intranet", "*.example.com", "a..example.com", "-a.example.com", "a-.example.com", "a_b.example.com",
    "a b.example.com", "example.com:443", `${"a".repeat(64)}.example.com`, long, "1.2.3.999", "host.123"]) {
    assert.deepEqual(checkServerName(name), { ok: false, reason: "malformed" }, name);
  }
});

test("suffixes: '.example.com' covers the names below it; 'example.com' the name itself too; none: every name", () => {
  assert.equal(withinSuffixes("anything.org", []), true);
  assert.equal(withinSuffixes("a.example.com", [".example.com"]), true);
  assert.equal(withinSuffixes("a.b.example.com", [".example.com"]), true);
  assert.equal(withinSuffixes("example.com", [".example.com"]), false);
  assert.equal(withinSuffixes("example.com", ["example.com"]), true);
  assert.equal(withinSuffixes("a.example.com", ["example.com"]), true);
  assert.equal(withinSuffixes("badexample.com", ["example.com"]), false);
  assert.equal(withinSuffixes("a.badexample.com", [".example.com"]), false);
  assert.equal(withinSuffixes("a.example.org", [".example.com", "example.org"]), true);
  assert.equal(withinSuffixes("a.example.net", [".example.com", "example.org"]), false);
});

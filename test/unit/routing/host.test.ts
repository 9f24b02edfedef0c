// Host header → the name routes are matched against.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { normalizeHost } from "../../../src/routing/host.js";

describe("normalizeHost", () => {
  test("an absent or empty Host is the empty name", () => {
    assert.equal(normalizeHost(undefined), "");
    assert.equal(normalizeHost(""), "");
  });

  test("case, port and a trailing dot are dropped", () => {
    assert.equal(normalizeHost("Api.Example.COM"), "api.example.com");
    assert.equal(normalizeHost("api.example.com:8443"), "api.example.com");
    assert.equal(normalizeHost("api.example.com."), "api.example.com");
    assert.equal(normalizeHost("API.example.com.:443"), "api.example.com");
    assert.equal(normalizeHost("127.0.0.1:80"), "127.0.0.1");
    assert.equal(normalizeHost("localhost"), "localhost");
  });

  test("IPv6 literals keep their brackets", () => {
    assert.equal(normalizeHost("[::1]"), "[::1]");
    assert.equal(normalizeHost("[::1]:8443"), "[::1]");
    assert.equal(normalizeHost("[2001:DB8::1]"), "[2001:db8::1]");
  });

  test("malformed hosts are refused", () => {
    for (const host of [
      "[::1",
      "[::1]x",
      "[::1]:",
      "[::1]:abc",
      "example.com:",
      "example.com:abc",
      "example.com:123456",
      "example.com:80:80",
      "a b.com",
      "evil.com/path",
      "user@example.com",
      "example.com\t",
      "exa%6dple.com",
    ]) {
      assert.equal(normalizeHost(host), undefined, JSON.stringify(host));
    }
  });
});

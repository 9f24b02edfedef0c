// Path normalisation before routing: dot segments (plain and percent-encoded) are resolved, escapes of
// unreserved characters decoded, and anything that climbs above the root or carries NUL or controls is
// refused, so "/v1/../admin" can only ever be routed as "/admin".
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { normalizePath } from "../../../src/routing/normalize-path.js";

describe("normalizePath", () => {
  test("clean paths come back as they are (the same string)", () => {
    for (const path of ["/", "/a", "/a/b", "/a/b/", "/v1/users/42", "/a-b_c.d~e", "/a.b/c..d/...", "/.well-known/x"]) {
      assert.equal(normalizePath(path), path);
    }
  });

  test("dot segments are removed", () => {
    const cases: [string, string][] = [
      ["/a/./b", "/a/b"],
      ["/a/../b", "/b"],
      ["/v1/../admin", "/admin"],
      ["/v1/users/../../admin", "/admin"],
      ["/a/b/c/./../../g", "/a/g"],
      ["/./a", "/a"],
      ["/a/.", "/a/"],
      ["/a/b/..", "/a/"],
      ["/a/..", "/"],
      ["/.", "/"],
    ];
    for (const [input, expected] of cases) assert.equal(normalizePath(input), expected, input);
  });

  test("percent-encoded dots count as dots, whatever their case", () => {
    const cases: [string, string][] = [
      ["/v1/%2e%2e/admin", "/admin"],
      ["/v1/%2E%2E/admin", "/admin"],
      ["/v1/%2e%2E/admin", "/admin"],
      ["/v1/.%2e/admin", "/admin"],
      ["/v1/%2e./admin", "/admin"],
      ["/v1/%2e/admin", "/v1/admin"],
      ["/v1/%2e%2e", "/"],
      ["/v1/x/%2e%2e/", "/v1/"],
    ];
    for (const [input, expected] of cases) assert.equal(normalizePath(input), expected, input);
  });

  test("a path that climbs above the root is refused", () => {
    for (const path of ["/..", "/../", "/../etc/passwd", "/%2e%2e/etc", "/%2E%2E", "/a/../../b", "/v1/%2e%2e/%2e%2e/x", "/./.."]) {
      assert.equal(normalizePath(path), undefined, path);
    }
  });

  test("backslashes are separators and repeated slashes are merged", () => {
    assert.equal(normalizePath("/a\\b"), "/a/b");
    assert.equal(normalizePath("/v1\\..\\admin"), "/admin");
    assert.equal(normalizePath("//a///b"), "/a/b");
    assert.equal(normalizePath("/a//"), "/a/");
    assert.equal(normalizePath("\\a"), undefined, "the path must begin with a real slash");
  });

  test("escapes of unreserved characters are decoded; others are kept, upper-cased", () => {
    assert.equal(normalizePath("/%7Euser"), "/~user");
    assert.equal(normalizePath("/%41%62%2D%5f"), "/Ab-_");
    assert.equal(normalizePath("/a%2fb"), "/a%2Fb", "an encoded slash is data, not a separator");
    assert.equal(normalizePath("/a%20b"), "/a%20b");
    assert.equal(normalizePath("/caf%c3%a9"), "/caf%C3%A9");
    // An encoded slash cannot create a dot segment.
    assert.equal(normalizePath("/a/..%2fadmin"), "/a/..%2Fadmin");
    assert.equal(normalizePath("/a/%2e%2e%2fadmin"), "/a/..%2Fadmin");
  });

  test("NUL, controls, spaces and malformed escapes are refused", () => {
    for (const path of ["/a%00b", "/%00", "/a%0", "/a%zz", "/a%", "/a%g1", "/a b", "/a\tb", "/a\x00", "/a\x7f", "/a\r\nb"]) {
      assert.equal(normalizePath(path), undefined, JSON.stringify(path));
    }
  });

  test("anything that is not an origin-form path is refused", () => {
    for (const path of ["", "*", "a/b", "http://x/", "?q=1", "%2f"]) assert.equal(normalizePath(path), undefined, path);
  });

  test("normalising is idempotent", () => {
    for (const path of ["/v1/../admin", "/a/%2e%2e/b/", "/%7e/%2f/./x", "//a\\b/../c", "/a%20b/c%2F"]) {
      const once = normalizePath(path);
      assert.notEqual(once, undefined);
      assert.equal(normalizePath(once!), once, path);
    }
  });

  test("WHATWG URL parsing (what the proxy library applies) leaves a normalised path unchanged", () => {
    for (const path of ["/v1/../admin", "/v1/%2E%2E/admin", "/a/.%2e/b/c/", "/%7Euser/%2f", "/a/..%2Fb", "/x/y/."]) {
      const normalised = normalizePath(path)!;
      assert.equal(new URL(normalised, "http://upstream.test").pathname, normalised, path);
    }
  });
});

// The compiled route table: exact host beats wildcard, a wildcard covers one label, a route without
// host matches every host, longest prefix first on segment boundaries, methods filter.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { prefixMatches, RouteTable, type RouteMatcher } from "../../../src/routing/route-table.js";
import { stripRoutePrefix } from "../../../src/routing/route.js";

interface TestRoute {
  readonly name: string;
  readonly match: RouteMatcher;
}

function table(...routes: [name: string, match: RouteMatcher][]): RouteTable<TestRoute> {
  return new RouteTable(routes.map(([name, match]) => ({ name, match })));
}

const nameOf = (t: RouteTable<TestRoute>, host: string, path: string, method = "GET") => t.match(host, path, method)?.name;

describe("RouteTable", () => {
  test("an exact host beats a wildcard, which beats a host-less route", () => {
    const t = table(["any", { pathPrefix: "/" }], ["wild", { host: "*.example.com", pathPrefix: "/" }], ["exact", { host: "api.example.com", pathPrefix: "/" }]);
    assert.equal(nameOf(t, "api.example.com", "/"), "exact");
    assert.equal(nameOf(t, "www.example.com", "/x"), "wild");
    assert.equal(nameOf(t, "other.org", "/x"), "any");
    assert.equal(nameOf(t, "", "/x"), "any", "a request without Host still matches a host-less route");
  });

  test("an exact host beats a wildcard even when the wildcard's prefix is longer", () => {
    const t = table(["wild", { host: "*.example.com", pathPrefix: "/v1/deep" }], ["exact", { host: "api.example.com", pathPrefix: "/" }]);
    assert.equal(nameOf(t, "api.example.com", "/v1/deep/x"), "exact");
  });

  test("when no route of the exact host matches, the wildcard and then host-less routes are tried", () => {
    const t = table(
      ["exact-v1", { host: "api.example.com", pathPrefix: "/v1" }],
      ["wild-v2", { host: "*.example.com", pathPrefix: "/v2" }],
      ["any-v3", { pathPrefix: "/v3" }],
    );
    assert.equal(nameOf(t, "api.example.com", "/v1/a"), "exact-v1");
    assert.equal(nameOf(t, "api.example.com", "/v2/a"), "wild-v2");
    assert.equal(nameOf(t, "api.example.com", "/v3/a"), "any-v3");
    assert.equal(nameOf(t, "api.example.com", "/v4"), undefined);
  });

  test("a wildcard covers exactly one label", () => {
    const t = table(["wild", { host: "*.example.com", pathPrefix: "/" }]);
    assert.equal(nameOf(t, "a.example.com", "/"), "wild");
    assert.equal(nameOf(t, "a.b.example.com", "/"), undefined);
    assert.equal(nameOf(t, "example.com", "/"), undefined);
    assert.equal(nameOf(t, "aexample.com", "/"), undefined);
    assert.equal(nameOf(t, "a.example.com.evil.org", "/"), undefined);
  });

  test("the longest prefix wins, whatever the order in the file", () => {
    const routes: [string, RouteMatcher][] = [
      ["root", { pathPrefix: "/" }],
      ["v1", { pathPrefix: "/v1" }],
      ["users", { pathPrefix: "/v1/users" }],
      ["admin", { pathPrefix: "/v1/users/admin" }],
    ];
    for (const ordered of [routes, [...routes].reverse()]) {
      const t = table(...ordered);
      assert.equal(nameOf(t, "h", "/v1/users/admin/x"), "admin");
      assert.equal(nameOf(t, "h", "/v1/users/42"), "users");
      assert.equal(nameOf(t, "h", "/v1/orders"), "v1");
      assert.equal(nameOf(t, "h", "/v2"), "root");
      assert.equal(nameOf(t, "h", "/"), "root");
    }
  });

  test("equal prefixes keep the file order", () => {
    const t = table(["first", { pathPrefix: "/p" }], ["second", { pathPrefix: "/p" }]);
    assert.equal(nameOf(t, "h", "/p"), "first");
  });

  test("prefixes match on segment boundaries", () => {
    const t = table(["v1", { pathPrefix: "/v1" }]);
    assert.equal(nameOf(t, "h", "/v1"), "v1");
    assert.equal(nameOf(t, "h", "/v1/"), "v1");
    assert.equal(nameOf(t, "h", "/v1/x"), "v1");
    assert.equal(nameOf(t, "h", "/v1x"), undefined);
    assert.equal(nameOf(t, "h", "/v10"), undefined);
    assert.equal(nameOf(t, "h", "/v"), undefined);
    assert.equal(nameOf(t, "h", "/V1"), undefined, "paths are case-sensitive");
  });

  test("a methods filter makes other methods fall through to the next candidate", () => {
    const t = table(["writes", { pathPrefix: "/api", methods: ["POST", "PUT"] }], ["reads", { pathPrefix: "/" , methods: ["GET", "HEAD"] }]);
    assert.equal(nameOf(t, "h", "/api/x", "POST"), "writes");
    assert.equal(nameOf(t, "h", "/api/x", "PUT"), "writes");
    assert.equal(nameOf(t, "h", "/api/x", "GET"), "reads");
    assert.equal(nameOf(t, "h", "/api/x", "DELETE"), undefined);
    assert.equal(nameOf(t, "h", "/api/x", "post"), undefined, "methods are matched exactly");
  });

  test("namesHost is true only for hosts a route names exactly or by wildcard", () => {
    const t = table(["any", { pathPrefix: "/" }], ["exact", { host: "api.example.com", pathPrefix: "/" }], ["wild", { host: "*.apps.test", pathPrefix: "/" }]);
    assert.equal(t.namesHost("api.example.com"), true);
    assert.equal(t.namesHost("x.apps.test"), true);
    assert.equal(t.namesHost("apps.test"), false);
    assert.equal(t.namesHost("a.b.apps.test"), false);
    assert.equal(t.namesHost("evil.example"), false, "a host-less route does not make every host served");
    assert.equal(t.namesHost(""), false);
  });

  test("exactHosts lists exact names only, once each", () => {
    const t = table(
      ["a", { host: "api.example.com", pathPrefix: "/" }],
      ["b", { host: "api.example.com", pathPrefix: "/v1" }],
      ["c", { host: "*.example.com", pathPrefix: "/" }],
      ["d", { pathPrefix: "/" }],
      ["e", { host: "www.example.com", pathPrefix: "/" }],
    );
    assert.deepEqual(t.exactHosts().sort(), ["api.example.com", "www.example.com"]);
  });

  test("an empty table matches nothing", () => {
    const t = table();
    assert.equal(nameOf(t, "h", "/"), undefined);
    assert.equal(t.namesHost("h"), false);
  });
});

describe("prefixMatches", () => {
  test("segment boundaries", () => {
    assert.equal(prefixMatches("/", "/anything"), true);
    assert.equal(prefixMatches("/v1", "/v1"), true);
    assert.equal(prefixMatches("/v1", "/v1/"), true);
    assert.equal(prefixMatches("/v1", "/v1/a/b"), true);
    assert.equal(prefixMatches("/v1", "/v1x"), false);
    assert.equal(prefixMatches("/v1", "/v1.json"), false);
    assert.equal(prefixMatches("/v1/users", "/v1"), false);
  });
});

describe("stripRoutePrefix", () => {
  test("removes the prefix and never leaves an empty path", () => {
    assert.equal(stripRoutePrefix("/v1/users", "/v1"), "/users");
    assert.equal(stripRoutePrefix("/v1", "/v1"), "/");
    assert.equal(stripRoutePrefix("/v1/", "/v1"), "/");
    assert.equal(stripRoutePrefix("/v1/users", undefined), "/v1/users");
    assert.equal(stripRoutePrefix("/v1/users", "/"), "/v1/users");
    assert.equal(stripRoutePrefix("/api/v2/items", "/api"), "/v2/items");
  });
});

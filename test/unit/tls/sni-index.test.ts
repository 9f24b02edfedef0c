import assert from "node:assert/strict";
import { test } from "node:test";
import { SniIndex } from "../../../src/tls/sni-index.js";

test("exact names are found case-insensitively, with or without the root dot", () => {
  const index = new SniIndex<string>();
  index.set("API.example.com", "api");
  assert.equal(index.get("api.example.com"), "api");
  assert.equal(index.get("Api.Example.COM"), "api");
  assert.equal(index.get("api.example.com."), "api");
  assert.equal(index.get("example.com"), undefined);
});

test("a wildcard covers exactly one label", () => {
  const index = new SniIndex<string>();
  index.set("*.example.com", "wild");
  assert.equal(index.get("a.example.com"), "wild");
  assert.equal(index.get("A.EXAMPLE.COM"), "wild");
  assert.equal(index.get("a.b.example.com"), undefined);
  assert.equal(index.get("example.com"), undefined);
  assert.equal(index.get(".example.com"), undefined);
});

test("an exact name beats a wildcard, whatever the insertion order", () => {
  const index = new SniIndex<string>();
  index.set("a.example.com", "exact");
  index.set("*.example.com", "wild");
  assert.equal(index.get("a.example.com"), "exact");
  assert.equal(index.get("b.example.com"), "wild");
});

test("setIfAbsent keeps the first value; set replaces it", () => {
  const index = new SniIndex<string>();
  assert.equal(index.setIfAbsent("a.example.com", "first"), true);
  assert.equal(index.setIfAbsent("A.example.com", "second"), false);
  assert.equal(index.get("a.example.com"), "first");
  index.set("a.example.com", "third");
  assert.equal(index.get("a.example.com"), "third");
});

test("peek sees patterns literally and entries lists them back", () => {
  const index = new SniIndex<number>();
  index.set("a.example.com", 1);
  index.set("*.example.com", 2);
  assert.equal(index.peek("*.example.com"), 2);
  assert.equal(index.peek("b.example.com"), undefined);
  assert.deepEqual(new Map(index.entries()), new Map([["a.example.com", 1], ["*.example.com", 2]]));
});

// "Did you mean …?": edit distance with adjacent swaps, the closest candidates within 2, and no guess
// where every candidate is as far as any other.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { closest, closestAll, didYouMean, editDistance } from "../../../src/cli/suggest.js";

const COMMANDS = ["start", "validate", "status", "bans", "upstreams", "certs", "reload", "config", "rules", "schema", "version", "help"];

describe("editDistance", () => {
  test("counts insertions, deletions and substitutions", () => {
    assert.equal(editDistance("kitten", "sitting"), 3);
    assert.equal(editDistance("", "abc"), 3);
    assert.equal(editDistance("abc", ""), 3);
    assert.equal(editDistance("same", "same"), 0);
    assert.equal(editDistance("rateLimt", "rateLimit"), 1);
  });

  test("a swap of two adjacent characters is one edit", () => {
    assert.equal(editDistance("stauts", "status"), 1);
    assert.equal(editDistance("relaod", "reload"), 1);
    assert.equal(editDistance("ab", "ba"), 1);
  });

  test("is symmetric", () => {
    for (const [a, b] of [["upstream", "upstreams"], ["cert", "certs"], ["confg", "config"], ["x", "schema"]] as const) {
      assert.equal(editDistance(a, b), editDistance(b, a));
    }
  });
});

describe("closest and didYouMean", () => {
  test("misspelled commands find the command", () => {
    assert.equal(closest("stauts", COMMANDS), "status");
    assert.equal(closest("upstream", COMMANDS), "upstreams");
    assert.equal(closest("relaod", COMMANDS), "reload");
    assert.equal(closest("shema", COMMANDS), "schema");
    assert.equal(closest("cert", COMMANDS), "certs");
    assert.equal(closest("Status", COMMANDS), "status", "case is ignored");
  });

  test("nothing further than 2 edits, and nothing for an exact candidate", () => {
    assert.equal(closest("deploy", COMMANDS), undefined);
    assert.equal(closest("status", COMMANDS), undefined);
    assert.deepEqual(closestAll("xyz", COMMANDS), []);
  });

  test("a candidate must keep one character of a short word", () => {
    // "ip" is 2 edits from "id" and from "if", which share nothing but length.
    assert.equal(closest("xy", ["ab", "cd"]), undefined);
  });

  test("ties are all offered, in the candidates' order; closest() declines to pick one", () => {
    assert.deepEqual(closestAll("bat", ["cat", "hat", "dog"]), ["cat", "hat"]);
    assert.equal(closest("bat", ["cat", "hat"]), undefined);
    assert.equal(didYouMean("bat", ["cat", "hat"]), ' (did you mean "cat" or "hat"?)');
    assert.equal(didYouMean("bat", ["cat", "hat", "rat", "mat"]), ' (did you mean "cat", "hat" or "rat"?)');
  });

  test("config keys", () => {
    const routeKeys = ["name", "match", "service", "split", "rollout", "fault", "rateLimit", "jails", "stripPrefix", "requestHeaders", "responseHeaders", "slo"];
    assert.equal(didYouMean("rateLimt", routeKeys), ' (did you mean "rateLimit"?)');
    assert.equal(didYouMean("servce", routeKeys), ' (did you mean "service"?)');
    assert.equal(didYouMean("upstream", routeKeys), "");
  });
});

// The arithmetic behind quota leases (README "Scale-out"): leases shrink to single points as the window's
// budget runs out, grants never add up past the limit, and a worker's asks follow what it spends.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MAX_WANT, SHARE_DIVISOR, grantedOf, leaseSize, nextWant } from "../../../src/state/lease-sizing.js";

describe("leaseSize", () => {
  test("a share of what is left per worker, capped by the ask", () => {
    assert.equal(leaseSize(1_000, 2, 10_000), Math.floor(1_000 / (SHARE_DIVISOR * 2)));
    assert.equal(leaseSize(1_000, 2, 8), 8, "no more than asked");
    assert.equal(leaseSize(1_000, 4, 10_000), 125);
  });

  test("near the limit points go out one at a time, and none once spent", () => {
    assert.equal(leaseSize(3, 2, 100), 1);
    assert.equal(leaseSize(1, 8, 100), 1);
    assert.equal(leaseSize(0, 2, 100), 0);
    assert.equal(leaseSize(-3, 2, 100), 0);
  });

  test("granting greedily from a full window never exceeds the limit and takes it down to 0", () => {
    for (const [limit, workers] of [
      [20, 2],
      [100, 2],
      [7, 3],
      [1_000_000, 8],
    ] as const) {
      let left = limit;
      let grants = 0;
      let largest = 0;
      while (left > 0) {
        const size = leaseSize(left, workers, MAX_WANT);
        assert.ok(size >= 1 && size <= left);
        largest = Math.max(largest, size);
        left -= size;
        grants++;
      }
      assert.equal(left, 0);
      // The bound the README states for what another worker can hold unused: ⌊L / (2N)⌋ (at least 1).
      assert.ok(largest <= Math.max(1, Math.floor(limit / (SHARE_DIVISOR * workers))), `${limit}/${workers}: largest lease ${largest}`);
      assert.ok(grants < 2 * SHARE_DIVISOR * workers * Math.log(limit + 1) + 2 * SHARE_DIVISOR * workers + 1, `${limit}/${workers}: ${grants} grants`);
    }
  });
});

describe("grantedOf", () => {
  test("all of the ask while the counter stays within the limit", () => {
    assert.equal(grantedOf(5, 5, 20), 5);
    assert.equal(grantedOf(5, 20, 20), 5);
  });

  test("only what was left when another charge got in first; never negative", () => {
    assert.equal(grantedOf(5, 22, 20), 3);
    assert.equal(grantedOf(5, 25, 20), 0);
    assert.equal(grantedOf(5, 40, 20), 0);
  });
});

describe("nextWant", () => {
  test("1 for a new key, doubling while whole leases are spent, capped", () => {
    assert.equal(nextWant(0, 0), 1);
    assert.equal(nextWant(1, 0), 2);
    assert.equal(nextWant(64, 0), 128);
    assert.equal(nextWant(MAX_WANT, 0), MAX_WANT);
  });

  test("what was spent when points were left unused", () => {
    assert.equal(nextWant(64, 60), 4);
    assert.equal(nextWant(64, 64), 1);
  });
});

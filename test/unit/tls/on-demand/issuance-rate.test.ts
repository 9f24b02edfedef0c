import assert from "node:assert/strict";
import { test } from "node:test";
import { IssuanceRate } from "../../../../src/tls/on-demand/issuance-rate.js";

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

test("at most perName orders for one name per window", () => {
  const time = clock();
  const rate = new IssuanceRate({ perName: 2, total: 10, window: 60_000 }, time.now);
  assert.equal(rate.take("a.test"), undefined);
  assert.equal(rate.take("a.test"), undefined);
  assert.equal(rate.take("a.test"), "per_name");
  // Other names are not held back by a.test's cap.
  assert.equal(rate.take("b.test"), undefined);
  assert.equal(rate.inWindow, 3);
});

test("at most total orders over all names per window", () => {
  const time = clock();
  const rate = new IssuanceRate({ perName: 3, total: 3, window: 60_000 }, time.now);
  for (const name of ["a.test", "b.test", "c.test"]) assert.equal(rate.take(name), undefined);
  assert.equal(rate.take("d.test"), "total");
  assert.equal(rate.take("a.test"), "total");
  // A refused order is not counted.
  assert.equal(rate.inWindow, 3);
});

test("the window slides: an order leaves it `window` after it started", () => {
  const time = clock();
  const rate = new IssuanceRate({ perName: 1, total: 2, window: 60_000 }, time.now);
  assert.equal(rate.take("a.test"), undefined);
  time.advance(30_000);
  assert.equal(rate.take("b.test"), undefined);
  assert.equal(rate.take("c.test"), "total");
  time.advance(29_999);
  assert.equal(rate.take("c.test"), "total");
  assert.equal(rate.take("a.test"), "per_name");
  time.advance(1); // a.test's order is now 60 s old: out of the window
  assert.equal(rate.take("a.test"), undefined);
  assert.equal(rate.take("c.test"), "total");
  time.advance(30_000); // b.test's leaves too
  assert.equal(rate.take("c.test"), undefined);
  assert.equal(rate.inWindow, 2);
});

test("memory stays bounded by `total` whatever names are tried", () => {
  const time = clock();
  const rate = new IssuanceRate({ perName: 1, total: 5, window: 1_000 }, time.now);
  let taken = 0;
  for (let i = 0; i < 10_000; i++) {
    if (rate.take(`n${i}.test`) === undefined) taken++;
    time.advance(1);
  }
  // 10 s of one attempt per ms, a window of 1 s with room for 5: 5 per window.
  assert.equal(taken, 50);
  assert.ok(rate.inWindow <= 5);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseDuration, parseSize } from "../../../src/config/units.js";

test("durations convert to milliseconds", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("10s"), 10_000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("7d"), 604_800_000);
  assert.equal(parseDuration("1.5s"), 1_500);
  assert.equal(parseDuration("0s"), 0);
  assert.equal(parseDuration(" 30s "), 30_000);
});

test("text that is not a duration gives undefined", () => {
  for (const text of ["", "10", "s", "10 s", "-1s", "1w", "10S", "1.s", "ten seconds", "10s5"]) {
    assert.equal(parseDuration(text), undefined, text);
  }
});

test("sizes convert to bytes, binary and decimal units", () => {
  assert.equal(parseSize("16KiB"), 16_384);
  assert.equal(parseSize("10MiB"), 10_485_760);
  assert.equal(parseSize("1GiB"), 1_073_741_824);
  assert.equal(parseSize("1KB"), 1_000);
  assert.equal(parseSize("2MB"), 2_000_000);
  assert.equal(parseSize("1GB"), 1_000_000_000);
  assert.equal(parseSize("512B"), 512);
  assert.equal(parseSize("1.5KiB"), 1_536);
  assert.equal(parseSize("10 MiB"), 10_485_760);
});

test("a size without a unit is bytes", () => {
  assert.equal(parseSize("512"), 512);
  assert.equal(parseSize("0"), 0);
});

test("text that is not a size gives undefined", () => {
  for (const text of ["", "KiB", "-1KiB", "10XB", "10kib", "ten megs", "1.KiB"]) {
    assert.equal(parseSize(text), undefined, text);
  }
});

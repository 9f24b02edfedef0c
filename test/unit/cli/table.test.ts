// The CLI's human output: aligned columns, escaped control characters, short spans and day counts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cell, daysUntil, describeDays, formatPairs, formatSpan, formatTable, plural, shortTime } from "../../../src/cli/table.js";

describe("formatTable", () => {
  test("pads every column to its widest cell, two spaces apart, no trailing spaces", () => {
    const out = formatTable(["SERVICE", "TARGET", { header: "IN FLIGHT", align: "right" }, "LAST ERROR"], [
      ["api", "127.0.0.1:3001", 12, null],
      ["web-frontend", "10.0.0.7:80", 0, "ECONNREFUSED"],
    ]);
    assert.equal(
      out,
      [
        "SERVICE       TARGET          IN FLIGHT  LAST ERROR",
        "api           127.0.0.1:3001         12  -",
        "web-frontend  10.0.0.7:80             0  ECONNREFUSED",
      ].join("\n"),
    );
  });

  test("a column as wide as its header when the cells are narrower", () => {
    assert.equal(formatTable(["IP", "JAIL"], [["1.2.3.4", "x"]]), "IP       JAIL\n1.2.3.4  x");
  });

  test("no rows: the header alone", () => {
    assert.equal(formatTable(["A", "B"], []), "A  B");
  });

  test("counts characters, not UTF-16 units or bytes", () => {
    const out = formatTable(["ROLLOUT", "X"], [["v1 → v2", "a"], ["v1 to v2!", "b"]]);
    const [, first, second] = out.split("\n");
    assert.equal(first!.indexOf("a"), second!.indexOf("b"));
  });
});

describe("cell", () => {
  test("empty values are a dash", () => {
    assert.equal(cell(null), "-");
    assert.equal(cell(undefined), "-");
    assert.equal(cell(""), "-");
    assert.equal(cell(0), "0");
    assert.equal(cell(false), "false");
  });

  test("control characters from the gateway (a ban reason, an upstream error) are shown, not obeyed", () => {
    assert.equal(cell("evil\u001b[2J\nnext"), "evil\\x1b[2J\\x0anext");
    assert.equal(cell("tab\there"), "tab\\x09here");
  });
});

describe("formatPairs", () => {
  test("aligns the values after the longest label", () => {
    assert.equal(formatPairs([["ready", "yes"], ["certificates", "2"]]), "ready         yes\ncertificates  2");
  });
});

describe("spans and days", () => {
  test("formatSpan keeps the two largest units", () => {
    assert.equal(formatSpan(0), "0s");
    assert.equal(formatSpan(-5_000), "0s");
    assert.equal(formatSpan(45_000), "45s");
    assert.equal(formatSpan(12 * 60_000), "12m");
    assert.equal(formatSpan(3_600_000), "1h");
    assert.equal(formatSpan(3_600_000 - 1_000), "1h", "rounded to the minute: a ban of 1h listed at once reads 1h");
    assert.equal(formatSpan(3 * 3_600_000 + 5 * 60_000), "3h 5m");
    assert.equal(formatSpan(2 * 86_400_000), "2d");
    assert.equal(formatSpan(2 * 86_400_000 + 4 * 3_600_000), "2d 4h");
  });

  test("daysUntil counts whole days, negative once past", () => {
    const now = Date.parse("2026-12-01T00:00:00Z");
    assert.equal(daysUntil("2027-01-31T00:00:00Z", now), 61);
    assert.equal(daysUntil("2026-12-01T23:00:00Z", now), 0);
    assert.equal(daysUntil("2026-11-28T00:00:00Z", now), -3);
    assert.equal(daysUntil("not a date", now), undefined);
  });

  test("describeDays", () => {
    assert.equal(describeDays(61), "61 days");
    assert.equal(describeDays(1), "1 day");
    assert.equal(describeDays(0), "0 days");
    assert.equal(describeDays(-1), "expired 1 day ago");
    assert.equal(describeDays(-3), "expired 3 days ago");
    assert.equal(describeDays(undefined), "?");
  });

  test("shortTime and plural", () => {
    assert.equal(shortTime("2026-12-01T10:00:59.123Z"), "2026-12-01 10:00Z");
    assert.equal(shortTime(null), "-");
    assert.equal(shortTime("garbage"), "garbage");
    assert.equal(plural(1, "ban"), "1 ban");
    assert.equal(plural(2, "ban"), "2 bans");
  });
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { renewalTime } from "../../../src/tls/renewal-time.js";

const DAY = 86_400_000;
const start = new Date("2026-01-01T00:00:00Z");
const after = (days: number): Date => new Date(start.getTime() + days * DAY);

test("a 90-day certificate renews 30 days ahead of expiry (both rules agree)", () => {
  assert.deepEqual(renewalTime(start, after(90), 30 * DAY), after(60));
});

test("a one-year certificate renews when a third of its lifetime remains, earlier than renewBefore", () => {
  assert.deepEqual(renewalTime(start, after(360), 30 * DAY), after(240));
});

test("a long renewBefore wins when it is earlier", () => {
  assert.deepEqual(renewalTime(start, after(90), 45 * DAY), after(45));
});

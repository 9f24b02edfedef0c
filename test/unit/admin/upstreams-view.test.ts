// Merging the workers' /api/upstreams rows: the fleet's answer for each target.
import assert from "node:assert/strict";
import { test } from "node:test";
import { mergeUpstreamViews, type UpstreamRow } from "../../../src/admin/upstreams-view.js";

const row = (over: Partial<UpstreamRow>): UpstreamRow => ({ service: "app", target: "10.0.0.1:80", healthy: true, breaker: "closed", inFlight: 0, lastError: null, tls: { errors: 0, lastError: null, lastErrorAt: null }, ...over });

test("healthy only if every worker says so, the worst breaker state, in-flight summed, counts per worker", () => {
  const merged = mergeUpstreamViews([
    [row({ inFlight: 2 }), row({ target: "10.0.0.2:80", breaker: "half-open" })],
    [row({ healthy: false, inFlight: 3, lastError: "UPSTREAM_CONNECT_FAILED: refused" }), row({ target: "10.0.0.2:80", breaker: "open" })],
    [row({ breaker: "open" }), row({ target: "10.0.0.2:80" })],
  ]);
  assert.deepEqual(merged, [
    { ...row({ healthy: false, breaker: "open", inFlight: 5, lastError: "UPSTREAM_CONNECT_FAILED: refused" }), workers: { reporting: 3, healthy: 2, breakerOpen: 1, breakerHalfOpen: 0 } },
    { ...row({ target: "10.0.0.2:80", breaker: "open" }), workers: { reporting: 3, healthy: 3, breakerOpen: 1, breakerHalfOpen: 1 } },
  ]);
});

test("TLS errors: summed over the workers, the latest one kept with its time", () => {
  const older = { errors: 2, lastError: "CERT_HAS_EXPIRED: certificate has expired", lastErrorAt: "2026-12-01T10:00:00.000Z" };
  const newer = { errors: 1, lastError: "ERR_TLS_CERT_ALTNAME_INVALID: Hostname/IP does not match certificate's altnames", lastErrorAt: "2026-12-01T10:00:05.000Z" };
  const none = { errors: 0, lastError: null, lastErrorAt: null };
  const [merged] = mergeUpstreamViews([[row({ tls: older })], [row({ tls: none })], [row({ tls: newer })]]);
  assert.deepEqual(merged?.tls, { errors: 3, lastError: newer.lastError, lastErrorAt: newer.lastErrorAt });
  const [first] = mergeUpstreamViews([[row({ tls: newer })], [row({ tls: none })]]);
  assert.deepEqual(first?.tls, newer);
});

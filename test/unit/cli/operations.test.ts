// What the operations commands print, from admin API documents (the integration tests run them against
// a real gateway): the status summary, and the bans, upstreams and certificates tables.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { gatewayExtras, renderBans, renderCertificates, renderStatus, renderUpstreams, statusReport, type StatusInputs } from "../../../src/cli/operations.js";

const NOW = Date.parse("2026-12-01T12:00:00Z");

const INPUTS: StatusInputs = {
  admin: "127.0.0.1:9901",
  readyz: { status: 200, body: { status: "ready", pendingCertificates: [], stalledServices: [] } },
  upstreams: [
    { service: "api", target: "127.0.0.1:3001", healthy: true, breaker: "closed", inFlight: 2, lastError: null },
    { service: "api", target: "127.0.0.1:3002", healthy: false, breaker: "open", inFlight: 0, lastError: "connect ECONNREFUSED" },
    { service: "web", target: "10.0.0.7:80", healthy: true, breaker: "half-open", inFlight: 0, lastError: null },
  ],
  bans: [{ ip: "203.0.113.9", jail: "manual", until: "2026-12-01T13:00:00Z", reason: "scanner" }],
  certificates: [
    { domain: "www.example.com", notAfter: "2027-02-01T00:00:00Z", issuer: "CN=R3", source: "acme", nextRenewal: "2027-01-02T00:00:00Z" },
    { domain: "api.example.com", notAfter: "2026-12-08T00:00:00Z", issuer: "CN=Internal", source: "static", nextRenewal: null },
  ],
  rollouts: [{ route: "web", from: "web-v1", to: "web-v2", weight: 20, state: "progressing" }],
  routes: { count: 4, from: "gateway" },
  extras: {
    routes: 4,
    config: { generation: 3, lastReload: { at: "2026-12-01T11:00:00Z", ok: true }, pendingRestart: ["tls.minVersion"] },
    store: { kind: "redis", up: false },
    workers: [{ state: "ready" }, { state: "starting" }],
  },
};

describe("status", () => {
  test("the report counts targets by health and breaker, and sorts certificates by expiry", () => {
    const report = statusReport(INPUTS, NOW);
    assert.equal(report.ready, true);
    assert.equal(report.services, 2);
    assert.deepEqual(report.targets, { total: 3, healthy: 2, unhealthy: 1, breakerOpen: 1, breakerHalfOpen: 1 });
    assert.deepEqual(report.unhealthyTargets.map((row) => row.target), ["127.0.0.1:3002", "10.0.0.7:80"]);
    assert.deepEqual(report.certificates.map((row) => [row.domain, row.daysLeft]), [["api.example.com", 6], ["www.example.com", 61]]);
    assert.equal(report.bans, 1);
    assert.deepEqual(report.workers, { total: 2, ready: 1 });
  });

  test("one screen", () => {
    const text = renderStatus(statusReport(INPUTS, NOW));
    assert.equal(
      text,
      [
        "admin         127.0.0.1:9901",
        "ready         yes",
        "routes        4",
        "services      2",
        "targets       3: 2 healthy, 1 unhealthy; breakers 1 open, 1 half-open",
        "workers       1/2 ready",
        "config        generation 3; last reload ok 2026-12-01 11:00Z; restart needed for tls.minVersion",
        "store         redis, DOWN",
        "bans          1 active",
        "rollouts      web web-v1 → web-v2 20% progressing",
        "certificates  2; soonest expiry: api.example.com (static) 6 days",
        "",
        "targets not serving normally",
        "SERVICE  TARGET          HEALTH     BREAKER    LAST ERROR",
        "api      127.0.0.1:3002  unhealthy  open       connect ECONNREFUSED",
        "web      10.0.0.7:80     healthy    half-open  -",
        "",
        "certificates",
        "DOMAIN           SOURCE  EXPIRES IN  NOT AFTER          NEXT RENEWAL",
        "api.example.com  static      6 days  2026-12-08 00:00Z  -",
        "www.example.com  acme       61 days  2027-02-01 00:00Z  2027-01-02 00:00Z",
      ].join("\n"),
    );
  });

  test("not ready says why; an older gateway without /api/status shows the route count from the file", () => {
    const report = statusReport(
      { ...INPUTS, readyz: { status: 503, body: { status: "not_ready", reason: "not listening" } }, routes: { count: 2, from: "config/gateway.yaml" }, extras: undefined },
      NOW,
    );
    const text = renderStatus(report);
    assert.match(text, /^ready {9}no \(not listening\)$/m);
    assert.match(text, /^routes {8}2 \(in config\/gateway\.yaml\)$/m);
    assert.doesNotMatch(text, /^(config|store|workers) /m);
    assert.equal(renderStatus(statusReport({ ...INPUTS, routes: undefined, extras: undefined }, NOW)).split("\n")[2], "routes        unknown");
  });

  test("gatewayExtras reads what it knows of /api/status and ignores the rest", () => {
    assert.equal(gatewayExtras("nope"), undefined);
    assert.deepEqual(gatewayExtras({}), {});
    assert.deepEqual(gatewayExtras({ routes: [{}, {}], config: { generation: 2, lastReload: null }, store: { kind: "memory", up: true }, workers: null, extra: 1 }), {
      routes: 2,
      config: { generation: 2, lastReload: null },
      store: { kind: "memory", up: true },
    });
  });
});

describe("tables", () => {
  test("bans: soonest to expire first, time left, count", () => {
    const text = renderBans(
      [
        { ip: "2001:db8:1:2::/64", jail: "scanners", until: "2026-12-02T12:00:00Z", reason: "404 burst" },
        { ip: "203.0.113.9", jail: "manual", until: "2026-12-01T12:30:00Z", reason: "" },
      ],
      NOW,
    );
    assert.equal(
      text,
      [
        "IP                 JAIL      EXPIRES IN  UNTIL              REASON",
        "203.0.113.9        manual           30m  2026-12-01 12:30Z  -",
        "2001:db8:1:2::/64  scanners          1d  2026-12-02 12:00Z  404 burst",
        "2 bans",
      ].join("\n"),
    );
    assert.equal(renderBans([], NOW), "no active bans");
  });

  test("upstreams, with a WORKERS column only when the gateway runs workers", () => {
    assert.equal(
      renderUpstreams(INPUTS.upstreams),
      [
        "SERVICE  TARGET          HEALTH     BREAKER    IN FLIGHT  LAST ERROR",
        "api      127.0.0.1:3001  healthy    closed             2  -",
        "api      127.0.0.1:3002  unhealthy  open               0  connect ECONNREFUSED",
        "web      10.0.0.7:80     healthy    half-open          0  -",
        "3 targets in 2 services, 2 healthy",
      ].join("\n"),
    );
    const fleet = renderUpstreams([{ ...INPUTS.upstreams[1]!, workers: { reporting: 2, healthy: 1, breakerOpen: 1, breakerHalfOpen: 0 } }]);
    assert.deepEqual(fleet.split("\n").slice(0, 2), [
      "SERVICE  TARGET          HEALTH     BREAKER  IN FLIGHT  WORKERS      LAST ERROR",
      "api      127.0.0.1:3002  unhealthy  open             0  1/2 healthy  connect ECONNREFUSED",
    ]);
    assert.equal(renderUpstreams([]), "no services");
  });

  test("certificates", () => {
    const text = renderCertificates(INPUTS.certificates, NOW);
    assert.match(text.split("\n")[0]!, /^DOMAIN {11}SOURCE {2}EXPIRES IN {2}NOT AFTER {10}NEXT RENEWAL {7}ISSUER$/);
    assert.match(text, /^api\.example\.com {2}static {6}6 days {2}2026-12-08 00:00Z {2}- {18}CN=Internal$/m);
    assert.equal(renderCertificates([], NOW), "no certificates");
    const failing = renderCertificates([{ ...INPUTS.certificates[0]!, lastError: { code: "DNS_PROPAGATION_TIMEOUT", message: "TXT _acme-challenge.www.example.com. not visible within 60000 ms", at: "2026-12-01T10:00:00Z" } }], NOW);
    assert.match(failing.split("\n")[0]!, / {2}ISSUER {2}LAST ACME ERROR$/);
    assert.match(failing, /acme .* CN=R3 {3}DNS_PROPAGATION_TIMEOUT at 2026-12-01 10:00Z$/m);
    assert.match(failing, /\n\nwww\.example\.com: TXT _acme-challenge\.www\.example\.com\. not visible within 60000 ms$/);
  });
});

// /api/bans: list, add (validated: address, duration, reason; allowlisted addresses refused), lift
// (then connections work again; IPv6 prefixes URL-encoded), each ban and unban logged once; with an
// adminToken every method needs the bearer token.
import assert from "node:assert/strict";
import type http from "node:http";
import { describe, test } from "node:test";
import { listBans, type ListedBan } from "../../helpers/admin-api.js";
import { request, type Response } from "../../helpers/client.js";
import { suiteGateway } from "../../helpers/fixtures.js";
import { simpleConfig, startGateway, type TestGateway } from "../../helpers/gateway.js";
import { tlsHandshake } from "../../helpers/guards.js";
import { captureLogger, fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";

describe("/api/bans", () => {
  const log = captureLogger();
  const suite = suiteGateway((backend) => simpleConfig(backend.url, { top: { allowlist: ["198.51.100.0/24"], shutdownGrace: "1s" } }), {
    logger: log.logger,
    accessLog: log.accessLog,
  });

  function admin(method: string, path: string, body?: unknown, headers: http.OutgoingHttpHeaders = {}, gateway: TestGateway = suite.gw): Promise<Response> {
    return request({
      port: gateway.adminPort,
      method,
      path,
      headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  }

  function list(): Promise<ListedBan[]> {
    return listBans(suite.gw.adminPort);
  }

  test("POST validates the address, the duration and the reason", async () => {
    const cases: [unknown, RegExp][] = [
      [{ ip: "not-an-ip", duration: "1h" }, /"ip"/],
      [{ ip: "203.0.113.300", duration: "1h" }, /"ip"/],
      [{ ip: "203.0.113.0/24", duration: "1h" }, /"ip"/],
      [{ ip: 12345, duration: "1h" }, /"ip"/],
      [{ duration: "1h" }, /"ip"/],
      [{ ip: "203.0.113.5", duration: "forever" }, /"duration"/],
      [{ ip: "203.0.113.5", duration: "0s" }, /"duration"/],
      [{ ip: "203.0.113.5", duration: 3600 }, /"duration"/],
      [{ ip: "203.0.113.5" }, /"duration"/],
      [{ ip: "203.0.113.5", duration: "1h", reason: 42 }, /"reason"/],
    ];
    for (const [body, message] of cases) {
      const res = await admin("POST", "/api/bans", body);
      assert.equal(res.status, 400, JSON.stringify(body));
      const answer = res.json<{ error: string; message: string }>();
      assert.equal(answer.error, "invalid_request");
      assert.match(answer.message, message);
    }
    const badJson = await admin("POST", "/api/bans", "{ nope");
    assert.equal(badJson.status, 400);
    assert.equal(badJson.json<{ error: string }>().error, "invalid_json");
    assert.deepEqual(await list(), [], "nothing was banned");
  });

  test("POST of an allowlisted address is 409, and nothing is banned", async () => {
    const res = await admin("POST", "/api/bans", { ip: "198.51.100.7", duration: "1h", reason: "x" });
    assert.equal(res.status, 409);
    assert.equal(res.json<{ error: string }>().error, "allowlisted");
    assert.deepEqual(await list(), []);
  });

  test("POST adds a ban (201), GET lists it, the metrics and the log record it", async () => {
    const before = Date.now();
    const res = await admin("POST", "/api/bans", { ip: " 203.0.113.77 ", duration: "1h", reason: "credential stuffing" });
    assert.equal(res.status, 201);
    const created = res.json<ListedBan>();
    assert.equal(created.ip, "203.0.113.77");
    assert.equal(created.jail, "manual");
    assert.equal(created.reason, "credential stuffing");
    const until = Date.parse(created.until);
    assert.ok(until - before >= 3_600_000 && until - Date.now() <= 3_600_000);
    assert.deepEqual(await list(), [created]);

    const defaulted = await admin("POST", "/api/bans", { ip: "::ffff:203.0.113.78", duration: "30m" });
    assert.equal(defaulted.status, 201);
    assert.equal(defaulted.json<ListedBan>().ip, "203.0.113.78", "IPv4-mapped addresses are the IPv4 client");
    assert.equal(defaulted.json<ListedBan>().reason, "banned through the admin API");

    const metrics = await fetchMetrics(suite.gw.adminPort);
    assert.equal(metricValue(metrics, 'rampart_bans_total{jail="manual"}'), 2);
    assert.equal(metricValue(metrics, "rampart_bans_active"), 2);
    const lines = log.lines.filter((line) => line.msg === "banned" && line.ip === "203.0.113.77");
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.jail, "manual");
    assert.equal(lines[0]!.durationMs, 3_600_000);
    assert.equal(lines[0]!.reason, "credential stuffing");

    for (const ip of ["203.0.113.77", "203.0.113.78"]) assert.equal((await admin("DELETE", `/api/bans/${ip}`)).status, 200);
  });

  test("DELETE lifts a ban: connections from the address work again; an unknown address is 404", async () => {
    assert.equal(await tlsHandshake(suite.gw.httpsPort), "secure");
    assert.equal((await admin("POST", "/api/bans", { ip: "127.0.0.1", duration: "1h", reason: "test" })).status, 201);
    assert.equal(await tlsHandshake(suite.gw.httpsPort), "closed");

    const lifted = await admin("DELETE", "/api/bans/127.0.0.1");
    assert.equal(lifted.status, 200);
    assert.deepEqual(lifted.json(), { status: "unbanned", ip: "127.0.0.1" });
    assert.equal(await tlsHandshake(suite.gw.httpsPort), "secure");
    assert.equal((await request({ port: suite.gw.httpsPort, tls: true, path: "/back" })).status, 200);
    assert.deepEqual(await list(), []);
    assert.equal(log.lines.filter((line) => line.msg === "unbanned" && line.ip === "127.0.0.1").length, 1, "the unban is logged once");
    assert.equal(metricValue(await fetchMetrics(suite.gw.adminPort), "rampart_bans_active"), 0);

    const again = await admin("DELETE", "/api/bans/127.0.0.1");
    assert.equal(again.status, 404);
    assert.equal(again.json<{ error: string }>().error, "not_banned");
    assert.equal((await admin("DELETE", "/api/bans/203.0.113.250")).status, 404);
    assert.equal((await admin("DELETE", "/api/bans/not-an-ip")).status, 400);
    assert.equal((await admin("DELETE", "/api/bans/203.0.113.1/24")).status, 400, "a prefix is for IPv6 only");
  });

  test("IPv6: a ban covers the /64 and is listed and lifted by its URL-encoded prefix", async () => {
    const res = await admin("POST", "/api/bans", { ip: "2001:DB8:1:2::1", duration: "1h", reason: "v6" });
    assert.equal(res.status, 201);
    assert.equal(res.json<ListedBan>().ip, "2001:db8:1:2::/64");
    assert.deepEqual(
      (await list()).map((ban) => ban.ip),
      ["2001:db8:1:2::/64"],
    );
    const lifted = await admin("DELETE", `/api/bans/${encodeURIComponent("2001:db8:1:2::")}/64`);
    assert.equal(lifted.status, 200);
    assert.deepEqual(await list(), []);

    // Fully encoded ("/" as %2F) and by any address inside the prefix work too.
    await admin("POST", "/api/bans", { ip: "2001:db8:1:2:ffff::9", duration: "1h" });
    assert.equal((await admin("DELETE", `/api/bans/${encodeURIComponent("2001:db8:1:2::/64")}`)).status, 200);
    await admin("POST", "/api/bans", { ip: "2001:db8:1:2::1", duration: "1h" });
    assert.equal((await admin("DELETE", `/api/bans/${encodeURIComponent("2001:db8:1:2:aaaa::1")}`)).status, 200);
    assert.equal((await admin("DELETE", `/api/bans/${encodeURIComponent("2001:db8:1:3::")}/64`)).status, 404);
    assert.deepEqual(await list(), []);
  });

  test("with adminToken set, /api/bans requires the bearer token", async () => {
    const secured = await startGateway(simpleConfig(suite.backend.url, { top: { adminToken: "s3cret-token", shutdownGrace: "1s" } }));
    try {
      const bearer = { authorization: "Bearer s3cret-token" };
      for (const headers of [{}, { authorization: "Bearer wrong-token!" }, { authorization: "s3cret-token" }]) {
        assert.equal((await admin("GET", "/api/bans", undefined, headers, secured)).status, 401);
        assert.equal((await admin("POST", "/api/bans", { ip: "203.0.113.5", duration: "1h" }, headers, secured)).status, 401);
        assert.equal((await admin("DELETE", "/api/bans/203.0.113.5", undefined, headers, secured)).status, 401);
      }
      const empty = await admin("GET", "/api/bans", undefined, bearer, secured);
      assert.equal(empty.status, 200);
      assert.deepEqual(empty.json(), [], "the refused POSTs banned nothing");
      assert.equal((await admin("POST", "/api/bans", { ip: "203.0.113.5", duration: "1h" }, bearer, secured)).status, 201);
      assert.equal((await admin("GET", "/api/bans", undefined, bearer, secured)).json<ListedBan[]>().length, 1);
      assert.equal((await admin("DELETE", "/api/bans/203.0.113.5", undefined, bearer, secured)).status, 200);
      // Metrics stay readable without the token (only /api/* is guarded).
      assert.equal(metricValue(await fetchMetrics(secured.adminPort), "rampart_bans_active"), 0);
    } finally {
      await secured.close();
    }
  });
});

// Fail2Ban-style jails end to end: a real backend answering 401, offences counted when responses close,
// the ban enforced at accept (before any TLS byte), listed by /api/bans, counted in the metrics, lifted
// when it expires, and escalated for repeat offenders. Scanner paths ban on the first hit, rate-limited
// requests can be offences, and a route's `jails` list decides which jails its responses feed.
// Bans here key on 127.0.0.1 (the test client), so no allowlist includes it.
import assert from "node:assert/strict";
import type http from "node:http";
import { describe, test } from "node:test";
import { listBans, type ListedBan } from "../../helpers/admin-api.js";
import { request, type Response } from "../../helpers/client.js";
import { simpleConfig, type TestGateway } from "../../helpers/gateway.js";
import { guardsFixture, tcpProbe, tlsHandshake } from "../../helpers/guards.js";
import { captureLogger, eventually, fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("jails", () => {
  // 401 for /login and /open, 200 elsewhere.
  const suite = guardsFixture((req, res) => {
    const status = /^\/(login|open)/.test(req.url ?? "") ? 401 : 200;
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ url: req.url }));
  });
  const { start } = suite;

  function get(gateway: TestGateway, path: string, headers: http.OutgoingHttpHeaders = {}): Promise<Response> {
    return request({ port: gateway.httpsPort, tls: true, path, headers });
  }

  /** Polls /api/bans every 25 ms until `ip` is banned. */
  function banOf(gateway: TestGateway, ip: string): Promise<ListedBan> {
    return eventually(async () => (await listBans(gateway.adminPort)).find((ban) => ban.ip === ip), 2_000, `a ban on ${ip}`, 25);
  }

  test("3 × 401 within findTime: the next connection is closed at accept, before TLS; listed, counted; the ban expires", async () => {
    const log = captureLogger();
    const gateway = await start(
      simpleConfig(suite.backend.url, { top: { jails: { auth: { when: { status: [401] }, maxRetry: 3, findTime: "1m", banTime: "2s" } } } }),
      log,
    );
    // Spoofed X-Forwarded-For from an untrusted peer changes nothing: every offence is 127.0.0.1's.
    assert.equal((await get(gateway, "/login", { "x-forwarded-for": "203.0.113.1" })).status, 401);
    assert.equal((await get(gateway, "/login", { "x-forwarded-for": "203.0.113.2" })).status, 401);
    assert.equal((await get(gateway, "/fine")).status, 200, "a 200 is not an offence");
    await sleep(100);
    assert.deepEqual(await listBans(gateway.adminPort), [], "two offences of three: not banned yet");
    assert.equal(await tlsHandshake(gateway.httpsPort), "secure");

    const before = Date.now();
    assert.equal((await get(gateway, "/login", { "x-forwarded-for": "203.0.113.3" })).status, 401);
    const ban = await banOf(gateway, "127.0.0.1");
    const seen = Date.now();
    assert.equal(ban.jail, "auth");
    assert.match(ban.reason, /3 offence\(s\) within 60s/);
    assert.match(ban.until, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const until = Date.parse(ban.until);
    assert.ok(until - before >= 2_000 && until - seen <= 2_000, `until is banTime after the ban (${until - before} ms after the last offence)`);

    // Closed at accept: no TLS handshake, no byte on either listener.
    assert.equal(await tlsHandshake(gateway.httpsPort), "closed");
    assert.deepEqual(await tcpProbe(gateway.httpsPort), { closed: true, bytes: 0 });
    assert.deepEqual(await tcpProbe(gateway.httpPort), { closed: true, bytes: 0 });
    await assert.rejects(get(gateway, "/fine"));

    const metrics = await fetchMetrics(gateway.adminPort);
    assert.ok((metricValue(metrics, 'rampart_connections_rejected_total{reason="banned"}') ?? 0) >= 4);
    assert.equal(metricValue(metrics, "rampart_bans_active"), 1);
    assert.equal(metricValue(metrics, 'rampart_bans_total{jail="auth"}'), 1);
    assert.equal(metricValue(metrics, 'rampart_connections_rejected_total{reason="denied"}'), 0);

    // Logged once, with jail, IP, duration and reason.
    const banned = log.lines.filter((line) => line.msg === "banned");
    assert.equal(banned.length, 1);
    assert.equal(banned[0]!.ip, "127.0.0.1");
    assert.equal(banned[0]!.jail, "auth");
    assert.equal(banned[0]!.durationMs, 2_000);
    assert.match(String(banned[0]!.reason), /GET \/login → 401/);

    // banTime 2s: the ban lapses (the ban list drops it on the next lookup) and connections work again.
    await sleep(Math.max(0, until - Date.now()));
    await eventually(async () => ((await tlsHandshake(gateway.httpsPort)) === "secure" ? true : undefined), 1_500, "the ban to expire", 25);
    assert.equal((await get(gateway, "/fine")).status, 200);
    assert.deepEqual(await listBans(gateway.adminPort), []);
    assert.deepEqual(await tcpProbe(gateway.httpPort, 300), { closed: false, bytes: 0 }, "an admitted connection waits for its request");
  });

  test("banTimeIncrement {factor: 2}: the second ban lasts twice the first", async () => {
    const log = captureLogger();
    const gateway = await start(
      simpleConfig(suite.backend.url, {
        top: { jails: { auth: { when: { status: [401] }, maxRetry: 2, findTime: "1m", banTime: "1s", banTimeIncrement: { factor: 2, maxTime: "1h" } } } },
      }),
      log,
    );
    const durations: { readonly min: number; readonly max: number }[] = [];
    for (let round = 0; round < 2; round++) {
      await eventually(async () => ((await tlsHandshake(gateway.httpsPort)) === "secure" ? true : undefined), 3_000, "connections to be admitted", 25);
      assert.equal((await get(gateway, "/login")).status, 401);
      const before = Date.now();
      assert.equal((await get(gateway, "/login")).status, 401);
      const ban = await banOf(gateway, "127.0.0.1");
      const seen = Date.now();
      const until = Date.parse(ban.until);
      // The ban was issued between `before` and `seen`: its length lies between these two bounds.
      durations.push({ min: until - seen, max: until - before });
    }
    const [first, second] = durations as [{ min: number; max: number }, { min: number; max: number }];
    assert.ok(first.max >= 1_000 && first.min <= 1_000, `first ban ~1 s (${first.min}..${first.max} ms)`);
    assert.ok(second.max >= 2_000 && second.min <= 2_000, `second ban ~2 s (${second.min}..${second.max} ms)`);
    const ratio = (second.min + second.max) / (first.min + first.max);
    assert.ok(ratio > 1.7 && ratio < 2.3, `second/first = ${ratio.toFixed(2)}`);
    assert.deepEqual(
      log.lines.filter((line) => line.msg === "banned").map((line) => line.durationMs),
      [1_000, 2_000],
    );
    const metrics = await fetchMetrics(gateway.adminPort);
    assert.equal(metricValue(metrics, 'rampart_bans_total{jail="auth"}'), 2);
  });

  test("a scanner path bans on the first hit, even with no route for it (404)", async () => {
    const gateway = await start({
      services: { app: { targets: [{ url: suite.backend.url }] } },
      routes: [{ name: "api", match: { pathPrefix: "/api" }, service: "app" }],
      jails: { scanners: { when: { path: "^/(\\.env|\\.git/)" }, maxRetry: 1, banTime: "1h" } },
    });
    assert.equal((await get(gateway, "/index.php")).status, 404);
    assert.equal((await get(gateway, "/api/x")).status, 200);
    await sleep(100);
    assert.deepEqual(await listBans(gateway.adminPort), []);

    const res = await get(gateway, "/.env");
    assert.equal(res.status, 404);
    const ban = await banOf(gateway, "127.0.0.1");
    assert.equal(ban.jail, "scanners");
    assert.match(ban.reason, /GET \/\.env → 404/);
    assert.ok(Date.parse(ban.until) - Date.now() > 3_500_000);
    assert.equal(await tlsHandshake(gateway.httpsPort), "closed");
    assert.equal(suite.backend.requests.filter((req) => req.url === "/.env").length, 0, "never reached the backend");
  });

  test("a jail with rateLimited: true bans after maxRetry 429s", async () => {
    const gateway = await start(
      simpleConfig(suite.backend.url, {
        route: { rateLimit: "tight" },
        top: {
          rateLimits: { tight: { limit: 2, window: "10s" } },
          jails: { flood: { when: { rateLimited: true }, maxRetry: 2, findTime: "1m", banTime: "1h" } },
        },
      }),
    );
    assert.equal((await get(gateway, "/fine")).status, 200);
    assert.equal((await get(gateway, "/fine")).status, 200);
    assert.equal((await get(gateway, "/fine")).status, 429);
    await sleep(100);
    assert.deepEqual(await listBans(gateway.adminPort), [], "one 429 of two");
    assert.equal((await get(gateway, "/fine")).status, 429);
    const ban = await banOf(gateway, "127.0.0.1");
    assert.equal(ban.jail, "flood");
    assert.equal(await tlsHandshake(gateway.httpsPort), "closed");
    const metrics = await fetchMetrics(gateway.adminPort);
    assert.equal(metricValue(metrics, 'rampart_ratelimit_rejections_total{policy="tight",route="app"}'), 2);
    assert.equal(metricValue(metrics, 'rampart_bans_total{jail="flood"}'), 1);
  });

  test("a route's `jails` list: only those jails count its responses; a route without the key feeds every jail", async () => {
    // Clients are told apart through a trusted proxy (X-Forwarded-For), so each can be banned on its own;
    // such a ban is answered 403, the proxy's connection stays admitted.
    const gateway = await start({
      trustedProxies: ["127.0.0.1/32"],
      services: { app: { targets: [{ url: suite.backend.url }] } },
      routes: [
        { name: "guarded", match: { pathPrefix: "/login" }, service: "app", jails: ["auth"] },
        { name: "open", match: { pathPrefix: "/open" }, service: "app", jails: ["teapot"] },
        { name: "none", match: { pathPrefix: "/open-none" }, service: "app", jails: [] },
        { name: "rest", match: { pathPrefix: "/" }, service: "app" },
      ],
      jails: {
        auth: { when: { status: [401] }, maxRetry: 2, findTime: "1m", banTime: "1h" },
        teapot: { when: { status: [418] }, maxRetry: 1, findTime: "1m", banTime: "1h" },
      },
    });
    const as = (client: string) => ({ "x-forwarded-for": client });
    for (let i = 0; i < 4; i++) {
      assert.equal((await get(gateway, "/open/x", as("203.0.113.1"))).status, 401);
      assert.equal((await get(gateway, "/open-none/x", as("203.0.113.1"))).status, 401);
    }
    await sleep(100);
    assert.deepEqual(await listBans(gateway.adminPort), [], "401s on routes that do not list auth are not auth offences");

    assert.equal((await get(gateway, "/login", as("203.0.113.1"))).status, 401);
    assert.equal((await get(gateway, "/login", as("203.0.113.1"))).status, 401);
    assert.equal((await banOf(gateway, "203.0.113.1")).jail, "auth");
    const refused = await get(gateway, "/fine", as("203.0.113.1"));
    assert.equal(refused.status, 403);
    assert.equal(refused.json<{ error: string }>().error, "banned");

    // "rest" has no `jails` key: its responses feed every jail.
    assert.equal((await get(gateway, "/openish", as("203.0.113.2"))).status, 401, "/openish is on route rest");
    assert.equal((await get(gateway, "/openish", as("203.0.113.2"))).status, 401);
    assert.equal((await banOf(gateway, "203.0.113.2")).jail, "auth");

    assert.equal((await get(gateway, "/fine", as("203.0.113.3"))).status, 200, "other clients are untouched");
    assert.equal(await tlsHandshake(gateway.httpsPort), "secure", "the proxy itself is not banned");
  });

  test("an allowlisted client is never banned, whatever its offences", async () => {
    const gateway = await start(
      simpleConfig(suite.backend.url, {
        top: { allowlist: ["127.0.0.1/32"], jails: { auth: { when: { status: [401] }, maxRetry: 1, findTime: "1m", banTime: "1h" } } },
      }),
    );
    for (let i = 0; i < 3; i++) assert.equal((await get(gateway, "/login")).status, 401);
    await sleep(150);
    assert.deepEqual(await listBans(gateway.adminPort), []);
    assert.equal((await get(gateway, "/fine")).status, 200);
    const metrics = await fetchMetrics(gateway.adminPort);
    assert.equal(metricValue(metrics, "rampart_bans_active"), 0);
  });
});

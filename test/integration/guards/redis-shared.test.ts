// Two gateway instances on one real redis-server: a shared rate limit holds across the fleet, a ban
// decided on one instance (admin API or jail) is enforced by the other within a second, at the request
// (X-Forwarded-For client, 403) and at accept (socket address, closed before TLS), lifted everywhere by
// one DELETE, re-applied by a restarted instance from Redis, and escalated across instances.
import assert from "node:assert/strict";
import type http from "node:http";
import { tlsHandshake } from "../../helpers/guards.js";
import { after, before, describe, test } from "node:test";
import { addBan, listBans, type ListedBan } from "../../helpers/admin-api.js";
import { rejectLogins } from "../../helpers/backend.js";
import { request, type Response } from "../../helpers/client.js";
import { perTest } from "../../helpers/fixtures.js";
import type { ConfigObject, TestGateway } from "../../helpers/gateway.js";
import { eventually, fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";

const HOUR = 3_600_000;

describe("two instances sharing one Redis", { timeout: 60_000 }, () => {
  let redis: TestRedis | undefined;
  let testNumber = 0;

  before(async () => {
    redis = await startRedis();
  });

  after(async () => {
    await redis?.stop();
  });

  const scope = perTest({ onCleanupError: "log" });
  const { gateway } = scope;

  /** A backend that answers 401 on /login and echoes everything else. */
  const backend = () => scope.backend(rejectLogins);

  /** Each test has its own key prefix on the shared server: no state leaks from one test into the next. */
  function storeConfig(): ConfigObject {
    return { kind: "redis", redis: { url: redis!.url, keyPrefix: `rampart:shared-${++testNumber}:` }, onStoreFailure: "open" };
  }

  function config(backendUrl: string, store: ConfigObject, top: ConfigObject = {}): ConfigObject {
    return {
      shutdownGrace: "1s",
      trustedProxies: ["127.0.0.1/32"],
      store,
      services: { app: { targets: [{ url: backendUrl }] } },
      routes: [{ name: "app", match: { pathPrefix: "/" }, service: "app", ...((top.route ?? {}) as ConfigObject) }],
      ...Object.fromEntries(Object.entries(top).filter(([key]) => key !== "route")),
    };
  }

  /** Two instances (A, B) with the same config and the same Redis key prefix. */
  async function pair(top: ConfigObject = {}): Promise<{ a: TestGateway; b: TestGateway; store: ConfigObject; backendUrl: string }> {
    const upstream = await backend();
    const store = storeConfig();
    const a = await gateway(config(upstream.url, store, top));
    const b = await gateway(config(upstream.url, store, top));
    return { a, b, store, backendUrl: upstream.url };
  }

  function send(gw: TestGateway, path: string, forwardedFor?: string): Promise<Response> {
    const headers: http.OutgoingHttpHeaders = {};
    if (forwardedFor !== undefined) headers["x-forwarded-for"] = forwardedFor;
    return request({ port: gw.httpsPort, tls: true, path, headers });
  }

  function admin(gw: TestGateway, method: string, path: string, body?: unknown): Promise<Response> {
    return request({
      port: gw.adminPort,
      method,
      path,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async function banOf(gw: TestGateway, ip: string): Promise<ListedBan | undefined> {
    return (await listBans(gw.adminPort)).find((ban) => ban.ip === ip);
  }

  /** Polls until `gw` answers `status` for the client `forwardedFor`; returns the response and the time it took. */
  async function untilStatus(gw: TestGateway, forwardedFor: string, status: number, ms: number): Promise<{ res: Response; elapsedMs: number }> {
    const started = Date.now();
    const res = await eventually(
      async () => {
        const answer = await send(gw, "/", forwardedFor);
        return answer.status === status ? answer : undefined;
      },
      ms,
      `HTTP ${status} for ${forwardedFor} on :${gw.httpsPort}`,
    );
    return { res, elapsedMs: Date.now() - started };
  }

  async function metric(gw: TestGateway, sample: string): Promise<number> {
    return metricValue(await fetchMetrics(gw.adminPort), sample) ?? 0;
  }

  test("a shared limit of 10 lets 10 requests through in total across both instances", async () => {
    const { a, b } = await pair({ rateLimits: { shared: { limit: 10, window: "5s" } }, route: { rateLimit: "shared" } });
    const statuses: number[] = [];
    const byInstance = { a: [] as number[], b: [] as number[] };
    let last429: Response | undefined;
    for (let i = 0; i < 20; i++) {
      const gw = i % 2 === 0 ? a : b;
      const res = await send(gw, `/item/${i}`);
      statuses.push(res.status);
      (i % 2 === 0 ? byInstance.a : byInstance.b).push(res.status);
      if (res.status === 429) last429 = res;
      else assert.equal(res.headers["ratelimit-remaining"], String(9 - i), `remaining after request ${i + 1}`);
    }
    assert.equal(statuses.filter((status) => status === 200).length, 10, `statuses: ${statuses.join(",")}`);
    assert.equal(statuses.filter((status) => status === 429).length, 10, `statuses: ${statuses.join(",")}`);
    // Sequential requests: the first 10 (5 on each instance) pass, everything after is limited.
    assert.deepEqual(statuses, [...Array<number>(10).fill(200), ...Array<number>(10).fill(429)]);
    assert.deepEqual(byInstance.a, [200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
    assert.deepEqual(byInstance.b, [200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
    assert.ok(last429);
    assert.equal(last429.json<{ error: string }>().error, "rate_limited");
    assert.equal(last429.headers["ratelimit-limit"], "10");
    assert.equal(last429.headers["ratelimit-remaining"], "0");
    const retryAfter = Number(last429.headers["retry-after"]);
    assert.ok(retryAfter >= 1 && retryAfter <= 5, `Retry-After ${retryAfter}`);
    const rejections = 'rampart_ratelimit_rejections_total{policy="shared",route="app"}';
    assert.equal((await metric(a, rejections)) + (await metric(b, rejections)), 10);
  });

  test("an API ban on A is enforced by B within 1 s, and a DELETE on B lifts it on A within 1 s", async () => {
    const { a, b } = await pair();
    const client = "203.0.113.50";
    assert.equal((await send(b, "/", client)).status, 200);
    assert.equal((await send(a, "/", client)).status, 200);

    await addBan(a.adminPort, client, "1h", "fleet test");
    const banned = await untilStatus(b, client, 403, 1_000);
    assert.ok(banned.elapsedMs < 1_000, `B enforced the ban after ${banned.elapsedMs} ms`);
    assert.equal(banned.res.json<{ error: string }>().error, "banned");
    assert.equal((await send(a, "/", client)).status, 403);
    // Only that client: another one behind the same proxy is served.
    assert.equal((await send(b, "/", "203.0.113.51")).status, 200);

    const listed = await banOf(b, client);
    assert.ok(listed, "B lists the ban made on A");
    assert.equal(listed.jail, "manual");
    assert.equal(listed.reason, "fleet test");
    const remaining = Date.parse(listed.until) - Date.now();
    assert.ok(remaining > HOUR - 60_000 && remaining <= HOUR, `until ${listed.until}`);
    assert.equal(await metric(b, "rampart_bans_active"), 1);

    const lifted = await admin(b, "DELETE", `/api/bans/${client}`);
    assert.equal(lifted.status, 200, lifted.body);
    const served = await untilStatus(a, client, 200, 1_000);
    assert.ok(served.elapsedMs < 1_000, `A lifted the ban after ${served.elapsedMs} ms`);
    assert.equal(await banOf(a, client), undefined);
    assert.equal(await banOf(b, client), undefined);
    assert.equal((await send(b, "/", client)).status, 200);
    assert.equal(await metric(a, "rampart_bans_active"), 0);
  });

  test("a jail ban decided on A (401 burst) is enforced by B", async () => {
    const { a, b } = await pair({ jails: { auth: { when: { status: [401] }, maxRetry: 3, findTime: "1m", banTime: "1h" } } });
    const client = "203.0.113.60";
    for (let i = 0; i < 3; i++) assert.equal((await send(a, "/login", client)).status, 401);
    const banned = await untilStatus(b, client, 403, 2_000);
    assert.equal(banned.res.json<{ error: string }>().error, "banned");
    const listed = await banOf(b, client);
    assert.ok(listed);
    assert.equal(listed.jail, "auth");
    assert.equal((await send(a, "/", client)).status, 403);
    // The ban was decided by A alone; B learned it from Redis.
    assert.equal(await metric(a, 'rampart_bans_total{jail="auth"}'), 1);
    assert.equal(await metric(b, 'rampart_bans_total{jail="auth"}'), 0);
    assert.equal((await send(b, "/", "203.0.113.61")).status, 200);
  });

  test("offences add up across the fleet: 2 on A and 1 on B ban the client", async () => {
    const { a, b } = await pair({ jails: { auth: { when: { status: [401] }, maxRetry: 3, findTime: "1m", banTime: "1h" } } });
    const client = "203.0.113.65";
    assert.equal((await send(a, "/login", client)).status, 401);
    assert.equal((await send(a, "/login", client)).status, 401);
    // Let A's two offences land in Redis before B counts the third.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await banOf(a, client), undefined, "two offences do not ban");
    assert.equal((await send(b, "/login", client)).status, 401);
    await untilStatus(a, client, 403, 2_000);
    assert.equal(await metric(b, 'rampart_bans_total{jail="auth"}'), 1);
  });



  test("a socket address banned on A is closed by B at accept, before the TLS handshake", async () => {
    const { a, b } = await pair();
    const source = "127.0.0.2"; // loopback answers the whole 127/8: a second client address on this host
    assert.equal(await tlsHandshake(b.httpsPort, { localAddress: source }), "secure", "127.0.0.2 can reach B before the ban");
    const rejected = 'rampart_connections_rejected_total{reason="banned"}';
    const before = await metric(b, rejected);

    const added = await admin(a, "POST", "/api/bans", { ip: source, duration: "10m", reason: "socket ban" });
    assert.equal(added.status, 201, added.body);
    const started = Date.now();
    await eventually(async () => ((await tlsHandshake(b.httpsPort, { localAddress: source })) === "closed" ? true : undefined), 1_000, "B closing 127.0.0.2 at accept");
    assert.ok(Date.now() - started < 1_000);
    assert.ok((await metric(b, rejected)) > before, "counted as banned at accept on B");
    assert.equal(await tlsHandshake(a.httpsPort, { localAddress: source }), "closed");
    // The test client's own address is untouched.
    assert.equal(await tlsHandshake(b.httpsPort, { localAddress: "127.0.0.1" }), "secure");

    assert.equal((await admin(a, "DELETE", `/api/bans/${source}`)).status, 200);
    await eventually(async () => ((await tlsHandshake(b.httpsPort, { localAddress: source })) === "secure" ? true : undefined), 1_000, "B admitting 127.0.0.2 again");
  });

  test("a restarted instance re-applies bans from Redis and keeps following changes", async () => {
    const upstream = await backend();
    const store = storeConfig();
    const first = await gateway(config(upstream.url, store));
    const b = await gateway(config(upstream.url, store));
    const client = "203.0.113.70";
    assert.equal((await admin(first, "POST", "/api/bans", { ip: client, duration: "1h", reason: "before restart" })).status, 201);
    await untilStatus(b, client, 403, 1_000);
    await first.close();

    const restarted = await gateway(config(upstream.url, store));
    const listed = await banOf(restarted, client);
    assert.ok(listed, "the restarted instance lists the ban it loaded from Redis");
    assert.equal(listed.reason, "before restart");
    const res = await send(restarted, "/", client);
    assert.equal(res.status, 403);
    assert.equal(res.json<{ error: string }>().error, "banned");
    assert.equal(await metric(restarted, "rampart_bans_active"), 1);

    // Its subscription works too: a DELETE on B reaches it.
    assert.equal((await admin(b, "DELETE", `/api/bans/${client}`)).status, 200);
    const served = await untilStatus(restarted, client, 200, 1_000);
    assert.ok(served.elapsedMs < 1_000);
  });

  test("escalation across instances: the second jail ban (on B) lasts twice the first (on A)", async () => {
    const { a, b } = await pair({
      jails: { auth: { when: { status: [401] }, maxRetry: 2, findTime: "1m", banTime: "1h", banTimeIncrement: { factor: 2, maxTime: "7d" } } },
    });
    const client = "203.0.113.80";
    for (let i = 0; i < 2; i++) assert.equal((await send(a, "/login", client)).status, 401);
    const first = await eventually(() => banOf(a, client), 2_000, "the first ban on A");
    const firstMs = Date.parse(first.until) - Date.now();
    await eventually(() => banOf(b, client), 1_000, "B learning the first ban");

    assert.equal((await admin(a, "DELETE", `/api/bans/${client}`)).status, 200);
    await eventually(async () => ((await banOf(b, client)) === undefined ? true : undefined), 1_000, "B lifting the first ban");
    assert.equal((await send(b, "/", client)).status, 200);

    for (let i = 0; i < 2; i++) assert.equal((await send(b, "/login", client)).status, 401);
    const second = await eventually(() => banOf(b, client), 2_000, "the second ban on B");
    const secondMs = Date.parse(second.until) - Date.now();
    assert.equal(second.jail, "auth");
    assert.ok(Math.abs(firstMs - HOUR) < 60_000, `first ban ${firstMs} ms`);
    assert.ok(Math.abs(secondMs - 2 * HOUR) < 60_000, `second ban ${secondMs} ms`);
    assert.equal(await metric(a, 'rampart_bans_total{jail="auth"}'), 1);
    assert.equal(await metric(b, 'rampart_bans_total{jail="auth"}'), 1);
    // A enforces B's escalated ban too, with the same end.
    const onA = await eventually(() => banOf(a, client), 1_000, "A learning the second ban");
    assert.equal(onA.until, second.until);
  });
});

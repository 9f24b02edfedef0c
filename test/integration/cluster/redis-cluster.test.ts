// A fleet on a real three-node Redis Cluster (store.redis.cluster): two gateway instances share a rate
// limit (10 in total, not 10 each), a ban (added on A, enforced by B within a second) and a jail's
// offence count, and the state really lives in the cluster under hash-tagged keys.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { addBan, type ListedBan } from "../../helpers/admin-api.js";
import { rejectLogins } from "../../helpers/backend.js";
import { request, type Response } from "../../helpers/client.js";
import { perTest } from "../../helpers/fixtures.js";
import type { ConfigObject, TestGateway } from "../../helpers/gateway.js";
import { eventually, fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";
import { startRedisCluster, type TestRedisCluster } from "../../helpers/redis-cluster.js";

describe("two instances on a three-node Redis Cluster", { timeout: 60_000 }, () => {
  let cluster: TestRedisCluster | undefined;

  before(async () => {
    cluster = await startRedisCluster(3);
  });

  after(async () => {
    await cluster?.close();
  });

  const scope = perTest({ onCleanupError: "log" });

  async function gateway(config: ConfigObject): Promise<TestGateway> {
    const started = await scope.gateway(config);
    // Commands are not queued while the cluster client connects: wait until it is up.
    await eventually(
      async () => (metricValue(await fetchMetrics(started.adminPort), 'rampart_store_up{kind="redis"}') === 1 ? true : undefined),
      10_000,
      "the Redis Cluster store to be up",
      50,
    );
    return started;
  }

  function send(gw: TestGateway, path: string, forwardedFor: string): Promise<Response> {
    return request({ port: gw.httpsPort, tls: true, path, headers: { "x-forwarded-for": forwardedFor } });
  }

  test("a limit of 10 holds across both instances; a ban added on A, or decided by a jail, holds on both", async () => {
    const upstream = await scope.backend(rejectLogins);
    const keyPrefix = `rampart:rc-${process.pid}:`;
    const config: ConfigObject = {
      workers: 1,
      shutdownGrace: "1s",
      trustedProxies: ["127.0.0.1/32"],
      store: { kind: "redis", redis: { cluster: [...cluster!.urls], keyPrefix }, onStoreFailure: "open" },
      rateLimits: { ten: { limit: 10, window: "30s" } },
      jails: { auth: { when: { status: [401] }, maxRetry: 3, findTime: "1m", banTime: "1h" } },
      services: { app: { targets: [{ url: upstream.url }] } },
      routes: [
        { name: "limited", match: { pathPrefix: "/limited" }, service: "app", rateLimit: "ten" },
        { name: "app", match: { pathPrefix: "/" }, service: "app" },
      ],
    };
    const a = await gateway(config);
    const b = await gateway(config);

    // One client (known through the trusted proxy's X-Forwarded-For), alternating between A and B.
    const limited = "198.51.100.7";
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await send(i % 2 === 0 ? a : b, `/limited/${i}`, limited)).status);
    assert.equal(statuses.filter((status) => status === 200).length, 10, `statuses: ${statuses.join(",")}`);
    assert.deepEqual(statuses, [...Array<number>(10).fill(200), ...Array<number>(10).fill(429)]);
    // Both instances counted in the cluster, not in their insurance (per-process) limiter.
    assert.equal(metricValue(await fetchMetrics(a.adminPort), 'rampart_store_up{kind="redis"}'), 1);
    assert.equal(metricValue(await fetchMetrics(b.adminPort), 'rampart_store_up{kind="redis"}'), 1);

    const banned = "203.0.113.9";
    assert.equal((await send(b, "/", banned)).status, 200);
    await addBan(a.adminPort, banned, "1h", "fleet test");
    const started = Date.now();
    const refused = await eventually(
      async () => {
        const res = await send(b, "/", banned);
        return res.status === 403 ? res : undefined;
      },
      1_000,
      "B answering 403 for the banned client",
      20,
    );
    assert.ok(Date.now() - started < 1_000, `B enforced the ban after ${Date.now() - started} ms`);
    assert.equal(refused.json<{ error: string }>().error, "banned");
    assert.equal((await send(a, "/", banned)).status, 403);
    assert.equal((await send(b, "/", "198.51.100.8")).status, 200, "other clients are served");
    const listed = await request({ port: b.adminPort, path: "/api/bans" });
    assert.ok(listed.json<ListedBan[]>().some((ban) => ban.ip === banned && ban.jail === "manual"), listed.body);

    // A jail counts offences in the cluster too: two 401s on A and one on B ban the client on both.
    const offender = "192.0.2.44";
    assert.equal((await send(a, "/login", offender)).status, 401);
    assert.equal((await send(a, "/login", offender)).status, 401);
    assert.equal((await send(b, "/login", offender)).status, 401);
    await eventually(async () => ((await send(a, "/", offender)).status === 403 ? true : undefined), 1_000, "A answering 403 for the jailed client", 20);
    assert.equal((await send(b, "/", offender)).status, 403);

    // The bans live in the cluster under their hash tag (redis-cli -c follows the slot's MOVED).
    assert.match(await cluster!.cli("hget", `${keyPrefix}{bans}`, banned), /"ip":"203\.0\.113\.9"/);
    assert.match(await cluster!.cli("hget", `${keyPrefix}{bans}`, offender), /"jail":"auth"/);
  });
});

// Redis taken away under running gateways, then brought back on the same port (empty, as after a crash
// without persistence). onStoreFailure "open": every request keeps being served, limits hold per
// process (insurance limiter), rampart_store_up{kind="redis"} drops to 0; when Redis is back, store_up
// returns to 1 and limits and ban propagation are shared again, with no gateway restart. "closed":
// routes with a rate limit answer 503 store_unavailable while Redis is down, and 200 once it is back.
import assert from "node:assert/strict";
import type http from "node:http";
import net from "node:net";
import { describe, test } from "node:test";
import { addBan } from "../../helpers/admin-api.js";
import { request, type Response } from "../../helpers/client.js";
import { perTest } from "../../helpers/fixtures.js";
import type { ConfigObject, TestGateway } from "../../helpers/gateway.js";
import { eventually, fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";

const STORE_UP = 'rampart_store_up{kind="redis"}';

interface Sample {
  readonly at: number;
  readonly ms: number;
  /** HTTP status, or the error when the request failed or took more than 5 s. */
  readonly outcome: number | string;
}

describe("Redis going away under running gateways", { timeout: 60_000 }, () => {
  const { backend, gateway, defer } = perTest({ onCleanupError: "log" });

  function gatewayConfig(backendUrl: string, redisUrl: string, onStoreFailure: "open" | "closed"): ConfigObject {
    return {
      shutdownGrace: "1s",
      trustedProxies: ["127.0.0.1/32"],
      store: { kind: "redis", redis: { url: redisUrl, keyPrefix: "rampart:outage:" }, onStoreFailure },
      rateLimits: { perip: { limit: 10, window: "5s" } },
      services: { app: { targets: [{ url: backendUrl }] } },
      routes: [
        { name: "limited", match: { pathPrefix: "/limited" }, service: "app", rateLimit: "perip" },
        { name: "free", match: { pathPrefix: "/" }, service: "app" },
      ],
    };
  }

  async function setup(onStoreFailure: "open" | "closed") {
    const redis = await startRedis();
    defer(() => redis.stop("SIGKILL"));
    const upstream = await backend();
    const config = gatewayConfig(upstream.url, redis.url, onStoreFailure);
    const a = await gateway(config);
    const b = await gateway(config);
    return { redis, a, b };
  }

  /**
   * A TCP relay in front of Redis: cut() makes Redis unreachable for the instances that connect through
   * it (and only them) while Redis itself keeps its data; restore() listens again on the same port.
   */
  async function startRelay(redis: TestRedis) {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((client) => {
      const upstream = net.connect(redis.port, "127.0.0.1");
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on("error", () => {});
        socket.on("close", () => {
          sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    const listen = (port: number) => new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", () => resolve()));
    await listen(0);
    const port = (server.address() as net.AddressInfo).port;
    const cut = async () => {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    };
    defer(cut);
    return { url: `redis://127.0.0.1:${port}`, cut, restore: () => listen(port) };
  }

  function send(gw: TestGateway, path: string, forwardedFor?: string): Promise<Response> {
    const headers: http.OutgoingHttpHeaders = {};
    if (forwardedFor !== undefined) headers["x-forwarded-for"] = forwardedFor;
    return request({ port: gw.httpsPort, tls: true, path, headers });
  }

  async function storeUp(gw: TestGateway): Promise<number | undefined> {
    return metricValue(await fetchMetrics(gw.adminPort), STORE_UP);
  }

  async function untilStoreUp(gateways: readonly TestGateway[], value: 0 | 1, ms: number): Promise<void> {
    for (const gw of gateways) {
      await eventually(async () => ((await storeUp(gw)) === value ? true : undefined), ms, `${STORE_UP} ${value} on :${gw.adminPort}`, 20);
    }
  }

  /** `count` sequential requests from one client, alternating over `gateways`; the statuses in order. */
  async function burst(gateways: readonly TestGateway[], client: string, count: number): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < count; i++) statuses.push((await send(gateways[i % gateways.length]!, `/limited/${i}`, client)).status);
    return statuses;
  }

  /** Continuous rate-limited traffic, each request from a new client so none is ever over its limit. */
  function startLoad(gateways: readonly TestGateway[], concurrency: number) {
    const samples: Sample[] = [];
    let next = 0;
    let stopped = false;
    const worker = async () => {
      while (!stopped) {
        const i = next++;
        const client = `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
        const at = Date.now();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<string>((resolve) => (timer = setTimeout(resolve, 5_000, "timeout")));
        const outcome = await Promise.race([
          send(gateways[i % gateways.length]!, `/limited/load/${i}`, client).then(
            (res) => res.status,
            (error: unknown) => String(error),
          ),
          timeout,
        ]);
        clearTimeout(timer);
        samples.push({ at, ms: Date.now() - at, outcome });
      }
    };
    const done = Promise.all(Array.from({ length: concurrency }, worker));
    return {
      samples,
      stop: async () => {
        stopped = true;
        await done;
      },
    };
  }

  test("open: requests keep being served while Redis is down, and shared limiting resumes when it is back", async () => {
    const { redis, a, b } = await setup("open");
    const both = [a, b];
    await untilStoreUp(both, 1, 2_000);
    // Shared before the outage: 10 in total across both instances.
    assert.deepEqual(await burst(both, "192.0.2.1", 12), [...Array<number>(10).fill(200), 429, 429]);

    const load = startLoad(both, 4);
    defer(() => load.stop());
    await new Promise((resolve) => setTimeout(resolve, 300));
    const killedAt = Date.now();
    await redis.stop("SIGKILL");
    await untilStoreUp(both, 0, 2_000);
    await new Promise((resolve) => setTimeout(resolve, 500));

    // Down: the insurance limiter limits each process on its own (10 per instance, not 10 in total).
    assert.deepEqual(await burst([a], "192.0.2.2", 12), [...Array<number>(10).fill(200), 429, 429], "A limits alone");
    assert.deepEqual(await burst([b], "192.0.2.2", 11), [...Array<number>(10).fill(200), 429], "B limits alone");
    const limited = await send(a, "/limited/x", "192.0.2.2");
    assert.equal(limited.status, 429);
    assert.equal(limited.headers["ratelimit-limit"], "10");

    const restartedAt = Date.now();
    await redis.restart();
    // ioredis backs off up to 2 s between attempts: allow for that.
    await untilStoreUp(both, 1, 5_000);
    const upAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await load.stop();

    const failures = load.samples.filter((sample) => sample.outcome !== 200);
    assert.deepEqual(failures, [], "every request under load was served");
    const during = load.samples.filter((sample) => sample.at > killedAt && sample.at < restartedAt);
    const after = load.samples.filter((sample) => sample.at > upAt);
    assert.ok(during.length >= 20, `${during.length} requests while Redis was down`);
    assert.ok(after.length >= 5, `${after.length} requests after Redis came back`);
    const slowest = Math.max(...load.samples.map((sample) => sample.ms));
    assert.ok(slowest < 2_000, `slowest request under load took ${slowest} ms`);

    // Back: shared again, across both instances, without restarting either.
    assert.deepEqual(await burst(both, "192.0.2.3", 14), [...Array<number>(10).fill(200), 429, 429, 429, 429]);
    // And bans propagate again (the pub/sub subscription came back with the connection).
    await addBan(a.adminPort, "192.0.2.4", "10m", "after outage");
    const started = Date.now();
    await eventually(async () => ((await send(b, "/", "192.0.2.4")).status === 403 ? true : undefined), 1_000, "B enforcing a ban made on A after the outage");
    assert.ok(Date.now() - started < 1_000);
  });

  test("closed: rate-limited routes answer 503 store_unavailable while Redis is down, 200 once it is back", async () => {
    const { redis, a, b } = await setup("closed");
    const both = [a, b];
    await untilStoreUp(both, 1, 2_000);
    assert.equal((await send(a, "/limited/1")).status, 200);
    assert.equal((await send(b, "/limited/1")).status, 200);

    await redis.stop("SIGKILL");
    await untilStoreUp(both, 0, 2_000);
    for (const gw of both) {
      const res = await send(gw, "/limited/2");
      assert.equal(res.status, 503);
      assert.equal(res.json<{ error: string }>().error, "store_unavailable");
      assert.ok(Number(res.headers["retry-after"]) >= 1);
      // A route without a rate limit does not depend on Redis.
      assert.equal((await send(gw, "/free")).status, 200);
    }

    await redis.restart();
    await untilStoreUp(both, 1, 5_000);
    for (const gw of both) {
      const res = await send(gw, "/limited/3");
      assert.equal(res.status, 200);
      assert.equal(res.headers["ratelimit-limit"], "10");
    }
    // Limiting is shared again: a fresh client gets 10 in total across both.
    assert.deepEqual(await burst(both, "192.0.2.9", 12), [...Array<number>(10).fill(200), 429, 429]);
  });

  test("an instance cut off from Redis, even at start, reports it and catches up on the bans it missed once back", async () => {
    const redis = await startRedis();
    defer(() => redis.stop("SIGKILL"));
    const upstream = await backend();
    const relay = await startRelay(redis);
    const a = await gateway(gatewayConfig(upstream.url, redis.url, "open"));
    const banOnA = (ip: string) => addBan(a.adminPort, ip, "10m", "missed by B");
    await banOnA("192.0.2.50");

    // B starts while Redis is unreachable for it: it serves (after a bounded wait) and says the store is down.
    await relay.cut();
    const b = await gateway(gatewayConfig(upstream.url, relay.url, "open"));
    await untilStoreUp([b], 0, 2_000);
    assert.equal(await storeUp(a), 1);
    assert.equal((await send(b, "/", "192.0.2.50")).status, 200, "B has not seen the ban yet");
    assert.equal((await send(b, "/limited/1", "192.0.2.52")).status, 200, "B serves rate-limited routes (open)");
    // A ban made while B is away: B misses its pub/sub message.
    await banOnA("192.0.2.51");
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await send(b, "/", "192.0.2.51")).status, 200);

    await relay.restore();
    await untilStoreUp([b], 1, 5_000);
    // Both bans are loaded from Redis on reconnect, and B now follows live changes.
    await eventually(async () => ((await send(b, "/", "192.0.2.50")).status === 403 ? true : undefined), 1_000, "B enforcing the ban made before it started");
    assert.equal((await send(b, "/", "192.0.2.51")).status, 403, "B enforcing the ban made while it was cut off");
    await banOnA("192.0.2.53");
    await eventually(async () => ((await send(b, "/", "192.0.2.53")).status === 403 ? true : undefined), 1_000, "B enforcing a live ban after reconnecting");
    // Shared limiting across A and B again.
    assert.deepEqual(await burst([a, b], "192.0.2.54", 12), [...Array<number>(10).fill(200), 429, 429]);
  });
});

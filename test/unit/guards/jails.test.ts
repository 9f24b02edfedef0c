// Jails: compiled once from config; an offence is a request for which EVERY condition the jail names
// holds; maxRetry offences ban the client through the BanManager, which escalates repeat offenders
// (banTime × factor^(n-1), capped at maxTime).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { configSchema, type Config } from "../../../src/config/schema.js";
import { BanManager } from "../../../src/guards/bans.js";
import { compileJails, isOffence, offenceTracker, type JudgedRequest } from "../../../src/guards/jails.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { GatewayMetrics } from "../../../src/observability/metrics.js";
import type { LimiterSpec } from "../../../src/state/limiters.js";
import { createSharedState, type SharedState } from "../../../src/state/shared-state.js";


function config(jails: Record<string, unknown>): Config {
  return configSchema.parse({ jails });
}

const specs: LimiterSpec[] = [];
function memoryLimiter(spec: LimiterSpec): RateLimiterMemory {
  specs.push(spec);
  return new RateLimiterMemory({ keyPrefix: spec.name, points: spec.points, duration: Math.max(1, Math.ceil(spec.windowMs / 1000)) });
}

/** A finished request as the jails see it. */
function request(status: number, options: { method?: string; path?: string; ip?: string; rateLimited?: boolean; allowlisted?: boolean } = {}): JudgedRequest {
  return {
    clientIp: options.ip ?? "203.0.113.5",
    method: options.method ?? "GET",
    path: options.path ?? "/",
    status,
    rateLimited: options.rateLimited ?? false,
    allowlisted: options.allowlisted ?? false,
  };
}

describe("compileJails", () => {
  test("compiles conditions once and gives each jail its own offence counter (maxRetry within findTime)", () => {
    specs.length = 0;
    const jails = compileJails(
      config({
        auth: { when: { status: [401, 403] }, maxRetry: 3, findTime: "1m", banTime: "2s" },
        scanners: { when: { path: "^/(\\.env|\\.git/)" }, maxRetry: 1, banTime: "1h" },
        posts: { when: { method: ["POST"], rateLimited: true } },
      }),
      memoryLimiter,
    );
    assert.deepEqual([...jails.keys()], ["auth", "scanners", "posts"]);
    const auth = jails.get("auth")!;
    assert.deepEqual([...auth.statuses!], [401, 403]);
    assert.equal(auth.path, undefined);
    assert.equal(auth.methods, undefined);
    assert.equal(auth.rateLimited, false);
    assert.equal(auth.config.banTime, 2_000);
    const scanners = jails.get("scanners")!;
    assert.ok(scanners.path instanceof RegExp);
    assert.equal(scanners.statuses, undefined);
    const posts = jails.get("posts")!;
    assert.deepEqual([...posts.methods!], ["POST"]);
    assert.equal(posts.rateLimited, true);
    assert.equal(posts.config.maxRetry, 5, "the default maxRetry");
    assert.deepEqual(specs, [
      { name: "jail:auth", points: 3, windowMs: 60_000 },
      { name: "jail:scanners", points: 1, windowMs: 600_000 },
      { name: "jail:posts", points: 5, windowMs: 600_000 },
    ]);
    assert.ok(Object.isFrozen(auth));
  });
});

describe("isOffence", () => {
  const jails = compileJails(
    config({
      status: { when: { status: [401] } },
      path: { when: { path: "^/(\\.env|\\.git/)" } },
      method: { when: { method: ["POST", "DELETE"] } },
      limited: { when: { rateLimited: true } },
      statusAndPath: { when: { status: [401, 403], path: "^/login" } },
      everything: { when: { status: [429], path: "^/api/", method: ["POST"], rateLimited: true } },
    }),
    memoryLimiter,
  );
  const jail = (name: string) => jails.get(name)!;

  test("a single condition: status, path regex, method, rate limited", () => {
    assert.equal(isOffence(jail("status"), request(401)), true);
    assert.equal(isOffence(jail("status"), request(403)), false);
    assert.equal(isOffence(jail("status"), request(200)), false);
    assert.equal(isOffence(jail("path"), request(404, { path: "/.env" })), true);
    assert.equal(isOffence(jail("path"), request(200, { path: "/.git/config" })), true);
    assert.equal(isOffence(jail("path"), request(404, { path: "/app/.env" })), false, "anchored regex");
    assert.equal(isOffence(jail("path"), request(404, { path: "/.gitignore" })), false);
    assert.equal(isOffence(jail("method"), request(200, { method: "POST" })), true);
    assert.equal(isOffence(jail("method"), request(500, { method: "DELETE" })), true);
    assert.equal(isOffence(jail("method"), request(200, { method: "GET" })), false);
    assert.equal(isOffence(jail("limited"), request(429, { rateLimited: true })), true);
    assert.equal(isOffence(jail("limited"), request(429, { rateLimited: false })), false, "a 429 from upstream is not a Rampart rate limit");
  });

  test("every condition a jail names must hold (AND, not OR)", () => {
    const both = jail("statusAndPath");
    assert.equal(isOffence(both, request(401, { path: "/login" })), true);
    assert.equal(isOffence(both, request(403, { path: "/login/sso" })), true);
    assert.equal(isOffence(both, request(401, { path: "/other" })), false, "status alone is not enough");
    assert.equal(isOffence(both, request(200, { path: "/login" })), false, "path alone is not enough");

    const all = jail("everything");
    const offending = { path: "/api/x", method: "POST", rateLimited: true };
    assert.equal(isOffence(all, request(429, offending)), true);
    assert.equal(isOffence(all, request(503, offending)), false);
    assert.equal(isOffence(all, request(429, { ...offending, path: "/web" })), false);
    assert.equal(isOffence(all, request(429, { ...offending, method: "GET" })), false);
    assert.equal(isOffence(all, request(429, { ...offending, rateLimited: false })), false);
  });
});

describe("offenceTracker and escalation", () => {
  let dir: string;
  let state: SharedState;
  let metrics: GatewayMetrics;
  let bans: BanManager;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "rampart-jails-"));
    state = createSharedState(configSchema.parse({ store: { dir } }).store, join(dir, "certs"), () => bans.list.list(), silentLogger);
    metrics = new GatewayMetrics({ defaultMetrics: false });
    bans = new BanManager({ ipv6Prefix: 64, maxEntries: 1_000 }, () => state, metrics, silentLogger, (ip) => ip.startsWith("198.51.100."));
    await bans.start();
  });
  after(async () => {
    bans.stop();
    await state.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function bansTotal(jail: string): Promise<number> {
    const metric = await metrics.bansTotal.get();
    return metric.values.find((value) => value.labels.jail === jail)?.value ?? 0;
  }

  async function waitForBan(ip: string, ms = 1_000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const ban = bans.find(ip);
      if (ban !== undefined) return ban;
      if (Date.now() > deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  test("maxRetry offences ban the client; other outcomes, other clients and allowlisted clients do not count", async () => {
    const jails = compileJails(config({ auth: { when: { status: [401] }, maxRetry: 3, findTime: "1m", banTime: "1h" } }), state.limiter);
    const track = offenceTracker(bans, silentLogger).request;
    const auth = [...jails.values()];
    const ip = "203.0.113.21";

    track(auth, request(401, { ip }));
    track(auth, request(200, { ip }));
    track(auth, request(500, { ip }));
    track(auth, request(401, { ip: "203.0.113.22" }));
    track([], request(401, { ip }));
    track(auth, request(401, { ip }));
    assert.equal(await waitForBan(ip, 200), undefined, "two offences of three");

    for (let i = 0; i < 5; i++) track(auth, request(401, { ip: "198.51.100.1", allowlisted: true }));
    track(auth, request(401, { ip, path: "/login" }));
    const ban = await waitForBan(ip);
    assert.ok(ban, "the third offence bans");
    assert.equal(ban.jail, "auth");
    assert.equal(ban.ip, ip);
    assert.match(ban.reason, /3 offence\(s\) within 60s, last: GET \/login → 401/);
    assert.ok(Math.abs(ban.until - Date.now() - 3_600_000) < 2_000);
    assert.equal(bans.find("203.0.113.22"), undefined);
    assert.equal(bans.find("198.51.100.1"), undefined);
    assert.equal(await bansTotal("auth"), 1);
    assert.equal((await metrics.bansActive.get()).values[0]?.value, 1);
  });

  test("an IPv6 client's offences add up over its whole /64", async () => {
    const jails = compileJails(config({ v6: { when: { status: [401] }, maxRetry: 2, findTime: "1m", banTime: "1h" } }), state.limiter);
    const track = offenceTracker(bans, silentLogger).request;
    track([...jails.values()], request(401, { ip: "2001:db8:5:6::1" }));
    track([...jails.values()], request(401, { ip: "2001:db8:5:6:ffff::2" }));
    const ban = await waitForBan("2001:db8:5:6::abc");
    assert.equal(ban?.ip, "2001:db8:5:6::/64");
  });

  test("banTimeIncrement: each further ban of an address by a jail lasts factor times longer, up to maxTime", async () => {
    const jails = compileJails(
      config({ repeat: { when: { status: [401] }, maxRetry: 1, banTime: "10s", banTimeIncrement: { factor: 2, maxTime: "30s" } } }),
      state.limiter,
    );
    const jail = jails.get("repeat")!;
    const durations: number[] = [];
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      const ban = await bans.banForJail("203.0.113.40", "repeat", jail.config, "test");
      assert.ok(ban);
      durations.push(Math.round((ban.until - started) / 1_000));
    }
    assert.deepEqual(durations, [10, 20, 30, 30]);
    // History is per address and per jail.
    const other = await bans.banForJail("203.0.113.41", "repeat", jail.config, "test");
    assert.ok(other !== undefined && Math.round((other.until - Date.now()) / 1_000) === 10);
    assert.equal(await bans.banForJail("198.51.100.9", "repeat", jail.config, "test"), undefined, "allowlisted: never banned");
  });
});

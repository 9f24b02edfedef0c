// Weighted splits end to end (issue 13, part 1; DESIGN.md "Contract, second round": `split`), with real
// backends on loopback, each answering with the name of its side: the weights over 10,000 requests; the
// three kinds of stickiness (the `rampart_split` cookie kept while its side's weight is above 0, the
// client address, a header) and their spread over many keys; the X-Rampart-Split override, honoured only
// from an allowlisted client or through a trusted proxy; each side with its own health checks, breakers
// and retries (a side in trouble never spills onto the other); rampart_route_split_weight.
// Source addresses other than 127.0.0.1 (127.0.0.0/8 is all loopback on Linux) stand for other clients.
import assert from "node:assert/strict";
import http from "node:http";
import { describe, test } from "node:test";
import { reloadConfig, upstreamState } from "../../helpers/admin-api.js";
import { freePort } from "../../helpers/backend.js";
import { h2Connect, h2Request } from "../../helpers/http2.js";
import { perTest } from "../../helpers/fixtures.js";
import type { ConfigObject, TestGateway } from "../../helpers/gateway.js";
import { eventually, fetchMetrics, metricSample } from "../../helpers/proxy-tools.js";

const { backend, gateway, defer } = perTest();

interface Hit {
  readonly status: number;
  /** The backend's answer: the name of the side that served it (or Rampart's JSON error). */
  readonly body: string;
  /** Every Set-Cookie of the response. */
  readonly cookies: readonly string[];
}

interface HitOptions {
  readonly path?: string;
  readonly headers?: http.OutgoingHttpHeaders;
  /** The client's source address (a loopback address other than 127.0.0.1 is another client). */
  readonly localAddress?: string;
  /** A keep-alive agent; a fresh connection per request without one. */
  readonly agent?: http.Agent;
}

/** One GET on the plain HTTP listener. */
function hit(gw: TestGateway, options: HitOptions = {}): Promise<Hit> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: gw.httpPort,
        path: options.path ?? "/",
        headers: options.headers,
        localAddress: options.localAddress,
        agent: options.agent ?? false,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, cookies: res.headers["set-cookie"] ?? [] }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** `count` calls of `one`, at most `concurrency` at a time; the results in index order. */
async function many<T>(count: number, concurrency: number, one: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const index = next++;
        results[index] = await one(index);
      }
    }),
  );
  return results;
}

/** A keep-alive agent with `sockets` connections, destroyed after the test. */
function keepAlive(sockets: number): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  defer(() => agent.destroy());
  return agent;
}

/** A backend answering 200 with its side's name (and `headers`); /health answers 200 too. */
const sideBackend = (name: string, headers: http.OutgoingHttpHeaders = {}) => backend((_req, res) => res.writeHead(200, { "content-type": "text/plain", ...headers }).end(name));

/**
 * Services by name (one target URL or several, plus service keys) and one route "web" on "/" with
 * `split`; plain HTTP (no redirect to HTTPS). `route` and `top` keys are merged in.
 */
function splitConfig(
  services: Record<string, string | readonly string[] | { readonly urls: readonly string[]; readonly keys: ConfigObject }>,
  split: ConfigObject,
  extra: { route?: ConfigObject; top?: ConfigObject } = {},
): ConfigObject {
  const entries = Object.entries(services).map(([name, value]) => {
    const urls = typeof value === "string" ? [value] : "urls" in value ? value.urls : value;
    const keys = typeof value === "object" && "keys" in value ? value.keys : {};
    return [name, { targets: urls.map((url) => ({ url })), ...keys }] as const;
  });
  return {
    tls: { redirectHttp: false },
    services: Object.fromEntries(entries),
    routes: [{ name: "web", match: { pathPrefix: "/" }, split, ...extra.route }],
    ...extra.top,
  };
}

/** How many of `hits` each body (side) got, e.g. { v1: 8012, v2: 1988 }. */
function tally(hits: readonly Hit[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { status, body } of hits) {
    const key = status === 200 ? body : `status ${status}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** The value of the `rampart_split` cookie among `cookies`, undefined when Rampart set none. */
function splitCookie(cookies: readonly string[]): string | undefined {
  const found = cookies.filter((cookie) => cookie.startsWith("rampart_split="));
  assert.ok(found.length <= 1, `at most one rampart_split cookie: ${JSON.stringify(cookies)}`);
  return found[0]?.slice("rampart_split=".length).split(";")[0];
}

async function splitWeights(gw: TestGateway, route: string, services: readonly string[]): Promise<Record<string, number | undefined>> {
  const text = await fetchMetrics(gw.adminPort);
  return Object.fromEntries(services.map((service) => [service, metricSample(text, "rampart_route_split_weight", { route, service })]));
}

const percent = (part: number, whole: number) => (100 * part) / whole;

describe("split: weights", () => {
  test("80/20 without stickiness: 10,000 requests land within ±2 points of the weights; rampart_route_split_weight shows them", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2");
    const gw = await gateway(splitConfig({ v1: v1.url, v2: v2.url }, { services: { v1: 80, v2: 20 } }));
    assert.deepEqual(await splitWeights(gw, "web", ["v1", "v2"]), { v1: 80, v2: 20 });

    const agent = keepAlive(16);
    const hits = await many(10_000, 16, () => hit(gw, { agent }));
    const counts = tally(hits);
    assert.deepEqual(Object.keys(counts).sort(), ["v1", "v2"], `every request answered 200 by a side: ${JSON.stringify(counts)}`);
    const share = percent(counts.v2!, hits.length);
    assert.ok(Math.abs(share - 20) <= 2, `v2 served ${share.toFixed(2)}% of 10,000 requests (weight 20): ${JSON.stringify(counts)}`);
    assert.equal(v1.requests.length + v2.requests.length, 10_000, "each request reached exactly one backend");
    assert.equal(v1.requests.length, counts.v1);
    assert.ok(hits.every((h) => splitCookie(h.cookies) === undefined), "sticky none sets no cookie");
  });
});

describe("split: cookie stickiness", () => {
  test("the first answer sets rampart_split=<side>; a client sending it back stays there for 200 requests; the backend's own Set-Cookie is kept", async () => {
    const v1 = await sideBackend("v1", { "set-cookie": ["session=from-v1; Path=/; HttpOnly"] });
    const v2 = await sideBackend("v2", { "set-cookie": ["session=from-v2; Path=/; HttpOnly"] });
    const gw = await gateway(splitConfig({ v1: v1.url, v2: v2.url }, { services: { v1: 50, v2: 50 }, sticky: "cookie" }));

    const first = await hit(gw);
    assert.equal(first.status, 200);
    const side = first.body;
    assert.equal(splitCookie(first.cookies), side, `the cookie names the side that answered: ${JSON.stringify(first.cookies)}`);
    assert.ok(first.cookies.includes(`session=from-${side}; Path=/; HttpOnly`), `the backend's Set-Cookie is kept beside Rampart's: ${JSON.stringify(first.cookies)}`);
    const rampartCookie = first.cookies.find((cookie) => cookie.startsWith("rampart_split="))!;
    assert.match(rampartCookie, /;\s*Path=\//i, "the cookie covers the whole site");

    const agent = keepAlive(4);
    const returning = await many(200, 4, () => hit(gw, { agent, headers: { cookie: `theme=dark; rampart_split=${side}; lang=en` } }));
    assert.deepEqual(tally(returning), { [side]: 200 }, "a returning client stays on its side");
    for (const answer of returning) {
      assert.equal(splitCookie(answer.cookies), undefined, "no new rampart_split for a client that kept its side");
      assert.deepEqual(answer.cookies, [`session=from-${side}; Path=/; HttpOnly`], "the backend's cookie still passes through");
    }

    // New clients (no cookie) are spread by the weights, each told where it went.
    const newcomers = await many(100, 4, () => hit(gw, { agent }));
    for (const answer of newcomers) assert.equal(splitCookie(answer.cookies), answer.body, "each new client gets the cookie of the side that served it");
    const counts = tally(newcomers);
    assert.ok((counts.v1 ?? 0) > 0 && (counts.v2 ?? 0) > 0, `50/50 sends new clients to both sides: ${JSON.stringify(counts)}`);

    // A cookie naming no side of this split is ignored: a new pick and a new cookie.
    const stale = await hit(gw, { headers: { cookie: "rampart_split=v0" } });
    assert.equal(stale.status, 200);
    assert.equal(splitCookie(stale.cookies), stale.body, "an unknown side in the cookie is replaced");
  });

  test("when a reload sets the client's side to weight 0 the client moves, gets a new cookie and stays on the new side", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2");
    const config = (weights: Record<string, number>) => splitConfig({ v1: v1.url, v2: v2.url }, { services: weights, sticky: "cookie" });
    const gw = await gateway(config({ v1: 50, v2: 50 }));

    const first = await hit(gw);
    const side = first.body;
    const other = side === "v1" ? "v2" : "v1";
    assert.equal(splitCookie(first.cookies), side);
    const cookie = { cookie: `rampart_split=${side}` };
    assert.deepEqual(tally(await many(20, 2, () => hit(gw, { headers: cookie }))), { [side]: 20 });

    await reloadConfig(gw, config({ [side]: 0, [other]: 100 }));
    assert.deepEqual(await splitWeights(gw, "web", [side, other]), { [side]: 0, [other]: 100 }, "rampart_route_split_weight follows the reload");

    const moved = await hit(gw, { headers: cookie });
    assert.equal(moved.status, 200);
    assert.equal(moved.body, other, "a side at weight 0 keeps none of its sticky clients");
    assert.equal(splitCookie(moved.cookies), other, "the client is told its new side");
    const after = await many(50, 2, () => hit(gw, { headers: { cookie: `rampart_split=${other}` } }));
    assert.deepEqual(tally(after), { [other]: 50 });
    assert.ok(
      after.every((answer) => splitCookie(answer.cookies) === undefined),
      "no further cookie once it is on a side that has weight",
    );
    assert.deepEqual(tally(await many(20, 2, () => hit(gw, { headers: cookie }))), { [other]: 20 }, "the old cookie keeps leading to the new side");
  });
  test("over HTTP/2 (TLS, ALPN h2) the cookie is set beside the backend's, and honoured when sent back", async () => {
    const v1 = await sideBackend("v1", { "set-cookie": ["session=from-v1; Path=/"] });
    const v2 = await sideBackend("v2", { "set-cookie": ["session=from-v2; Path=/"] });
    const gw = await gateway(splitConfig({ v1: v1.url, v2: v2.url }, { services: { v1: 50, v2: 50 }, sticky: "cookie" }));
    const session = await h2Connect(gw.httpsPort);
    defer(() => session.close());

    const first = await h2Request(session, { ":path": "/" });
    assert.equal(first.status, 200);
    const side = first.body;
    const cookies = first.headers["set-cookie"] ?? [];
    assert.equal(splitCookie(cookies), side, `h2 answer cookies: ${JSON.stringify(cookies)}`);
    assert.ok(cookies.includes(`session=from-${side}; Path=/`), `the backend's cookie is kept: ${JSON.stringify(cookies)}`);
    for (let i = 0; i < 20; i++) {
      const again = await h2Request(session, { ":path": "/", cookie: `rampart_split=${side}` });
      assert.equal(again.body, side);
      assert.equal(splitCookie(again.headers["set-cookie"] ?? []), undefined);
    }
  });
});

describe("split: ip and header stickiness", () => {
  test("ip: every request from one address lands on one side; 250 addresses spread roughly by the weights", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2");
    const gw = await gateway(splitConfig({ v1: v1.url, v2: v2.url }, { services: { v1: 80, v2: 20 }, sticky: "ip" }));

    const addresses = Array.from({ length: 250 }, (_, i) => `127.0.1.${i + 1}`);
    const sides = await many(addresses.length, 8, async (index) => {
      const localAddress = addresses[index]!;
      const hits = await Promise.all(Array.from({ length: 4 }, () => hit(gw, { localAddress })));
      const counts = tally(hits);
      assert.equal(Object.keys(counts).length, 1, `${localAddress}: one side for all its requests, got ${JSON.stringify(counts)}`);
      return hits[0]!.body;
    });
    assert.ok(
      sides.every((side) => side === "v1" || side === "v2"),
      `every address was served: ${JSON.stringify(tally(sides.map((body) => ({ status: 200, body, cookies: [] }))))}`,
    );
    const share = percent(sides.filter((side) => side === "v2").length, sides.length);
    // 250 keys: one standard deviation of a fair 20% draw is 2.5 points.
    assert.ok(Math.abs(share - 20) <= 6, `v2 holds ${share.toFixed(1)}% of 250 addresses (weight 20)`);

    // Still the same side a while later, on a keep-alive connection this time.
    const agent = keepAlive(1);
    for (const localAddress of addresses.slice(0, 20)) {
      const again = await hit(gw, { localAddress, agent });
      assert.equal(again.body, sides[addresses.indexOf(localAddress)], `${localAddress} kept its side`);
    }
  });

  test("header:x-user: one value, one side; 2,000 distinct values spread within ±3 points of 80/20", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2");
    const gw = await gateway(splitConfig({ v1: v1.url, v2: v2.url }, { services: { v1: 80, v2: 20 }, sticky: "header:x-user" }));
    const agent = keepAlive(16);

    // User ids as applications number them: user-1 … user-2000.
    const users = Array.from({ length: 2_000 }, (_, i) => `user-${i + 1}`);
    const firstPass = await many(users.length, 16, (index) => hit(gw, { agent, headers: { "x-user": users[index]! } }));
    assert.ok(
      firstPass.every((answer) => answer.status === 200),
      `every request answered 200: ${JSON.stringify(tally(firstPass))}`,
    );
    const share = percent(firstPass.filter((answer) => answer.body === "v2").length, users.length);
    assert.ok(Math.abs(share - 20) <= 3, `v2 holds ${share.toFixed(2)}% of 2,000 x-user values (weight 20)`);

    // The same values again, in reverse order: the same sides.
    const secondPass = await many(users.length, 16, (index) =>
      hit(gw, { agent, headers: { "x-user": users[users.length - 1 - index]! } }),
    );
    secondPass.reverse();
    const moved = users.filter((_, index) => secondPass[index]!.body !== firstPass[index]!.body);
    assert.deepEqual(moved, [], "a header value always lands on the side it landed on first");
    const fromElsewhere = await hit(gw, { localAddress: "127.0.0.9", headers: { "x-user": users[0]! } });
    assert.equal(fromElsewhere.body, firstPass[0]!.body, "the header, not the address, decides");
    assert.equal(splitCookie(fromElsewhere.cookies), undefined, "header stickiness sets no cookie");
  });
});

describe("split: the X-Rampart-Split override", () => {
  test("honoured from an allowlisted client and through a trusted proxy; ignored from everyone else (v2 has weight 0)", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2");
    const gw = await gateway(
      splitConfig(
        { v1: v1.url, v2: v2.url },
        { services: { v1: 100, v2: 0 }, sticky: "cookie" },
        { top: { allowlist: ["127.0.0.5"], trustedProxies: ["127.0.0.7"] } },
      ),
    );
    const override = { "x-rampart-split": "v2" };

    // An allowlisted tester reaches the canary on demand, every time.
    const tester = await many(20, 4, () => hit(gw, { localAddress: "127.0.0.5", headers: override }));
    assert.deepEqual(tally(tester), { v2: 20 }, "allowlisted: the override picks v2");
    // Without the header the tester gets the weights like anyone else.
    assert.deepEqual(tally(await many(10, 2, () => hit(gw, { localAddress: "127.0.0.5" }))), { v1: 10 });

    // Through a trusted proxy (the client is the X-Forwarded-For address).
    const proxied = await many(10, 2, () => hit(gw, { localAddress: "127.0.0.7", headers: { ...override, "x-forwarded-for": "198.51.100.20" } }));
    assert.deepEqual(tally(proxied), { v2: 10 }, "through a trusted proxy: the override picks v2");

    // Anyone else: ignored, whatever they claim.
    const others = [
      { localAddress: "127.0.0.1", headers: override },
      { localAddress: "127.0.0.6", headers: override },
      { localAddress: "127.0.0.6", headers: { ...override, "x-forwarded-for": "127.0.0.5" } },
      { localAddress: "127.0.0.6", headers: { ...override, cookie: "rampart_split=v2" } },
    ];
    for (const options of others) {
      const answers = await many(20, 4, () => hit(gw, options));
      assert.deepEqual(tally(answers), { v1: 20 }, `ignored from ${options.localAddress} with ${JSON.stringify(options.headers)}`);
    }
    // An override naming no side of the split falls back to the weights.
    assert.deepEqual(tally(await many(10, 2, () => hit(gw, { localAddress: "127.0.0.5", headers: { "x-rampart-split": "v3" } }))), { v1: 10 });
    assert.equal(v2.requests.length, 30, "v2 (weight 0) saw only the overridden requests");
  });
});

describe("split: each side its own health, breakers and retries", () => {
  test("v2's only target is down (health check): v2-side requests get 503 while v1 keeps serving; nothing spills over", async () => {
    const v1 = await sideBackend("v1");
    const deadPort = await freePort();
    const gw = await gateway(
      splitConfig(
        {
          v1: v1.url,
          v2: { urls: [`http://127.0.0.1:${deadPort}`], keys: { healthCheck: { path: "/health", interval: "100ms", timeout: "200ms", unhealthyThreshold: 1, healthyThreshold: 1 } } },
        },
        { services: { v1: 50, v2: 50 } },
      ),
    );
    await eventually(async () => ((await upstreamState(gw.adminPort, deadPort, "v2")).healthy ? undefined : true), 3_000, "v2's target marked down", 25);
    assert.equal((await upstreamState(gw.adminPort, v1.port, "v1")).healthy, true, "v1's health is its own");

    const agent = keepAlive(4);
    const hits = await many(200, 4, () => hit(gw, { agent }));
    const counts = tally(hits);
    assert.deepEqual(Object.keys(counts).sort(), ["status 503", "v1"], `v1 serves, v2-side requests get 503: ${JSON.stringify(counts)}`);
    const refused = counts["status 503"]!;
    // v2's share of 200 requests at 50/50: a standard deviation of 7 requests.
    assert.ok(refused >= 60 && refused <= 140, `${refused} of 200 were v2-side (weight 50), none moved to v1`);
    assert.equal(v1.requests.length, counts.v1, "v1 got only its own share");
    const answer = hits.find((h) => h.status === 503)!;
    assert.equal((JSON.parse(answer.body) as { error: string }).error, "no_healthy_target");
  });

  test("each side's breaker is its own: v2 answering 500 opens v2's, v1's stays closed and serves", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await backend((_req, res) => res.writeHead(500, { "content-type": "text/plain" }).end("v2 broken"));
    const breaker = { errorThresholdPercentage: 50, volumeThreshold: 2, window: "10s", resetTimeout: "30s" };
    const gw = await gateway(
      splitConfig(
        { v1: { urls: [v1.url], keys: { circuitBreaker: breaker } }, v2: { urls: [v2.url], keys: { circuitBreaker: breaker } } },
        { services: { v1: 50, v2: 50 }, sticky: "cookie" },
      ),
    );
    const onV2 = { cookie: "rampart_split=v2" };
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await hit(gw, { headers: onV2 })).status);
    assert.deepEqual(statuses, [500, 500, 503, 503], "two 500s open v2's breaker, then v2-side requests get 503");
    assert.equal((await upstreamState(gw.adminPort, v2.port, "v2")).breaker, "open");
    assert.equal((await upstreamState(gw.adminPort, v1.port, "v1")).breaker, "closed");
    assert.deepEqual(tally(await many(20, 2, () => hit(gw, { headers: { cookie: "rampart_split=v1" } }))), { v1: 20 }, "v1 serves on");
    assert.equal(v2.requests.length, 2, "nothing reaches v2 while its breaker is open");
  });

  test("retries stay on the side: a refused v2 target is retried on v2's other target, never on v1; with both v2 targets refused the answer is 502", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2b");
    const retry = { attempts: 2, budget: 100 };
    const deadUrl = async () => `http://127.0.0.1:${await freePort()}`;
    const config = (v2Urls: readonly string[]) =>
      splitConfig(
        { v1: { urls: [v1.url], keys: { retry } }, v2: { urls: v2Urls, keys: { retry } } },
        { services: { v1: 50, v2: 50 }, sticky: "cookie" },
      );
    const gw = await gateway(config([await deadUrl(), v2.url]));
    const retries = async (service: string) => metricSample(await fetchMetrics(gw.adminPort), "rampart_upstream_retries_total", { service, result: "sent" }) ?? 0;
    const onV2 = { cookie: "rampart_split=v2" };

    const hits = [];
    for (let i = 0; i < 20; i++) hits.push(await hit(gw, { headers: onV2 }));
    assert.deepEqual(tally(hits), { v2b: 20 }, "every v2-side request answered by v2's live target");
    assert.ok((await retries("v2")) >= 5, `round robin sent about half of them to the refused target first: ${await retries("v2")} retries`);
    assert.equal(v1.requests.length, 0, "no v2-side request was retried on v1");
    assert.equal(await retries("v1"), 0);

    // Both of v2's targets refuse: the retry finds no other v2 target, and the client gets 502 rather than v1.
    await reloadConfig(gw, config([await deadUrl(), await deadUrl()]));
    const failed = [];
    for (let i = 0; i < 10; i++) failed.push(await hit(gw, { headers: onV2 }));
    assert.deepEqual(tally(failed), { "status 502": 10 });
    assert.equal(v1.requests.length, 0, "still nothing crossed to v1");
    assert.deepEqual(tally(await many(10, 2, () => hit(gw, { headers: { cookie: "rampart_split=v1" } }))), { v1: 10 }, "v1 serves its own side");
  });
});

// Rate limits end to end over HTTPS: 429 exactly after `limit` requests with Retry-After and the
// RateLimit-* headers (on allowed responses too), the window resetting, per-API-key and per-route
// keys, the allowlist, the rejection counter, and the client identity: a spoofed X-Forwarded-For
// from an untrusted peer changes nothing, while behind a trusted proxy each real client has its own budget.
import assert from "node:assert/strict";
import type http from "node:http";
import { describe, test } from "node:test";
import { request, type Response } from "../../helpers/client.js";
import { simpleConfig, type TestGateway } from "../../helpers/gateway.js";
import { guardsFixture } from "../../helpers/guards.js";
import { fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("rate limits", () => {
  const suite = guardsFixture();
  const { start } = suite;

  function get(gateway: TestGateway, path = "/", headers: http.OutgoingHttpHeaders = {}): Promise<Response> {
    return request({ port: gateway.httpsPort, tls: true, path, headers });
  }

  async function statuses(gateway: TestGateway, count: number, path = "/", headers: http.OutgoingHttpHeaders = {}): Promise<number[]> {
    const seen: number[] = [];
    for (let i = 0; i < count; i++) seen.push((await get(gateway, path, headers)).status);
    return seen;
  }

  test("limit 5 per 2 s: requests 1-5 pass with RateLimit-Remaining 4..0, the 6th is 429, and the window resets", async () => {
    const gateway = await start(simpleConfig(suite.backend.url, { route: { rateLimit: "per-ip" }, top: { rateLimits: { "per-ip": { limit: 5, window: "2s", key: "ip" } } } }));
    const before = suite.backend.requests.length;
    const remaining: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await get(gateway, `/r${i}`);
      assert.equal(res.status, 200, `request ${i + 1}`);
      assert.equal(res.headers["ratelimit-limit"], "5");
      remaining.push(String(res.headers["ratelimit-remaining"]));
      const reset = Number(res.headers["ratelimit-reset"]);
      assert.ok(reset >= 1 && reset <= 2, `RateLimit-Reset ${reset}`);
      assert.equal(res.headers["retry-after"], undefined);
    }
    assert.deepEqual(remaining, ["4", "3", "2", "1", "0"]);

    const limited = await get(gateway, "/r5");
    assert.equal(limited.status, 429);
    const retryAfter = Number(limited.headers["retry-after"]);
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 2, `Retry-After ${limited.headers["retry-after"]}`);
    assert.equal(limited.headers["ratelimit-limit"], "5");
    assert.equal(limited.headers["ratelimit-remaining"], "0");
    assert.ok(Number(limited.headers["ratelimit-reset"]) >= 1);
    assert.match(String(limited.headers["content-type"]), /^application\/json/);
    const requestId = limited.headers["x-request-id"];
    assert.ok(typeof requestId === "string" && requestId !== "");
    assert.deepEqual(limited.json(), { error: "rate_limited", requestId });
    assert.equal(suite.backend.requests.length - before, 5, "the 429 never reached the backend");

    const metrics = await fetchMetrics(gateway.adminPort);
    assert.equal(metricValue(metrics, 'rampart_ratelimit_rejections_total{policy="per-ip",route="app"}'), 1);
    assert.equal(metricValue(metrics, 'rampart_requests_total{route="app",method="GET",code="429"}'), 1);

    // After the window the budget is whole again.
    await sleep(retryAfter * 1_000 + 50);
    const again = await get(gateway, "/after");
    assert.equal(again.status, 200);
    assert.equal(again.headers["ratelimit-remaining"], "4");
  });

  test("key header:x-api-key: two API keys are limited independently; a request without the header is limited by its IP", async () => {
    const gateway = await start(
      simpleConfig(suite.backend.url, { route: { rateLimit: "per-key" }, top: { rateLimits: { "per-key": { limit: 2, window: "10s", key: "header:x-api-key" } } } }),
    );
    assert.deepEqual(await statuses(gateway, 3, "/", { "x-api-key": "alpha" }), [200, 200, 429]);
    assert.deepEqual(await statuses(gateway, 3, "/", { "x-api-key": "beta" }), [200, 200, 429], "beta has its own budget");
    assert.deepEqual(await statuses(gateway, 3), [200, 200, 429], "no key: the IP's own budget");
    assert.deepEqual(await statuses(gateway, 1, "/", { "x-api-key": "127.0.0.1" }), [200], "a key spelled like the IP is still a key");
    assert.equal((await get(gateway, "/", { "x-api-key": "alpha" })).status, 429, "alpha is still limited");
    const metrics = await fetchMetrics(gateway.adminPort);
    assert.equal(metricValue(metrics, 'rampart_ratelimit_rejections_total{policy="per-key",route="app"}'), 4);
  });

  test("key ip+route: each route has its own budget for the same client", async () => {
    const gateway = await start({
      services: { app: { targets: [{ url: suite.backend.url }] } },
      routes: [
        { name: "a", match: { pathPrefix: "/a" }, service: "app", rateLimit: "per-route" },
        { name: "b", match: { pathPrefix: "/b" }, service: "app", rateLimit: "per-route" },
        { name: "free", match: { pathPrefix: "/" }, service: "app" },
      ],
      rateLimits: { "per-route": { limit: 2, window: "10s", key: "ip+route" } },
    });
    assert.deepEqual(await statuses(gateway, 3, "/a/x"), [200, 200, 429]);
    assert.deepEqual(await statuses(gateway, 3, "/b/x"), [200, 200, 429]);
    const free = await get(gateway, "/c");
    assert.equal(free.status, 200, "a route without a policy is not limited");
    assert.equal(free.headers["ratelimit-limit"], undefined);
    const metrics = await fetchMetrics(gateway.adminPort);
    assert.equal(metricValue(metrics, 'rampart_ratelimit_rejections_total{policy="per-route",route="a"}'), 1);
    assert.equal(metricValue(metrics, 'rampart_ratelimit_rejections_total{policy="per-route",route="b"}'), 1);
  });

  test("key ip: one budget per client across every route that names the policy", async () => {
    const gateway = await start({
      services: { app: { targets: [{ url: suite.backend.url }] } },
      routes: [
        { name: "a", match: { pathPrefix: "/a" }, service: "app", rateLimit: "shared" },
        { name: "b", match: { pathPrefix: "/b" }, service: "app", rateLimit: "shared" },
      ],
      rateLimits: { shared: { limit: 3, window: "10s" } },
    });
    assert.deepEqual(await statuses(gateway, 2, "/a"), [200, 200]);
    assert.deepEqual(await statuses(gateway, 2, "/b"), [200, 429]);
  });

  test("an allowlisted IP (127.0.0.1/32) is never limited", async () => {
    const gateway = await start(
      simpleConfig(suite.backend.url, { route: { rateLimit: "one" }, top: { allowlist: ["127.0.0.1/32"], rateLimits: { one: { limit: 1, window: "10s" } } } }),
    );
    for (let i = 0; i < 5; i++) {
      const res = await get(gateway);
      assert.equal(res.status, 200);
      assert.equal(res.headers["ratelimit-limit"], undefined, "not counted at all");
    }
    const metrics = await fetchMetrics(gateway.adminPort);
    assert.equal(metricValue(metrics, 'rampart_ratelimit_rejections_total{policy="one",route="app"}'), undefined);
  });

  test("from an untrusted peer, X-Forwarded-For changes nothing: the limit is keyed on the socket address", async () => {
    const gateway = await start(simpleConfig(suite.backend.url, { route: { rateLimit: "two" }, top: { rateLimits: { two: { limit: 2, window: "10s" } } } }));
    const seen: number[] = [];
    for (const spoofed of ["203.0.113.1", "203.0.113.2", "203.0.113.3", "198.51.100.4, 203.0.113.5"]) {
      seen.push((await get(gateway, "/", { "x-forwarded-for": spoofed })).status);
    }
    assert.deepEqual(seen, [200, 200, 429, 429]);
  });

  test("behind a trusted proxy the X-Forwarded-For client is limited, each client on its own budget", async () => {
    const gateway = await start(
      simpleConfig(suite.backend.url, { route: { rateLimit: "two" }, top: { trustedProxies: ["127.0.0.1/32"], rateLimits: { two: { limit: 2, window: "10s" } } } }),
    );
    assert.deepEqual(await statuses(gateway, 3, "/", { "x-forwarded-for": "203.0.113.9" }), [200, 200, 429]);
    assert.deepEqual(await statuses(gateway, 2, "/", { "x-forwarded-for": "203.0.113.10" }), [200, 200], "203.0.113.10 is another client");
    // A client further left in the chain cannot escape: the right-most untrusted hop is the client.
    assert.equal((await get(gateway, "/", { "x-forwarded-for": "192.0.2.1, 203.0.113.9" })).status, 429);
    assert.deepEqual(await statuses(gateway, 2), [200, 200], "the proxy's own requests (no header) are the proxy's budget");
  });
});

// Per-route chains as a gateway builds them from a config: each route runs only the stages it uses, in
// the order request-path.ts declares, and a reload rebuilds them (a policy added to a route adds its
// stage; the route without one still has none).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { startGateway, type TestGateway } from "../../helpers/gateway.js";

describe("per-route chains", () => {
  let backend: Backend;
  let gw: TestGateway;
  const config = (limitOpen: boolean) => ({
    tls: { redirectHttp: false },
    rateLimits: { perIp: { limit: 1000, window: "1s", key: "ip" } },
    services: { app: { targets: [{ url: backend.url }] } },
    routes: [
      { name: "limited", match: { pathPrefix: "/limited" }, service: "app", rateLimit: "perIp" },
      { name: "open", match: { pathPrefix: "/" }, service: "app", ...(limitOpen ? { rateLimit: "perIp" } : {}) },
    ],
  });
  const chainOf = (path: string) => gw.gateway.generation.routes.match("", path, "GET")?.chain.map((stage) => stage.name);

  before(async () => {
    backend = await startBackend();
    gw = await startGateway(config(false));
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  test("a route without a rate limit has no rate-limit stage; one with a policy has it first", async () => {
    assert.deepEqual(chainOf("/limited/x"), ["rate-limit", "request-body", "pick-target", "forward"]);
    assert.deepEqual(chainOf("/other"), ["request-body", "pick-target", "forward"]);
    const limited = await request({ port: gw.httpPort, path: "/limited/x" });
    const open = await request({ port: gw.httpPort, path: "/other" });
    assert.equal(limited.headers["ratelimit-limit"], "1000", "the policy ran");
    assert.equal(open.headers["ratelimit-limit"], undefined, "no policy, no stage, no headers");
    assert.equal(open.status, 200);
  });

  test("a reload rebuilds the chains", async () => {
    await gw.writeConfig(config(true));
    assert.deepEqual(await gw.gateway.reload(), { ok: true, restartRequired: [] });
    assert.deepEqual(chainOf("/other"), ["rate-limit", "request-body", "pick-target", "forward"]);
    assert.equal((await request({ port: gw.httpPort, path: "/other" })).headers["ratelimit-limit"], "1000");
  });
});

// Retries as an operator sees them: an idempotent request without a body that could not connect goes
// to another target and the client gets its 200; a request with a body is never sent twice; a reset
// after the request went out on a fresh connection is not retried (the backend may have acted on it);
// never more than retry.attempts, never the same target twice; and the retry budget stops retries
// once its reserve is spent, so a failing fleet is not hammered.
import assert from "node:assert/strict";
import https from "node:https";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { freePort } from "../../helpers/backend.js";
import { request, type Response } from "../../helpers/client.js";
import { perTest } from "../../helpers/fixtures.js";
import { oneServiceConfig, type TestGateway } from "../../helpers/gateway.js";
import { fetchMetrics, metricSample } from "../../helpers/proxy-tools.js";

const { backend, gateway, defer } = perTest();

const deadUrl = async () => `http://127.0.0.1:${await freePort()}`;

/** A TCP server that accepts, waits for the request bytes, then resets the connection. */
async function resetter(): Promise<{ url: string; received: () => number }> {
  let received = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("data", () => {
      received++;
      socket.resetAndDestroy();
    });
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received: () => received };
}

async function retries(gw: TestGateway, service: string): Promise<{ sent: number; overBudget: number }> {
  const metrics = await fetchMetrics(gw.adminPort);
  return {
    sent: metricSample(metrics, "rampart_upstream_retries_total", { service, result: "sent" }) ?? 0,
    overBudget: metricSample(metrics, "rampart_upstream_retries_total", { service, result: "over_budget" }) ?? 0,
  };
}

const send = (gw: TestGateway, method: string, path: string, body?: string, agent?: https.Agent): Promise<Response> =>
  request({ port: gw.httpsPort, tls: true, method, path, body, agent });

const count = (statuses: readonly number[], status: number) => statuses.filter((s) => s === status).length;

describe("retries", () => {
  test("GET, HEAD, PUT and DELETE without a body that meet a closed port are retried on the live target: the client gets 200", async () => {
    const live = await backend();
    const gw = await gateway(oneServiceConfig({ targets: [{ url: await deadUrl() }, { url: live.url }], retry: { attempts: 2 } }));
    const statuses: number[] = [];
    for (const method of ["GET", "HEAD", "PUT", "DELETE"]) {
      for (let i = 0; i < 4; i++) statuses.push((await send(gw, method, `/${method.toLowerCase()}/${i}`)).status);
    }
    assert.deepEqual(statuses, new Array<number>(16).fill(200));
    assert.equal(live.requests.length, 16, "each request reached the live target exactly once");
    const counted = await retries(gw, "app");
    assert.ok(counted.sent >= 1, `rampart_upstream_retries_total{result="sent"} is ${counted.sent}`);
    assert.equal(counted.sent, 8, "round-robin sent every second request to the closed port first");
    assert.equal(counted.overBudget, 0);
  });

  test("a POST or PUT with a body is never retried: the target that reset it got it once, the other never", async () => {
    let bodiesA = 0;
    const a = await backend((req, res) => {
      if (req.method === "POST" || req.method === "PUT") {
        bodiesA++;
        req.socket.destroy();
      } else res.writeHead(200).end();
    });
    const b = await backend();
    const gw = await gateway(oneServiceConfig({ targets: [{ url: a.url }, { url: b.url }], retry: { attempts: 2, budget: 100 } }));
    const statuses: number[] = [];
    // Round-robin alternates, so A gets both a POST and a PUT (idempotent, but with a body).
    for (const [i, method] of ["POST", "POST", "PUT", "PUT", "POST", "POST", "PUT", "PUT"].entries()) {
      statuses.push((await send(gw, method, `/orders/${i}`, `{"order":${i}}`)).status);
    }
    const bodiesB = b.requests.filter((r) => r.method === "POST" || r.method === "PUT").length;
    assert.ok(count(statuses, 502) > 0, `the resetting target was tried: ${statuses.join(", ")}`);
    assert.equal(count(statuses, 502) + count(statuses, 200), 8, statuses.join(", "));
    assert.equal(bodiesA, count(statuses, 502), "every 502 is a request the first target received once");
    assert.equal(bodiesB, count(statuses, 200), "the second target saw only the requests it answered: none was re-sent to it");
    assert.equal(bodiesA + bodiesB, 8, "no request with a body was delivered twice");
    assert.equal((await retries(gw, "app")).sent, 0);
  });

  test("a POST, or a PUT with a body, that meets a closed port is not retried either: 502", async () => {
    const live = await backend();
    const gw = await gateway(oneServiceConfig({ targets: [{ url: await deadUrl() }, { url: live.url }], retry: { attempts: 2, budget: 100 } }));
    const statuses: number[] = [];
    for (const [i, method] of ["POST", "POST", "PUT", "PUT"].entries()) statuses.push((await send(gw, method, `/p/${i}`, "payload")).status);
    assert.deepEqual([...statuses].sort(), [200, 200, 502, 502]);
    assert.equal(live.requests.length, 2);
    assert.equal((await retries(gw, "app")).sent, 0);
  });

  test("a GET reset after it was sent on a fresh connection is not retried (the backend may have acted): 502", async () => {
    const reset = await resetter();
    const live = await backend();
    const gw = await gateway(oneServiceConfig({ targets: [{ url: reset.url }, { url: live.url }], retry: { attempts: 2, budget: 100 } }));
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await send(gw, "GET", `/g/${i}`)).status);
    assert.deepEqual([...statuses].sort(), [200, 200, 502, 502]);
    assert.equal(reset.received(), 2, "the resetting target received its two requests once each");
    assert.equal(live.requests.length, 2, "and they were not sent on to the live target");
    assert.equal((await retries(gw, "app")).sent, 0);
  });

  test("a GET on a pooled keep-alive socket that the backend closed as it was reused is retried; a POST is not", async () => {
    // Answers the first request of each connection with keep-alive, then drops the connection when a
    // second request arrives on it: the stale-socket race of a backend closing an idle connection.
    const served = new WeakMap<object, number>();
    let dropped = 0;
    const stale = await backend((req, res) => {
      const count = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, count);
      if (count > 1) {
        dropped++;
        req.socket.destroy();
      } else res.writeHead(200, { connection: "keep-alive" }).end("fresh");
    });
    const gw = await gateway(oneServiceConfig({ targets: [{ url: stale.url }], retry: { attempts: 2 } }));
    const first = await send(gw, "GET", "/one");
    assert.equal(first.status, 200);
    // The gateway's pool now holds that connection; the next request reuses it and meets the drop.
    const second = await send(gw, "GET", "/two");
    assert.equal(second.status, 200, second.body);
    assert.equal(dropped, 1, "the second GET first went out on the pooled socket");
    assert.equal(stale.connections, 2, "and was retried on a new connection to the same (only) target");
    assert.equal((await retries(gw, "app")).sent, 1);

    // The same race for a POST with a body: not retried, the client gets 502.
    const post = await send(gw, "POST", "/three", "payload");
    assert.equal(post.status, 502, post.body);
    assert.equal(dropped, 2);
    assert.equal((await retries(gw, "app")).sent, 1);
  });

  test("at most retry.attempts retries, each to a target not yet tried", async () => {
    const dead = [await deadUrl(), await deadUrl(), await deadUrl()];
    const targets = dead.map((url) => ({ url }));
    const gw = await gateway({
      services: {
        once: { targets, retry: { attempts: 1, budget: 100 } },
        many: { targets, retry: { attempts: 5, budget: 100 } },
      },
      routes: [
        { name: "once", match: { pathPrefix: "/once" }, service: "once" },
        { name: "many", match: { pathPrefix: "/many" }, service: "many" },
      ],
    });
    for (let i = 0; i < 4; i++) {
      assert.equal((await send(gw, "GET", `/once/${i}`)).status, 502);
      assert.equal((await send(gw, "GET", `/many/${i}`)).status, 502);
    }
    // attempts 1: one retry per request. attempts 5 over 3 targets: two retries, then no untried target is left.
    assert.equal((await retries(gw, "once")).sent, 4);
    assert.equal((await retries(gw, "many")).sent, 8);
  });

  test("retry budget 0: once the 10-token reserve is spent, failed connects are no longer retried (over_budget) and clients get 502", async () => {
    const live = await backend();
    const gw = await gateway(oneServiceConfig({ targets: [{ url: await deadUrl() }, { url: live.url }], retry: { attempts: 2, budget: 0 } }));
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    defer(() => agent.destroy());
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push((await send(gw, "GET", `/b/${i}`, undefined, agent)).status);
    const failed = count(statuses, 502);
    const counted = await retries(gw, "app");
    assert.equal(counted.sent, 10, "only the reserve was spent on retries");
    assert.ok(counted.overBudget > 0, `rampart_upstream_retries_total{result="over_budget"} is ${counted.overBudget}`);
    assert.ok(failed > 0, "with no budget left, clients see the connect failures");
    assert.equal(failed, counted.overBudget, "each refused retry is one 502");
    assert.equal(count(statuses, 200), 100 - failed);
    assert.equal(live.requests.length, 100 - failed);
    // The first failures were the ones retried: the 502s only come after the reserve ran out.
    assert.ok(statuses.slice(0, 20).every((s) => s === 200), `first 20: ${statuses.slice(0, 20).join(", ")}`);
  });
});

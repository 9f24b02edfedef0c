// Load balancing as an operator sees it, end to end: a real gateway in-process, real node:http backends
// on loopback, requests over HTTPS. Round-robin spreads evenly, weights give canary splits, least-requests
// keeps traffic off a slow backend, and ip-hash pins every client to one backend and, when a target is
// added, moves only the clients that now belong to the new one.
import assert from "node:assert/strict";
import https from "node:https";
import { describe, test } from "node:test";
import { reloadConfig } from "../../helpers/admin-api.js";
import type { Backend } from "../../helpers/backend.js";
import { request, type Response } from "../../helpers/client.js";
import { perTest } from "../../helpers/fixtures.js";
import { oneServiceConfig, type ConfigObject } from "../../helpers/gateway.js";

const { backend, gateway, defer } = perTest();

/** A backend answering 200 with its own name, so a response tells which backend served it. */
function named(name: string): Promise<Backend> {
  return backend((_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end(name));
}

/** A keep-alive client pool, so thousands of requests do not each pay a TLS handshake. */
function clientAgent(maxSockets: number): https.Agent {
  const agent = new https.Agent({ keepAlive: true, maxSockets, rejectUnauthorized: false });
  defer(() => agent.destroy());
  return agent;
}

/** Sends `total` requests with at most `concurrency` in flight; resolves with every response in order. */
async function sendMany(total: number, concurrency: number, send: (index: number) => Promise<Response>): Promise<Response[]> {
  const responses: Response[] = new Array<Response>(total);
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const index = next++;
      responses[index] = await send(index);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return responses;
}

function service(targets: readonly Backend[], extra: ConfigObject = {}): ConfigObject {
  return { targets: targets.map((b) => ({ url: b.url })), ...extra };
}

describe("load balancing across real backends", () => {
  test("round-robin: 300 requests over 3 backends land exactly 100 on each", async () => {
    const backends = [await backend(), await backend(), await backend()];
    const gw = await gateway(oneServiceConfig(service(backends, { balancer: "round-robin" })));
    const agent = clientAgent(10);
    const responses = await sendMany(300, 10, (i) => request({ port: gw.httpsPort, tls: true, path: `/rr/${i}`, agent }));
    assert.deepEqual(
      responses.filter((r) => r.status !== 200).map((r) => r.status),
      [],
      "every request answered 200",
    );
    assert.deepEqual(
      backends.map((b) => b.requests.length),
      [100, 100, 100],
    );
  });

  test("weights 95/5: a canary split over 2,000 requests lands within ±2 points", async () => {
    const stable = await backend();
    const canary = await backend();
    const gw = await gateway(
      oneServiceConfig({
        targets: [
          { url: stable.url, weight: 95 },
          { url: canary.url, weight: 5 },
        ],
      }),
    );
    const agent = clientAgent(20);
    const responses = await sendMany(2_000, 20, () => request({ port: gw.httpsPort, tls: true, path: "/canary", agent }));
    assert.equal(responses.filter((r) => r.status === 200).length, 2_000);
    assert.equal(stable.requests.length + canary.requests.length, 2_000);
    const canaryShare = (canary.requests.length / 2_000) * 100;
    assert.ok(Math.abs(canaryShare - 5) <= 2, `canary got ${canaryShare.toFixed(2)} % of the traffic, expected 5 ± 2`);
  });

  test("weights with random: 95/5 over 2,000 requests also lands within ±2 points", async () => {
    const stable = await backend();
    const canary = await backend();
    const gw = await gateway(
      oneServiceConfig({
        balancer: "random",
        targets: [
          { url: stable.url, weight: 95 },
          { url: canary.url, weight: 5 },
        ],
      }),
    );
    const agent = clientAgent(20);
    await sendMany(2_000, 20, () => request({ port: gw.httpsPort, tls: true, path: "/canary", agent }));
    assert.equal(stable.requests.length + canary.requests.length, 2_000);
    // Binomial(2000, 0.05): σ ≈ 0.49 points, so ±2 points is four σ.
    const canaryShare = (canary.requests.length / 2_000) * 100;
    assert.ok(Math.abs(canaryShare - 5) <= 2, `canary got ${canaryShare.toFixed(2)} % of the traffic, expected 5 ± 2`);
  });

  test("least-requests: with one backend slow (200 ms), most traffic goes to the fast one", async () => {
    const fast = await backend();
    const slow = await backend((_req, res) => {
      const timer = setTimeout(() => res.writeHead(200).end("slow"), 200);
      res.on("close", () => clearTimeout(timer));
    });
    const gw = await gateway(oneServiceConfig(service([fast, slow], { balancer: "least-requests" })));
    // 20 concurrent clients in a closed loop for one second, after a warm-up that opens their
    // connections. (With ~50, this 2-core box saturates the one event loop that runs clients, gateway
    // and backends, and the fast target's in-flight count then measures queueing in the test process.)
    const agent = clientAgent(20);
    await sendMany(20, 20, () => request({ port: gw.httpsPort, tls: true, path: "/warm-up", agent }));
    const fastBefore = fast.requests.length;
    const slowBefore = slow.requests.length;
    const deadline = Date.now() + 1_000;
    const statuses: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (Date.now() < deadline) statuses.push((await request({ port: gw.httpsPort, tls: true, path: "/work", agent })).status);
      }),
    );
    assert.ok(statuses.length > 0);
    assert.ok(
      statuses.every((s) => s === 200),
      `non-200 answers: ${statuses.filter((s) => s !== 200).join(", ")}`,
    );
    const fastCount = fast.requests.length - fastBefore;
    const slowCount = slow.requests.length - slowBefore;
    // Round-robin would split 1:1 (random about 1:1); P2C over in-flight counts must do far better.
    assert.ok(fastCount >= 3 * slowCount, `fast backend got ${fastCount} requests, slow ${slowCount}: expected at least 3:1`);
    assert.ok(slowCount > 0, "the slow backend is not starved entirely: it still gets a share");
  });

  test("ip-hash: each client (via a trusted proxy's X-Forwarded-For) always lands on the same backend; adding a target moves only ~1/n", async () => {
    const names = ["a", "b", "c"];
    const backends = await Promise.all(names.map((name) => named(name)));
    const config = (targets: readonly Backend[]) => oneServiceConfig(service(targets, { balancer: "ip-hash" }), { top: { trustedProxies: ["127.0.0.1/32"] } });
    const gw = await gateway(config(backends));
    const agent = clientAgent(20);
    const clients = Array.from({ length: 200 }, (_, i) => `198.51.${Math.floor(i / 250)}.${(i % 250) + 1}`);

    /** Which backend served each client, asking `rounds` times; fails if a client is ever served by two. */
    const assignment = async (rounds: number): Promise<Map<string, string>> => {
      const seen = new Map<string, Set<string>>();
      await sendMany(clients.length * rounds, 20, async (index) => {
        const client = clients[index % clients.length]!;
        const res = await request({ port: gw.httpsPort, tls: true, path: "/who", agent, headers: { "x-forwarded-for": client } });
        assert.equal(res.status, 200);
        let set = seen.get(client);
        if (set === undefined) seen.set(client, (set = new Set()));
        set.add(res.body);
        return res;
      });
      const result = new Map<string, string>();
      for (const [client, servedBy] of seen) {
        assert.equal(servedBy.size, 1, `client ${client} was served by ${[...servedBy].join(" and ")}`);
        result.set(client, [...servedBy][0]!);
      }
      return result;
    };

    const before = await assignment(5);
    assert.equal(before.size, clients.length);
    const perBackend = names.map((name) => [...before.values()].filter((n) => n === name).length);
    for (const [i, count] of perBackend.entries()) {
      assert.ok(count >= 200 / 3 / 3, `backend ${names[i]} got only ${count} of 200 clients: ${perBackend.join("/")}`);
    }

    // Add a fourth target and reload: consistent hashing moves only the clients the new target takes.
    const added = await named("d");
    await reloadConfig(gw, config([...backends, added]));

    const afterAdd = await assignment(2);
    let moved = 0;
    for (const [client, name] of afterAdd) {
      if (name === before.get(client)) continue;
      moved++;
      assert.equal(name, "d", `client ${client} moved from ${before.get(client)} to ${name}, not to the new target`);
    }
    const movedShare = moved / clients.length;
    // Ideal is 1/4; a modulo hash would move ~3/4.
    assert.ok(movedShare > 0.1 && movedShare < 0.4, `${moved} of ${clients.length} clients were remapped`);
  });
});

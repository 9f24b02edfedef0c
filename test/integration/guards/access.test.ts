// Who gets in: denylisted and banned socket addresses are closed at accept (before TLS) and counted;
// clients known through a trusted proxy's X-Forwarded-For get a 403 instead, and the proxy's own
// connection keeps serving its other clients; a keep-alive connection opened before a ban is refused
// on its next request; allowlisted addresses are exempt from maxConnectionsPerIp.
import assert from "node:assert/strict";
import type http from "node:http";
import https from "node:https";
import { describe, test } from "node:test";
import type tls from "node:tls";
import { addBan } from "../../helpers/admin-api.js";
import { request } from "../../helpers/client.js";
import { simpleConfig } from "../../helpers/gateway.js";
import { guardsFixture, tcpProbe, tlsHandshake } from "../../helpers/guards.js";
import { connectTls, fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";

interface AgentResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** True when the request went out on a keep-alive connection that had served an earlier request. */
  readonly reused: boolean;
}

/** One request through `agent` (keep-alive), reporting whether its connection was reused. */
function agentRequest(agent: https.Agent, port: number, path: string, headers: http.OutgoingHttpHeaders = {}): Promise<AgentResponse> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port, path, headers, agent, servername: "localhost", rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8"), reused: req.reusedSocket }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("access: denylist, bans, allowlist", () => {
  const suite = guardsFixture();
  const { start } = suite;

  /** Destroyed after the test, before its gateway is closed. */
  function keepAliveAgent(): https.Agent {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    suite.defer(() => agent.destroy());
    return agent;
  }

  test("a denylisted socket address is closed at accept on both listeners, before TLS, counted as denied", async () => {
    const gateway = await start(simpleConfig(suite.backend.url, { top: { denylist: ["127.0.0.1/32"] } }));
    assert.equal(await tlsHandshake(gateway.httpsPort), "closed");
    assert.deepEqual(await tcpProbe(gateway.httpsPort), { closed: true, bytes: 0 });
    assert.deepEqual(await tcpProbe(gateway.httpPort), { closed: true, bytes: 0 });
    await assert.rejects(request({ port: gateway.httpsPort, tls: true }));
    assert.equal(suite.backend.requests.length, 0);
    // The admin listener is never gated.
    const metrics = await fetchMetrics(gateway.adminPort);
    assert.equal(metricValue(metrics, 'rampart_connections_rejected_total{reason="denied"}'), 4);
    assert.equal(metricValue(metrics, 'rampart_connections_rejected_total{reason="banned"}'), 0);
  });

  test("through a trusted proxy: banned and denylisted X-Forwarded-For clients get 403; the proxy's connection keeps serving others", async () => {
    const gateway = await start(simpleConfig(suite.backend.url, { top: { trustedProxies: ["127.0.0.1/32"], denylist: ["192.0.2.0/24"] } }));
    await addBan(gateway.adminPort, "203.0.113.9", "1h", "access test");
    await addBan(gateway.adminPort, "2001:db8:1:2::1", "1h", "access test");
    const before = suite.backend.requests.length;
    const agent = keepAliveAgent();
    const as = (client: string) => ({ "x-forwarded-for": client });

    const warmup = await agentRequest(agent, gateway.httpsPort, "/", as("203.0.113.10"));
    assert.equal(warmup.status, 200);

    const banned = await agentRequest(agent, gateway.httpsPort, "/", as("203.0.113.9"));
    assert.equal(banned.status, 403);
    assert.ok(banned.reused);
    assert.deepEqual(JSON.parse(banned.body), { error: "banned", requestId: banned.headers["x-request-id"] });

    const other = await agentRequest(agent, gateway.httpsPort, "/", as("203.0.113.10"));
    assert.equal(other.status, 200, "203.0.113.10 still gets through");
    assert.ok(other.reused, "on the same proxy connection: a banned client behind the proxy does not close it");

    const denied = await agentRequest(agent, gateway.httpsPort, "/", as("192.0.2.7"));
    assert.equal(denied.status, 403);
    assert.deepEqual(JSON.parse(denied.body), { error: "denied", requestId: denied.headers["x-request-id"] });
    const stillOther = await agentRequest(agent, gateway.httpsPort, "/", as("203.0.113.10"));
    assert.equal(stillOther.status, 200);
    assert.ok(stillOther.reused);

    // An IPv6 client is banned by its /64.
    assert.equal((await agentRequest(agent, gateway.httpsPort, "/", as("2001:db8:1:2:ffff::9"))).status, 403);
    assert.equal((await agentRequest(agent, gateway.httpsPort, "/", as("2001:db8:1:3::1"))).status, 200);

    assert.equal(suite.backend.requests.length - before, 4, "refused clients never reach the backend");
    assert.equal(await tlsHandshake(gateway.httpsPort), "secure", "the proxy itself is admitted");
    const metrics = await fetchMetrics(gateway.adminPort);
    assert.equal(metricValue(metrics, 'rampart_connections_rejected_total{reason="banned"}'), 0);
    assert.equal(metricValue(metrics, 'rampart_connections_rejected_total{reason="denied"}'), 0);
  });

  test("a keep-alive connection opened before a ban gets 403 banned on its next request, then is closed", async () => {
    const gateway = await start(simpleConfig(suite.backend.url));
    const agent = keepAliveAgent();
    const first = await agentRequest(agent, gateway.httpsPort, "/before");
    assert.equal(first.status, 200);
    assert.equal(first.reused, false);

    await addBan(gateway.adminPort, "127.0.0.1", "1h", "access test");
    const before = suite.backend.requests.length;
    const refused = await agentRequest(agent, gateway.httpsPort, "/after");
    assert.ok(refused.reused, "sent on the connection admitted before the ban");
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.connection, "close");
    assert.equal(JSON.parse(refused.body).error, "banned");
    assert.equal(suite.backend.requests.length, before);

    // No keep-alive to retry on, and a new connection is refused at accept.
    await assert.rejects(agentRequest(agent, gateway.httpsPort, "/again"));
    const metrics = await fetchMetrics(gateway.adminPort);
    assert.ok((metricValue(metrics, 'rampart_connections_rejected_total{reason="banned"}') ?? 0) >= 1);
  });

  test("allowlisted addresses are exempt from maxConnectionsPerIp; others are held to it", async () => {
    const sockets: tls.TLSSocket[] = [];
    try {
      const exempt = await start(simpleConfig(suite.backend.url, { top: { allowlist: ["127.0.0.1/32"], limits: { maxConnectionsPerIp: 2 } } }));
      for (let i = 0; i < 4; i++) sockets.push(await connectTls(exempt.httpsPort, "localhost"));
      const metrics = await fetchMetrics(exempt.adminPort);
      assert.equal(metricValue(metrics, 'rampart_connections_rejected_total{reason="connection_limit"}'), 0);
      for (const socket of sockets.splice(0)) socket.destroy();
      await exempt.close();

      const limited = await start(simpleConfig(suite.backend.url, { top: { limits: { maxConnectionsPerIp: 2 } } }));
      for (let i = 0; i < 2; i++) sockets.push(await connectTls(limited.httpsPort, "localhost"));
      assert.equal(await tlsHandshake(limited.httpsPort), "closed");
      const after = await fetchMetrics(limited.adminPort);
      assert.equal(metricValue(after, 'rampart_connections_rejected_total{reason="connection_limit"}'), 1);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});

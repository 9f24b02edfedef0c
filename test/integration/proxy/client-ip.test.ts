// The client IP every guard keys on, as the backend (X-Forwarded-For) and the access log (clientIp) see
// it: an untrusted peer cannot spoof it; behind trusted proxies it is the right-most untrusted hop.
import assert from "node:assert/strict";
import type http from "node:http";
import { afterEach, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { simpleConfig, startGateway, type TestGateway } from "../../helpers/gateway.js";
import { captureLogger, waitFor, type CapturedLog } from "../../helpers/proxy-tools.js";

interface Echo {
  readonly headers: http.IncomingHttpHeaders;
}

describe("client IP", () => {
  let backend: Backend | undefined;
  let gw: TestGateway | undefined;
  let log: CapturedLog;

  afterEach(async () => {
    await gw?.close();
    await backend?.close();
    gw = undefined;
    backend = undefined;
  });

  async function start(trustedProxies: string[]): Promise<TestGateway> {
    backend = await startBackend();
    log = captureLogger();
    gw = await startGateway(simpleConfig(backend.url, { top: { trustedProxies } }), { logger: log.logger, accessLog: log.accessLog });
    return gw;
  }

  async function send(gateway: TestGateway, forwardedFor: string | undefined, requestId: string): Promise<{ forwardedFor: unknown; clientIp: unknown }> {
    const headers: http.OutgoingHttpHeaders = { "x-request-id": requestId };
    if (forwardedFor !== undefined) headers["x-forwarded-for"] = forwardedFor;
    const res = await request({ port: gateway.httpsPort, tls: true, path: "/who", headers });
    assert.equal(res.status, 200);
    const line = await waitFor(() => log.lines.find((entry) => entry.msg === "request" && entry.requestId === requestId), 2_000, "the access-log line");
    return { forwardedFor: res.json<Echo>().headers["x-forwarded-for"], clientIp: line.clientIp };
  }

  test("a spoofed X-Forwarded-For from an untrusted peer is ignored", async () => {
    const gateway = await start([]);
    const seen = await send(gateway, "203.0.113.7", "spoof-1");
    assert.equal(seen.forwardedFor, "127.0.0.1");
    assert.equal(seen.clientIp, "127.0.0.1");
    const list = await send(gateway, "1.1.1.1, 2.2.2.2, 203.0.113.7", "spoof-2");
    assert.equal(list.forwardedFor, "127.0.0.1");
    assert.equal(list.clientIp, "127.0.0.1");
  });

  test("trusted proxies that do not include the peer change nothing", async () => {
    const gateway = await start(["10.0.0.0/8"]);
    const seen = await send(gateway, "203.0.113.7", "not-trusted");
    assert.equal(seen.forwardedFor, "127.0.0.1");
    assert.equal(seen.clientIp, "127.0.0.1");
  });

  test("behind one trusted proxy the right-most untrusted hop is the client", async () => {
    const gateway = await start(["127.0.0.1/32"]);
    // 10.0.0.1 is not trusted here, so it is the client, whatever the left of the header claims.
    const seen = await send(gateway, "203.0.113.7, 10.0.0.1", "one-hop");
    assert.equal(seen.clientIp, "10.0.0.1");
    // The chain is kept and the trusted peer appended, as a proxy chain expects.
    assert.equal(seen.forwardedFor, "203.0.113.7, 10.0.0.1, 127.0.0.1");
  });

  test("with every proxy hop trusted, the original client is found", async () => {
    const gateway = await start(["127.0.0.0/8", "10.0.0.0/8"]);
    const seen = await send(gateway, "203.0.113.7, 10.0.0.1", "all-trusted");
    assert.equal(seen.clientIp, "203.0.113.7");
    assert.equal(seen.forwardedFor, "203.0.113.7, 10.0.0.1, 127.0.0.1");
    // Ports and IPv4-mapped IPv6 in hops are normalised.
    const mapped = await send(gateway, "[::ffff:198.51.100.9]:4711, 10.1.2.3:8080", "mapped");
    assert.equal(mapped.clientIp, "198.51.100.9");
  });

  test("a trusted peer without X-Forwarded-For is itself the client", async () => {
    const gateway = await start(["127.0.0.1/32"]);
    const seen = await send(gateway, undefined, "no-header");
    assert.equal(seen.clientIp, "127.0.0.1");
    assert.equal(seen.forwardedFor, "127.0.0.1");
  });

  test("a garbage hop ends the chain: the proxy that wrote it is the last known identity", async () => {
    const gateway = await start(["127.0.0.0/8", "10.0.0.0/8"]);
    const seen = await send(gateway, "203.0.113.7, not-an-ip, 10.0.0.1", "garbage");
    assert.equal(seen.clientIp, "10.0.0.1");
    const last = await send(gateway, "203.0.113.7, <script>", "garbage-last");
    assert.equal(last.clientIp, "127.0.0.1");
  });
});

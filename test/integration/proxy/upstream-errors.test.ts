// Upstream failures as clients see them: nothing listening or a reset → 502 bad_gateway, silence past
// timeouts.response → 504 gateway_timeout, and a client that hangs up aborts the upstream request. After
// each failure the gateway goes on serving.
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import https from "node:https";
import { freePort, startBackend, type Backend } from "../../helpers/backend.js";
import { request, type Response } from "../../helpers/client.js";
import { startGateway, type TestGateway } from "../../helpers/gateway.js";
import { waitFor } from "../../helpers/proxy-tools.js";

function assertErrorBody(res: Response, status: number, error: string): void {
  assert.equal(res.status, status, res.body);
  assert.equal(res.headers["content-type"], "application/json");
  const requestId = res.headers["x-request-id"];
  assert.equal(typeof requestId, "string");
  assert.deepEqual(res.json(), { error, requestId });
}

/** A TCP server that accepts and resets every connection as soon as the request arrives. */
async function startResetter(): Promise<{ url: string; accepted: () => number; close: () => Promise<void> }> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("data", () => socket.resetAndDestroy());
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("upstream failures", () => {
  let healthy: Backend;
  let hanging: Backend;
  let resetter: Awaited<ReturnType<typeof startResetter>>;
  let partial: Backend;
  let gw: TestGateway;
  const hangingResponses: http.ServerResponse[] = [];
  const abortedRequests: { url: string; closedEarly: boolean }[] = [];

  before(async () => {
    healthy = await startBackend();
    hanging = await startBackend((req, res) => {
      // Never answers; remembers how the request ended.
      hangingResponses.push(res);
      res.once("close", () => abortedRequests.push({ url: req.url ?? "", closedEarly: !res.writableEnded }));
    });
    resetter = await startResetter();
    partial = await startBackend((req, res) => {
      // Headers and the start of a 1000-byte body, then silence or a reset.
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": 1000 });
      res.write(Buffer.alloc(100, 7));
      if (req.url === "/partial/reset") setTimeout(() => req.socket.resetAndDestroy(), 50);
      else hangingResponses.push(res);
    });
    const dead = await freePort();
    gw = await startGateway({
      services: {
        ok: { targets: [{ url: healthy.url }] },
        dead: { targets: [{ url: `http://127.0.0.1:${dead}` }] },
        reset: { targets: [{ url: resetter.url }] },
        hang: { targets: [{ url: hanging.url }], timeouts: { response: "300ms" } },
        patient: { targets: [{ url: hanging.url }], timeouts: { response: "30s" } },
        partial: { targets: [{ url: partial.url }], timeouts: { response: "300ms" } },
      },
      routes: [
        { name: "dead", match: { pathPrefix: "/dead" }, service: "dead" },
        { name: "reset", match: { pathPrefix: "/reset" }, service: "reset" },
        { name: "hang", match: { pathPrefix: "/hang" }, service: "hang" },
        { name: "patient", match: { pathPrefix: "/patient" }, service: "patient" },
        { name: "partial", match: { pathPrefix: "/partial" }, service: "partial" },
        { name: "ok", match: { pathPrefix: "/" }, service: "ok" },
      ],
    });
  });

  after(async () => {
    for (const res of hangingResponses) res.destroy();
    await gw?.close();
    await healthy?.close();
    await hanging?.close();
    await resetter?.close();
    await partial?.close();
  });

  const get = (path: string, method = "GET", body?: string) => request({ port: gw.httpsPort, tls: true, path, method, body });

  const stillServing = async () => {
    const res = await get("/still-alive");
    assert.equal(res.status, 200, "the gateway keeps serving after the failure");
  };

  test("nothing listening on the target → 502 bad_gateway", async () => {
    assertErrorBody(await get("/dead"), 502, "bad_gateway");
    assertErrorBody(await get("/dead/x", "POST", "payload"), 502, "bad_gateway");
    await stillServing();
  });

  test("a target that accepts and then resets the connection → 502 bad_gateway", async () => {
    const acceptedBefore = resetter.accepted();
    assertErrorBody(await get("/reset"), 502, "bad_gateway");
    assert.ok(resetter.accepted() > acceptedBefore, "the gateway did connect");
    assertErrorBody(await get("/reset/again", "POST", "body"), 502, "bad_gateway");
    await stillServing();
  });

  test("a target that never answers, with timeouts.response 300ms → 504 gateway_timeout", async () => {
    const started = Date.now();
    const res = await get("/hang");
    const elapsed = Date.now() - started;
    assertErrorBody(res, 504, "gateway_timeout");
    assert.ok(elapsed >= 250, `answered after ${elapsed} ms, before the timeout`);
    assert.ok(elapsed < 2_000, `answered after ${elapsed} ms`);
    // The timed-out upstream request is abandoned, not left open.
    await waitFor(() => (abortedRequests.some((r) => r.url === "/hang" && r.closedEarly) ? true : undefined), 2_000, "the upstream request to close");
    await stillServing();
  });

  /** GET over a fresh connection, reporting how much of the body arrived and whether it completed. */
  const download = (path: string) =>
    new Promise<{ status: number; bytes: number; complete: boolean; ms: number }>((resolve, reject) => {
      const started = Date.now();
      const req = https.get({ host: "127.0.0.1", port: gw.httpsPort, path, rejectUnauthorized: false, agent: false }, (res) => {
        let bytes = 0;
        res.on("data", (chunk: Buffer) => (bytes += chunk.length));
        res.on("error", () => {});
        res.on("close", () => resolve({ status: res.statusCode ?? 0, bytes, complete: res.complete, ms: Date.now() - started }));
      });
      req.on("error", reject);
    });

  test("a target that stalls mid-body: the client's response is cut, not left hanging", async () => {
    const result = await download("/partial/stall");
    assert.equal(result.status, 200, "the status line had already gone out");
    assert.equal(result.bytes, 100);
    assert.equal(result.complete, false, "a truncated body must not look complete");
    assert.ok(result.ms < 2_000, `cut after ${result.ms} ms`);
    await stillServing();
  });

  test("a target that resets mid-body: the client's response is cut", async () => {
    const result = await download("/partial/reset");
    assert.equal(result.status, 200);
    assert.equal(result.complete, false);
    assert.ok(result.bytes < 1000);
    await stillServing();
  });

  test("an error reply leaves a keep-alive client connection usable", async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    agent.on("free", (socket) => sockets.add(socket));
    try {
      for (const [path, status] of [["/dead", 502], ["/still-alive", 200], ["/reset", 502], ["/still-alive", 200], ["/hang", 504], ["/still-alive", 200]] as const) {
        const res = await request({ port: gw.httpsPort, tls: true, path, agent });
        assert.equal(res.status, status, path);
      }
    } finally {
      agent.destroy();
    }
    assert.equal(sockets.size, 1, "all six requests shared one client connection");
  });

  test("a client that hangs up aborts the upstream request", async () => {
    const seenBefore = hanging.requests.length;
    const req = https.request({ host: "127.0.0.1", port: gw.httpsPort, path: "/patient/abort-me", rejectUnauthorized: false, agent: false });
    req.on("error", () => {});
    req.end();
    // Wait until the backend holds the request, then the client goes away.
    await waitFor(() => (hanging.requests.length > seenBefore ? true : undefined), 2_000, "the request to reach the backend");
    const started = Date.now();
    req.destroy();
    const aborted = await waitFor(() => abortedRequests.find((r) => r.url === "/abort-me" || r.url === "/patient/abort-me"), 2_000, "the upstream request to be aborted");
    assert.equal(aborted.closedEarly, true);
    assert.ok(Date.now() - started < 2_000);
    await stillServing();
  });

  test("the failures are recorded per target for the admin API", async () => {
    const upstreams = await new Promise<{ service: string; lastError: string | null }[]>((resolve, reject) => {
      http
        .get({ host: "127.0.0.1", port: gw.adminPort, path: "/api/upstreams", agent: false }, (response) => {
          let text = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => (text += chunk));
          response.on("end", () => resolve(JSON.parse(text) as { service: string; lastError: string | null }[]));
        })
        .on("error", reject);
    });
    const byService = new Map(upstreams.map((u) => [u.service, u]));
    assert.match(byService.get("dead")?.lastError ?? "", /UPSTREAM_CONNECT_FAILED/);
    assert.match(byService.get("reset")?.lastError ?? "", /UPSTREAM_RESET/);
    assert.match(byService.get("hang")?.lastError ?? "", /UPSTREAM_RESPONSE_TIMEOUT/);
    assert.equal(byService.get("ok")?.lastError, null);
  });
});

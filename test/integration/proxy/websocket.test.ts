// WebSocket upgrades are proxied: a `ws` client speaks wss:// to the gateway, which forwards the upgrade
// to a `ws` server on a plain node:http backend; messages echo both ways.
import assert from "node:assert/strict";
import type http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { startGateway, type TestGateway } from "../../helpers/gateway.js";
import { rawTls } from "../../helpers/proxy-tools.js";

function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { rejectUnauthorized: false, headers });
    socket.once("open", () => resolve(socket));
    socket.once("error", reject);
    socket.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)));
  });
}

function nextFrame(socket: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    socket.once("message", (data: WebSocket.RawData, isBinary: boolean) => {
      const buffer = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      resolve({ data: buffer, isBinary });
    });
    socket.once("error", reject);
  });
}

async function nextMessage(socket: WebSocket): Promise<string> {
  return (await nextFrame(socket)).data.toString("utf8");
}

function closed(socket: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) resolve();
    else socket.once("close", () => resolve());
  });
}

describe("WebSocket upgrades", () => {
  let backend: Backend;
  let wss: WebSocketServer;
  let gw: TestGateway;
  const upgrades: http.IncomingMessage[] = [];

  before(async () => {
    backend = await startBackend();
    wss = new WebSocketServer({
      server: backend.server,
      verifyClient: (info, callback) => (info.req.url === "/forbidden" ? callback(false, 403, "Forbidden") : callback(true)),
    });
    wss.on("connection", (socket, req) => {
      upgrades.push(req);
      socket.on("message", (data: WebSocket.RawData, isBinary: boolean) => socket.send(isBinary ? data : `echo:${String(data)}`, { binary: isBinary }));
    });
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const deadPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    gw = await startGateway({
      services: { app: { targets: [{ url: backend.url }] }, dead: { targets: [{ url: `http://127.0.0.1:${deadPort}` }] } },
      routes: [
        { name: "ws", match: { pathPrefix: "/ws" }, service: "app", stripPrefix: "/ws" },
        { name: "dead", match: { pathPrefix: "/dead" }, service: "dead" },
        { name: "other", match: { host: "only.example.com", pathPrefix: "/" }, service: "app" },
      ],
    });
  });

  after(async () => {
    for (const client of wss?.clients ?? []) client.terminate();
    await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
    await gw?.close();
    await backend?.close();
  });

  test("a message sent over wss:// through the gateway is echoed back", async () => {
    const socket = await open(`wss://127.0.0.1:${gw.httpsPort}/ws/chat?room=1`, { "x-request-id": "ws-trace-1" });
    try {
      const reply = nextMessage(socket);
      socket.send("hello through rampart");
      assert.equal(await reply, "echo:hello through rampart");

      const binary = nextFrame(socket);
      socket.send(Buffer.from([1, 2, 3, 250, 0]), { binary: true });
      const frame = await binary;
      assert.equal(frame.isBinary, true);
      assert.deepEqual([...frame.data], [1, 2, 3, 250, 0]);

      // Several messages on the same upgraded connection.
      for (let i = 0; i < 5; i++) {
        const next = nextMessage(socket);
        socket.send(`m${i}`);
        assert.equal(await next, `echo:m${i}`);
      }
    } finally {
      socket.close();
      await closed(socket);
    }
    const upgrade = upgrades.at(-1)!;
    assert.equal(upgrade.url, "/chat?room=1", "stripPrefix and the query apply to upgrades too");
    assert.equal(upgrade.headers["x-forwarded-for"], "127.0.0.1");
    assert.equal(upgrade.headers["x-forwarded-proto"], "https");
    assert.equal(upgrade.headers["x-request-id"], "ws-trace-1");
    assert.equal(upgrade.headers.upgrade?.toLowerCase(), "websocket");
  });

  test("the gateway closing side: a backend that closes the socket closes the client", async () => {
    const socket = await open(`wss://127.0.0.1:${gw.httpsPort}/ws/close`);
    const done = closed(socket);
    for (const client of wss.clients) client.close(4000, "bye");
    await done;
    assert.equal(socket.readyState, WebSocket.CLOSED);
  });

  test("an upgrade with no route is refused with 404 and no upgrade reaches the backend", async () => {
    const before = upgrades.length;
    const res = await rawTls(
      gw.httpsPort,
      "GET /nowhere HTTP/1.1\r\nHost: only.example.com.invalid\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    assert.equal(res.status, 404, res.text);
    assert.match(res.text, /"error":"no_route"/);
    assert.equal(upgrades.length, before);
  });

  test("a backend that refuses the upgrade: its answer reaches the client", async () => {
    await assert.rejects(open(`wss://127.0.0.1:${gw.httpsPort}/ws/forbidden`), /upgrade refused with 403/);
  });

  test("an upgrade to a target nobody listens on → 502", async () => {
    const res = await rawTls(
      gw.httpsPort,
      "GET /dead HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    assert.equal(res.status, 502, res.text);
    assert.match(res.text, /"error":"bad_gateway"/);
    assert.match(res.text, /x-request-id: \S+/i);
    // And the gateway still upgrades the next one.
    const socket = await open(`wss://127.0.0.1:${gw.httpsPort}/ws/after-failure`);
    const reply = nextMessage(socket);
    socket.send("still here");
    assert.equal(await reply, "echo:still here");
    socket.close();
    await closed(socket);
  });
});

// A real browser through Rampart: headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) loads a page over HTTPS. The page, its fetch('/api') and the answer all travel over
// HTTP/2 (ALPN h2); its WebSocket opens over HTTP/1.1, since Rampart's SETTINGS do not offer RFC 8441
// extended CONNECT, and echoes a message through the gateway. Skipped when Chromium is not installed
// (.ci/run installs the Debian package).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import type http from "node:http";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { chromium } from "playwright-core";
import WebSocket, { WebSocketServer } from "ws";
import { perTest } from "../../helpers/fixtures.js";
import { simpleConfig } from "../../helpers/gateway.js";

const CHROMIUM = "/usr/bin/chromium";
/** Generous: a 2-core machine running other suites in parallel starts Chromium slowly. */
const BROWSER_MS = 90_000;

interface AccessLine {
  readonly path: string;
  readonly status: number;
  readonly protocol?: string;
}

/** What the page's script reports on window.__outcome once it is done (or failed). */
interface Outcome {
  readonly api?: unknown;
  readonly echo?: string;
  readonly error?: string;
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>rampart over h2</title><link rel="icon" href="data:,"></head>
<body><p>rampart over h2</p><script>
(async () => {
  try {
    const response = await fetch("/api", { cache: "no-store" });
    const api = await response.json();
    const echo = await new Promise((resolve, reject) => {
      const socket = new WebSocket("wss://" + location.host + "/ws");
      let message;
      socket.onopen = () => socket.send("hello through rampart");
      socket.onmessage = (event) => { message = String(event.data); socket.close(1000, "done"); };
      socket.onclose = (event) => message === undefined ? reject(new Error("websocket closed with " + event.code)) : resolve(message);
      socket.onerror = () => reject(new Error("websocket error"));
    });
    window.__outcome = { api, echo };
  } catch (error) {
    window.__outcome = { error: String(error && error.stack || error) };
  }
})();
</script></body></html>`;

const API_BODY = { from: "backend", answer: 42 };

const fixtures = perTest({ onCleanupError: "log" });

test("Chromium loads a page, fetches and opens a WebSocket through Rampart: h2 for HTTP, http/1.1 for the WebSocket", { timeout: 240_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed (Debian package chromium)`);
    return;
  }
  const backend = await fixtures.backend((req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url === "/") res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(PAGE);
    else if (req.url === "/api") res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(API_BODY));
    else res.writeHead(404, { "content-type": "text/plain" }).end("not found");
  });
  const wss = new WebSocketServer({ server: backend.server, path: "/ws" });
  const upgrades: http.IncomingMessage[] = [];
  wss.on("connection", (socket, req) => {
    upgrades.push(req);
    socket.on("message", (data: WebSocket.RawData) => socket.send(`echo:${String(data)}`));
  });
  // Registered before the backend's close in perTest order (latest first): the WebSockets go first.
  fixtures.defer(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  );

  const lines: AccessLine[] = [];
  const gw = await fixtures.gateway(simpleConfig(backend.url), {
    accessLog: {
      write(chunk: string) {
        for (const line of chunk.split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line) as AccessLine);
      },
    },
  });

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--ignore-certificate-errors"], timeout: BROWSER_MS });
  fixtures.defer(() => browser.close());
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  page.setDefaultTimeout(BROWSER_MS);
  const consoleErrors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });

  const response = await page.goto(`https://localhost:${gw.httpsPort}/`, { waitUntil: "load", timeout: BROWSER_MS });
  assert.equal(response?.status(), 200);
  await page.waitForFunction(() => (window as unknown as { __outcome?: Outcome }).__outcome !== undefined, null, { timeout: BROWSER_MS });
  const outcome = await page.evaluate(() => (window as unknown as { __outcome: Outcome }).__outcome);
  assert.equal(outcome.error, undefined, `the page failed: ${outcome.error}\nconsole errors: ${consoleErrors.join("\n")}`);
  assert.deepEqual(outcome.api, API_BODY);
  assert.equal(outcome.echo, "echo:hello through rampart");

  const protocols = await page.evaluate(() => {
    const navigation = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined;
    const api = (performance.getEntriesByType("resource") as PerformanceResourceTiming[]).find((entry) => new URL(entry.name).pathname === "/api");
    return { navigation: navigation?.nextHopProtocol, api: api?.nextHopProtocol };
  });
  assert.deepEqual(protocols, { navigation: "h2", api: "h2" });

  // The backend saw the WebSocket handshake as an HTTP/1.1 upgrade.
  assert.equal(upgrades.length, 1);
  assert.equal(upgrades[0]!.headers.upgrade?.toLowerCase(), "websocket");

  // The access log: the page and the fetch over h2, the WebSocket as a 101 over HTTP/1.1 (its line
  // may only be written once the tunnel closes, which the page's close() starts).
  const deadline = Date.now() + 20_000;
  while (!lines.some((line) => line.path === "/ws") && Date.now() < deadline) await sleep(50);
  const lineFor = (path: string) => lines.find((line) => line.path === path);
  const seen = JSON.stringify(lines);
  assert.deepEqual({ status: lineFor("/")?.status, protocol: lineFor("/")?.protocol }, { status: 200, protocol: "h2" }, seen);
  assert.deepEqual({ status: lineFor("/api")?.status, protocol: lineFor("/api")?.protocol }, { status: 200, protocol: "h2" }, seen);
  assert.deepEqual({ status: lineFor("/ws")?.status, protocol: lineFor("/ws")?.protocol }, { status: 101, protocol: "http/1.1" }, seen);
});

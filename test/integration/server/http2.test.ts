// HTTP/2 towards clients, with Node's http2 client for well-formed exchanges and raw frames for what a
// client library refuses to send: every stage runs per stream, the downgrade to an HTTP/1.1 upstream
// carries nothing HTTP/1.1 would read differently, and the abuse limits end abusive connections with
// GOAWAY and a ban (rapid reset, floods, invalid frames), while no client can crash the process.
import assert from "node:assert/strict";
import http2 from "node:http2";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { addBan, listBans } from "../../helpers/admin-api.js";
import { perTest } from "../../helpers/fixtures.js";
import { simpleConfig, type ConfigObject } from "../../helpers/gateway.js";
import { closedWithGoaway, FLAG, frame, FRAME, h2Connect, h2Request, headerBlock, rawH2 } from "../../helpers/http2.js";
import { eventually, fetchMetrics, metricSample, waitFor } from "../../helpers/proxy-tools.js";

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_PROTOCOL_ERROR } = http2.constants;

const { backend, gateway, defer } = perTest();

/** h2c on the HTTP listener (for raw frames) as well as h2 by ALPN on the HTTPS one. */
function h2Config(backendUrl: string, extra: { route?: ConfigObject; top?: ConfigObject; service?: ConfigObject } = {}): ConfigObject {
  const top = extra.top ?? {};
  return simpleConfig(backendUrl, {
    ...extra,
    top: { ...top, tls: { redirectHttp: false }, http2: { cleartext: true, ...(top.http2 as ConfigObject | undefined) } },
  });
}

const abuseJail = { jails: { "h2-abuse": { when: { h2Abuse: true }, maxRetry: 1, banTime: "1h" } } };

describe("HTTP/2 requests run the whole request path", () => {
  test("over TLS: request id, forwarded headers, :authority as Host, the route's rate limit and an access-log line with the protocol", async () => {
    const upstream = await backend();
    const lines: string[] = [];
    const gw = await gateway(h2Config(upstream.url, { route: { rateLimit: "two" }, top: { rateLimits: { two: { limit: 2, window: "1m" } } } }), { accessLog: { write: (line) => lines.push(line) } });
    const session = await h2Connect(gw.httpsPort);
    defer(() => session.close());

    const first = await h2Request(session, { ":path": "/hello?x=1", ":authority": "app.example", "x-request-id": "trace-1" });
    assert.equal(first.status, 200);
    assert.equal(first.headers["x-request-id"], "trace-1");
    assert.equal(first.headers.connection, undefined);
    const seen = JSON.parse(first.body) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, "/hello?x=1");
    assert.equal(seen.headers.host, "app.example", ":authority goes upstream as Host");
    assert.equal(seen.headers["x-forwarded-proto"], "https");
    assert.equal(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert.equal(seen.headers["x-request-id"], "trace-1");

    assert.equal((await h2Request(session, {})).status, 200);
    const limited = await h2Request(session, {});
    assert.equal(limited.status, 429, "the third request in the window is over the route's limit");
    assert.match(limited.body, /"error":"rate_limited"/);

    await waitFor(() => (lines.length >= 3 ? lines : undefined), 2_000, "three access-log lines");
    const logged = JSON.parse(lines[0]!) as { protocol: string; status: number; path: string };
    assert.deepEqual([logged.protocol, logged.status, logged.path], ["h2", 200, "/hello"]);
    const metrics = await fetchMetrics(gw.adminPort);
    assert.equal(metricSample(metrics, "rampart_connections_total", { listener: "https", protocol: "h2" }), 1);
  });

  test("h2c with prior knowledge and HTTP/1.1 share the HTTP listener", async () => {
    const upstream = await backend();
    const gw = await gateway(h2Config(upstream.url));
    const session = await h2Connect(gw.httpPort, { tls: false });
    defer(() => session.close());
    const viaH2c = await h2Request(session, { ":path": "/c" });
    assert.equal(viaH2c.status, 200);
    assert.equal((JSON.parse(viaH2c.body) as { headers: Record<string, string> }).headers["x-forwarded-proto"], "http");
    const viaHttp1 = await fetch(`http://127.0.0.1:${gw.httpPort}/d`);
    assert.equal(viaHttp1.status, 200);
    const metrics = await fetchMetrics(gw.adminPort);
    assert.equal(metricSample(metrics, "rampart_connections_total", { listener: "http", protocol: "h2c" }), 1);
    assert.equal(metricSample(metrics, "rampart_connections_total", { listener: "http", protocol: "http/1.1" }), 1);
  });

  test("an HTTP/1.1 backend's connection-specific response headers never reach the HTTP/2 client", async () => {
    const upstream = await backend((_req, res) => {
      // Chunked (no length), a Connection list naming a header, Keep-Alive and Upgrade: all forbidden in HTTP/2.
      res.writeHead(200, { connection: "keep-alive, x-hop", "keep-alive": "timeout=5", upgrade: "foo", "x-hop": "1", "x-kept": "yes" });
      res.write("chunk one ");
      res.end("chunk two");
    });
    const gw = await gateway(h2Config(upstream.url));
    const session = await h2Connect(gw.httpsPort);
    defer(() => session.close());
    for (let i = 0; i < 3; i++) {
      const response = await h2Request(session, {});
      assert.equal(response.status, 200);
      assert.equal(response.body, "chunk one chunk two");
      assert.equal(response.headers["x-kept"], "yes");
      for (const name of ["connection", "keep-alive", "upgrade", "transfer-encoding", "x-hop"]) assert.equal(response.headers[name], undefined, name);
    }
  });
});

describe("the downgrade to HTTP/1.1 upstreams carries nothing HTTP/1.1 would read differently", () => {
  test("a host field that disagrees with :authority is refused (400); one that agrees is served", async () => {
    const upstream = await backend();
    const gw = await gateway(h2Config(upstream.url));
    const session = await h2Connect(gw.httpsPort);
    defer(() => session.close());
    const disagreeing = await h2Request(session, { ":authority": "a.example", host: "b.example" });
    assert.equal(disagreeing.status, 400);
    assert.match(disagreeing.body, /"error":"bad_request"/);
    assert.equal((await h2Request(session, { ":authority": "a.example", host: "a.example" })).status, 200);
    assert.equal(upstream.requests.length, 1, "the refused request never went upstream");
  });

  test("a header value HTTP/1.1 cannot carry is never forwarded (nghttp2 drops the field)", async () => {
    const upstream = await backend();
    const gw = await gateway(h2Config(upstream.url));
    // Raw frames: Node's own client refuses to send such a value. Stream 1 carries a DEL (0x7f) in a
    // value, stream 3 is the same request without it.
    const request = (streamId: number, value: string) =>
      frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, streamId, headerBlock([[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "localhost"], ["x-odd", value]]));
    const outcome = await rawH2(gw.httpPort, Buffer.concat([request(1, "a\x7fb"), request(3, "ab")]), { ms: 1_500 });
    assert.ok(outcome.headersOn.includes(3), "stream 3 was answered");
    assert.deepEqual(
      upstream.requests.map((request) => request.headers["x-odd"]),
      upstream.requests.length === 2 ? [undefined, "ab"] : ["ab"],
      "the odd value never went upstream",
    );
  });

  test("a body longer than its content-length is refused and never reaches the backend", async () => {
    const upstream = await backend();
    const gw = await gateway(h2Config(upstream.url));
    const headers = headerBlock([[":method", "POST"], [":scheme", "http"], [":path", "/upload"], [":authority", "localhost"], ["content-length", "5"]]);
    const outcome = await rawH2(gw.httpPort, Buffer.concat([frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, headers), frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from("0123456789"))]), { ms: 1_500 });
    // RFC 9113 §8.1.1: malformed. Node 20's nghttp2 resets the stream; Node 24's ends the connection.
    const refused = outcome.resets.get(1) === NGHTTP2_PROTOCOL_ERROR || (outcome.goaways.length > 0 && outcome.closed);
    assert.ok(refused, `resets ${[...outcome.resets].join(";")}, GOAWAY ${outcome.goaways.join(",")}`);
    assert.equal(upstream.requests.length, 0);
  });

  test("a stream reset mid-upload aborts the upstream request", async () => {
    let upstreamAborted: () => void = () => {};
    const aborted = new Promise<void>((resolve) => (upstreamAborted = resolve));
    let received = 0;
    const upstream = await backend((req) => {
      req.on("data", (chunk: Buffer) => (received += chunk.length));
      req.on("close", () => {
        if (!req.complete) upstreamAborted();
      });
    });
    // Streamed at once (no request buffering), so the upload is in flight upstream when the client resets.
    const gw = await gateway(h2Config(upstream.url, { top: { limits: { requestBuffer: "0" } } }));
    const session = await h2Connect(gw.httpsPort);
    defer(() => session.close());
    const stream = session.request({ ":method": "POST", ":path": "/upload", "content-length": String(1024 * 1024) }, { endStream: false });
    stream.on("error", () => {});
    stream.write(Buffer.alloc(64 * 1024));
    await waitFor(() => (received > 0 ? received : undefined), 5_000, "the upload to reach the backend");
    stream.close(NGHTTP2_CANCEL);
    await Promise.race([aborted, sleep(5_000).then(() => assert.fail("the upstream request was not aborted"))]);
  });
});

describe("slow readers", () => {
  test("a stream whose client stops reading is reset after sendTimeout, with its upstream request; the connection's other streams go on", async () => {
    let upstreamClosedEarly: () => void = () => {};
    const closedEarly = new Promise<void>((resolve) => (upstreamClosedEarly = resolve));
    const upstream = await backend((req, res) => {
      if (req.url !== "/big") return res.end("small");
      res.on("close", () => {
        if (!res.writableFinished) upstreamClosedEarly();
      });
      const chunk = Buffer.alloc(64 * 1024, 97);
      let sent = 0;
      const pump = () => {
        while (sent < 256 && res.write(chunk)) sent++;
        if (sent < 256) res.once("drain", pump);
        else res.end();
      };
      pump();
    });
    const gw = await gateway(h2Config(upstream.url, { top: { limits: { sendTimeout: "1s" } } }));
    const session = await h2Connect(gw.httpsPort);
    defer(() => session.close());
    const stalled = session.request({ ":path": "/big" });
    stalled.on("error", () => {});
    stalled.pause();
    const reset = new Promise<number>((resolve) => stalled.on("close", () => resolve(stalled.rstCode ?? 0)));
    await Promise.race([closedEarly, sleep(8_000).then(() => assert.fail("the upstream response was not aborted"))]);
    assert.notEqual(await reset, 0, "the stalled stream was reset");
    assert.equal((await h2Request(session, { ":path": "/small" })).body, "small", "the connection still serves");
  });
});

describe("abuse limits: GOAWAY, and a ban for jails that count h2Abuse", () => {
  test("rapid reset: streams reset beyond resetBurst end the connection with ENHANCE_YOUR_CALM, and the client is banned", async () => {
    const upstream = await backend((_req, res) => setTimeout(() => res.end("late"), 200));
    const gw = await gateway(h2Config(upstream.url, { top: { ...abuseJail, http2: { resetBurst: 20, resetRate: 1 } } }));
    const session = await h2Connect(gw.httpsPort, { localAddress: "127.0.0.71" });
    const ended = closedWithGoaway(session);
    for (let i = 0; i < 200 && !session.closed && !session.destroyed; i++) {
      const stream = session.request({ ":path": `/r${i}` });
      stream.on("error", () => {});
      stream.close(NGHTTP2_CANCEL);
      if (i % 20 === 19) await sleep(5);
    }
    const outcome = await ended;
    assert.equal(outcome.closed, true);
    assert.equal(outcome.goawayCode, NGHTTP2_ENHANCE_YOUR_CALM);
    await eventually(async () => (await listBans(gw.adminPort)).find((ban) => ban.ip === "127.0.0.71"), 3_000, "a ban of 127.0.0.71");
    const metrics = await fetchMetrics(gw.adminPort);
    assert.equal(metricSample(metrics, "rampart_http2_goaway_total", { reason: "rapid_reset" }), 1);
    // Banned: the next connection from that address is closed at accept.
    await assert.rejects(h2Connect(gw.httpsPort, { localAddress: "127.0.0.71" }));
    // Others are served.
    const other = await h2Connect(gw.httpsPort, { localAddress: "127.0.0.72" });
    defer(() => other.close());
    assert.equal((await h2Request(other, {})).status, 200);
  });

  test("a PING flood from a client that never reads ends its connection, and the gateway keeps serving", async () => {
    const upstream = await backend();
    const gw = await gateway(h2Config(upstream.url, { top: abuseJail }));
    let sent = 0;
    const ping = frame(FRAME.PING, 0, 0, Buffer.alloc(8));
    const batch = Buffer.concat(Array.from({ length: 1_000 }, () => ping));
    const outcome = await rawH2(gw.httpPort, () => (sent++ < 500 ? batch : undefined), { read: false, ms: 6_000, localAddress: "127.0.0.73" });
    assert.equal(outcome.closed, true, "the flooding connection was closed");
    const metrics = await fetchMetrics(gw.adminPort);
    assert.equal(metricSample(metrics, "rampart_http2_goaway_total", { reason: "flood" }), 1);
    await eventually(async () => (await listBans(gw.adminPort)).find((ban) => ban.ip === "127.0.0.73"), 3_000, "a ban of 127.0.0.73");
    assert.equal((await fetch(`http://127.0.0.1:${gw.httpPort}/`)).status, 200);
  });

  test("an invalid frame (DATA on stream 0) gets GOAWAY PROTOCOL_ERROR; the gateway keeps serving", async () => {
    const upstream = await backend();
    const gw = await gateway(h2Config(upstream.url));
    const outcome = await rawH2(gw.httpPort, frame(FRAME.DATA, 0, 0, Buffer.from("x")), { ms: 1_000 });
    assert.deepEqual(outcome.goaways, [NGHTTP2_PROTOCOL_ERROR]);
    assert.equal((await fetch(`http://127.0.0.1:${gw.httpPort}/`)).status, 200);
  });

  test("a flood of malformed requests ends the connection and counts as abuse", async () => {
    const upstream = await backend();
    const gw = await gateway(h2Config(upstream.url, { top: abuseJail }));
    // Upper-case header names are malformed in HTTP/2 (RFC 9113 §8.2.1): each stream is reset, and past
    // the connection's budget of invalid frames the connection goes.
    const malformed = (streamId: number) =>
      frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, streamId, headerBlock([[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "localhost"], ["X-Upper", "1"]]));
    let streamId = -1;
    const outcome = await rawH2(gw.httpPort, () => ((streamId += 2) < 600 ? malformed(streamId) : undefined), { ms: 3_000, localAddress: "127.0.0.74" });
    assert.equal(outcome.closed, true, `closed after ${outcome.resets.size} resets; GOAWAY codes ${outcome.goaways.join(",")}`);
    assert.equal(upstream.requests.length, 0);
    const metrics = await fetchMetrics(gw.adminPort);
    assert.equal(metricSample(metrics, "rampart_http2_goaway_total", { reason: "protocol_error" }), 1);
    await eventually(async () => (await listBans(gw.adminPort)).find((ban) => ban.ip === "127.0.0.74"), 3_000, "a ban of 127.0.0.74");
  });

  test("a CONTINUATION flood (a header block that never ends) is cut off", async () => {
    const upstream = await backend();
    const gw = await gateway(h2Config(upstream.url));
    const start = frame(FRAME.HEADERS, 0, 1, headerBlock([[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "localhost"]]));
    const filler = frame(FRAME.CONTINUATION, 0, 1, headerBlock([["x-filler", "y".repeat(100)]]));
    let sent = 0;
    const outcome = await rawH2(gw.httpPort, () => (sent++ === 0 ? start : sent < 20_000 ? filler : undefined), { ms: 4_000 });
    assert.equal(outcome.closed, true, "the connection was closed before the flood ended");
    assert.equal(upstream.requests.length, 0);
    assert.equal((await fetch(`http://127.0.0.1:${gw.httpPort}/`)).status, 200);
  });

  test("maxRequestsPerConnection: the requests up to the cap are answered, then GOAWAY and close", async () => {
    const upstream = await backend();
    const gw = await gateway(h2Config(upstream.url, { top: { http2: { maxRequestsPerConnection: 3 } } }));
    const session = await h2Connect(gw.httpsPort);
    const ended = closedWithGoaway(session);
    for (let i = 0; i < 3; i++) assert.equal((await h2Request(session, {})).status, 200);
    const outcome = await ended;
    assert.deepEqual(outcome, { closed: true, goawayCode: 0 });
    const metrics = await fetchMetrics(gw.adminPort);
    assert.equal(metricSample(metrics, "rampart_http2_goaway_total", { reason: "max_requests" }), 1);
  });

  test("a ban decided while an HTTP/2 connection is open ends that connection (403, GOAWAY, close)", async () => {
    const upstream = await backend();
    const gw = await gateway(h2Config(upstream.url));
    const session = await h2Connect(gw.httpsPort, { localAddress: "127.0.0.75" });
    const ended = closedWithGoaway(session);
    assert.equal((await h2Request(session, {})).status, 200);
    await addBan(gw.adminPort, "127.0.0.75", "1h", "test");
    const refused = await h2Request(session, {});
    assert.equal(refused.status, 403);
    assert.match(refused.body, /"error":"banned"/);
    assert.deepEqual(await ended, { closed: true, goawayCode: 0 });
  });
});

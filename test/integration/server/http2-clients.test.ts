// HTTP/2 towards clients as real third-party clients see it: curl (ALPN h2 over HTTPS, HTTP/1.1 when it
// asks for it, h2c with prior knowledge and plain HTTP/1.1 on the same cleartext port), nghttp (the
// server's SETTINGS carry http2.maxConcurrentStreams), and h2load (200 multiplexed requests over 4
// connections all succeed). The access log and /metrics name the protocol each connection used.
// Needs curl, nghttp and h2load (Debian: curl, nghttp2-client); .ci/run installs them.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "../../helpers/client.js";
import { perTest } from "../../helpers/fixtures.js";
import { simpleConfig, type ConfigObject } from "../../helpers/gateway.js";
import { describeRun, killTools, runTool } from "../../helpers/tool-process.js";

const CURL = "curl";
const NGHTTP = "nghttp";
const H2LOAD = "h2load";

interface AccessLine {
  readonly path: string;
  readonly status: number;
  readonly protocol?: string;
  readonly [key: string]: unknown;
}

/** An access-log sink that keeps every line, parsed. */
function accessLines(): { readonly lines: AccessLine[]; write(chunk: string): void } {
  const lines: AccessLine[] = [];
  return {
    lines,
    write(chunk: string) {
      for (const line of chunk.split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line) as AccessLine);
    },
  };
}

/** The access-log lines for `path`, once there are at least `count` of them (a line may follow the response). */
async function linesFor(lines: readonly AccessLine[], path: string, count = 1, ms = 10_000): Promise<AccessLine[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = lines.filter((line) => line.path === path);
    if (found.length >= count || Date.now() > deadline) return found;
    await sleep(25);
  }
}

/** `curl -s ... -o - -w '\n%{http_version}'`: the body and the HTTP version curl used ("2", "1.1"). */
async function curl(args: readonly string[]): Promise<{ body: string; version: string }> {
  const result = await runTool(CURL, ["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_version}", ...args], 30_000);
  assert.equal(result.exitCode, 0, describeRun("curl", result));
  const newline = result.stdout.lastIndexOf("\n");
  return { body: result.stdout.slice(0, newline), version: result.stdout.slice(newline + 1) };
}

/** The value of the counter `name{labels}` in a Prometheus text exposition, labels in any order; undefined when absent. */
function counterValue(metrics: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of metrics.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\} (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const have = Object.fromEntries([...match[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((pair) => [pair[1], pair[2]]));
    if (Object.entries(labels).every(([key, value]) => have[key] === value)) return Number(match[3]);
  }
  return undefined;
}

const cleartext: ConfigObject = { http2: { cleartext: true }, tls: { redirectHttp: false } };

describe("HTTP/2 with third-party clients", { timeout: 180_000 }, () => {
  const fixtures = perTest();
  after(() => killTools());

  test("curl: h2 over HTTPS by ALPN, HTTP/1.1 when asked; the access log and /metrics name the protocol", async () => {
    const backend = await fixtures.backend();
    const log = accessLines();
    const gw = await fixtures.gateway(simpleConfig(backend.url), { accessLog: log });
    const base = `https://127.0.0.1:${gw.httpsPort}`;

    const h2 = await curl(["--http2", "-k", `${base}/over-h2`]);
    assert.equal(h2.version, "2");
    assert.deepEqual(JSON.parse(h2.body).url, "/over-h2");
    assert.equal(JSON.parse(h2.body).method, "GET");

    const h1 = await curl(["--http1.1", "-k", `${base}/over-h1`]);
    assert.equal(h1.version, "1.1");
    assert.equal(JSON.parse(h1.body).url, "/over-h1");

    const [h2Line] = await linesFor(log.lines, "/over-h2");
    assert.ok(h2Line, `no access-log line for /over-h2 in ${JSON.stringify(log.lines)}`);
    assert.equal(h2Line.status, 200);
    assert.equal(h2Line.protocol, "h2");
    const [h1Line] = await linesFor(log.lines, "/over-h1");
    assert.ok(h1Line, `no access-log line for /over-h1 in ${JSON.stringify(log.lines)}`);
    assert.equal(h1Line.status, 200);
    assert.equal(h1Line.protocol, "http/1.1");

    const metrics = (await request({ port: gw.adminPort, path: "/metrics" })).body;
    const h2Connections = counterValue(metrics, "rampart_connections_total", { listener: "https", protocol: "h2" });
    const h1Connections = counterValue(metrics, "rampart_connections_total", { listener: "https", protocol: "http/1.1" });
    assert.ok(h2Connections !== undefined && h2Connections >= 1, `rampart_connections_total{listener="https",protocol="h2"} is ${h2Connections}`);
    assert.ok(h1Connections !== undefined && h1Connections >= 1, `rampart_connections_total{listener="https",protocol="http/1.1"} is ${h1Connections}`);
  });

  test("curl: with http2.cleartext, h2c with prior knowledge and plain HTTP/1.1 on the same HTTP port", async () => {
    const backend = await fixtures.backend();
    const log = accessLines();
    const gw = await fixtures.gateway(simpleConfig(backend.url, { top: cleartext }), { accessLog: log });
    const base = `http://127.0.0.1:${gw.httpPort}`;

    const h2c = await curl(["--http2-prior-knowledge", `${base}/over-h2c`]);
    assert.equal(h2c.version, "2");
    assert.equal(JSON.parse(h2c.body).url, "/over-h2c");

    const h1 = await curl([`${base}/plain`]);
    assert.equal(h1.version, "1.1");
    assert.equal(JSON.parse(h1.body).url, "/plain");

    const [h2cLine] = await linesFor(log.lines, "/over-h2c");
    assert.ok(h2cLine, `no access-log line for /over-h2c in ${JSON.stringify(log.lines)}`);
    assert.equal(h2cLine.status, 200);
    assert.equal(h2cLine.protocol, "h2c");
    const [h1Line] = await linesFor(log.lines, "/plain");
    assert.ok(h1Line, `no access-log line for /plain in ${JSON.stringify(log.lines)}`);
    assert.equal(h1Line.status, 200);
    assert.equal(h1Line.protocol, "http/1.1");

    const metrics = (await request({ port: gw.adminPort, path: "/metrics" })).body;
    const h2cConnections = counterValue(metrics, "rampart_connections_total", { listener: "http", protocol: "h2c" });
    const h1Connections = counterValue(metrics, "rampart_connections_total", { listener: "http", protocol: "http/1.1" });
    assert.ok(h2cConnections !== undefined && h2cConnections >= 1, `rampart_connections_total{listener="http",protocol="h2c"} is ${h2cConnections}`);
    assert.ok(h1Connections !== undefined && h1Connections >= 1, `rampart_connections_total{listener="http",protocol="http/1.1"} is ${h1Connections}`);
  });

  test("nghttp: the server's SETTINGS carry http2.maxConcurrentStreams, and the request is answered 200", async () => {
    const backend = await fixtures.backend();
    const log = accessLines();
    const gw = await fixtures.gateway(simpleConfig(backend.url, { top: { http2: { maxConcurrentStreams: 7 } } }), { accessLog: log });

    const result = await runTool(NGHTTP, ["-nv", "--timeout=20", `https://127.0.0.1:${gw.httpsPort}/nghttp`], 30_000);
    assert.equal(result.exitCode, 0, describeRun("nghttp", result));
    const out = result.stdout;
    // The first SETTINGS frame nghttp receives is the server's own (not the ACK of the client's).
    const settings = /recv SETTINGS frame <length=\d+, flags=0x00, stream_id=0>\n\s+\(niv=\d+\)\n((?:\s+\[SETTINGS_\w+\(0x[0-9a-f]+\):\d+\]\n)*)/.exec(out);
    assert.ok(settings, `no SETTINGS from the server in\n${out}`);
    assert.match(settings[1]!, /\[SETTINGS_MAX_CONCURRENT_STREAMS\(0x03\):7\]/, `server SETTINGS:\n${settings[1]}`);
    assert.match(out, /recv \(stream_id=\d+\) :status: 200/, describeRun("nghttp", result));

    const [line] = await linesFor(log.lines, "/nghttp");
    assert.ok(line, `no access-log line for /nghttp in ${JSON.stringify(log.lines)}`);
    assert.equal(line.status, 200);
    assert.equal(line.protocol, "h2");
  });

  test("h2load: 200 requests, 10 streams at a time on each of 4 connections, all succeed", async () => {
    const backend = await fixtures.backend();
    const log = accessLines();
    const gw = await fixtures.gateway(simpleConfig(backend.url), { accessLog: log });

    // -T/-N: connection-active and idle timeouts, so a stalled run ends by itself before the kill.
    const result = await runTool(H2LOAD, ["-n", "200", "-c", "4", "-m", "10", "-T", "60", "-N", "60", `https://127.0.0.1:${gw.httpsPort}/load`], 90_000);
    assert.equal(result.exitCode, 0, describeRun("h2load", result));
    const summary = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(result.stdout);
    assert.ok(summary, describeRun("h2load", result));
    const [, total, started, done, succeeded, failed, errored] = summary.map(Number);
    assert.deepEqual({ total, started, done, succeeded, failed, errored }, { total: 200, started: 200, done: 200, succeeded: 200, failed: 0, errored: 0 }, result.stdout);
    assert.match(result.stdout, /Application protocol: h2/, result.stdout);
    assert.match(result.stdout, /status codes: 200 2xx/, result.stdout);

    const lines = await linesFor(log.lines, "/load", 200);
    assert.equal(lines.length, 200);
    assert.ok(
      lines.every((line) => line.protocol === "h2" && line.status === 200),
      `not all h2 200: ${JSON.stringify(lines.filter((line) => line.protocol !== "h2" || line.status !== 200).slice(0, 5))}`,
    );
  });
});

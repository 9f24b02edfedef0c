// On-demand TLS against a real pebble: names nobody configured get a certificate during their first
// handshake once an ask endpoint (a node:http server here) allows them. The gateway's HTTP listener
// sits on pebble's HTTP-01 port; pebble's challenge DNS resolves every name to 127.0.0.1. Handshakes are
// real TLS 1.3, verified against pebble's issuing root.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { freePort, startBackend, type Backend } from "../../helpers/backend.js";
import { simpleConfig, startGateway, type ConfigObject, type TestGateway } from "../../helpers/gateway.js";
import { startPebble, type Pebble } from "../../helpers/pebble.js";
import { eventually, fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";

interface Handshake {
  /** The chain verified against `ca` and the certificate names `servername`. */
  readonly authorized: boolean;
  readonly protocol: string | null;
  readonly fingerprint256: string;
  readonly subjectaltname: string;
}

/** A real TLS 1.3 handshake naming `servername`, checked against `ca` (not refused when it does not verify). */
function handshake(port: number, servername: string, ca: string): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername, ca, rejectUnauthorized: false, minVersion: "TLSv1.3", maxVersion: "TLSv1.3" }, () => {
      const peer = socket.getPeerCertificate();
      resolve({ authorized: socket.authorized, protocol: socket.getProtocol(), fingerprint256: peer.fingerprint256, subjectaltname: peer.subjectaltname ?? "" });
      socket.end();
    });
    socket.setTimeout(15_000, () => socket.destroy(new Error(`no handshake for ${servername} within 15 s`)));
    socket.once("error", reject);
  });
}

/** The ask endpoint: allows names starting with "ok", makes names starting with "slowask" wait 2 s, denies the rest. */
interface AskServer {
  readonly url: string;
  /** Every domain asked about, in order. */
  readonly hits: string[];
  close(): Promise<void>;
}

async function startAskServer(): Promise<AskServer> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    const domain = new URL(req.url ?? "/", "http://ask").searchParams.get("domain") ?? "";
    hits.push(domain);
    const answer = () => res.writeHead(domain.startsWith("ok") || domain.startsWith("slowask") ? 200 : 403).end();
    if (domain.startsWith("slowask")) setTimeout(answer, 2_000).unref();
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/allowed`,
    hits,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("on-demand TLS against pebble", { timeout: 180_000 }, () => {
  let pebble: Pebble | undefined;
  let backend: Backend | undefined;
  let ask: AskServer | undefined;
  let gateway: TestGateway | undefined;
  let certDir = "";
  let root = "";
  let fallback = "";
  /** What "ok-first.test" was served after its order. */
  let firstFingerprint = "";

  function config(onDemand: ConfigObject): ConfigObject {
    return simpleConfig(backend!.url, {
      top: {
        listen: { http: `127.0.0.1:${pebble!.httpPort}` },
        tls: {
          certDir,
          acme: { enabled: true, directoryUrl: pebble!.directoryUrl, caFile: pebble!.caFile },
          onDemand: { enabled: true, ask: ask!.url, suffixes: [".test"], ...onDemand },
        },
      },
    });
  }

  async function metric(result: string): Promise<number | undefined> {
    return metricValue(await fetchMetrics(gateway!.adminPort), `rampart_on_demand_decisions_total{result="${result}"}`);
  }

  async function restart(onDemand: ConfigObject): Promise<TestGateway> {
    await gateway?.close();
    gateway = await startGateway(config(onDemand));
    return gateway;
  }

  before(async () => {
    pebble = await startPebble();
    backend = await startBackend();
    ask = await startAskServer();
    certDir = await mkdtemp(join(tmpdir(), "rampart-on-demand-"));
    root = await pebble.issuingRoot();
  });

  after(async () => {
    await gateway?.close();
    await ask?.close();
    await backend?.close();
    await pebble?.close();
    if (certDir !== "") await rm(certDir, { recursive: true, force: true });
  });

  test("an allowed name gets a certificate from pebble during its first handshake", async () => {
    // 9 s: the listener's handshake timeout (10 s) caps the wait 1 s before it.
    const { httpsPort, adminPort } = await restart({ handshakeTimeout: "9s", askTimeout: "500ms" });
    // Every on-demand series exists from the start.
    for (const result of ["allowed", "denied", "ask_error", "rate_limited", "refused_name", "stored"]) assert.equal(await metric(result), 0, result);
    fallback = (await handshake(httpsPort, "localhost", root)).fingerprint256;

    const issued = pebble!.issued();
    const first = await handshake(httpsPort, "OK-First.test", root);
    assert.equal(first.authorized, true, "verified against pebble's root on the very first handshake");
    assert.equal(first.protocol, "TLSv1.3");
    assert.equal(first.subjectaltname, "DNS:ok-first.test");
    assert.notEqual(first.fingerprint256, fallback);
    firstFingerprint = first.fingerprint256;
    assert.equal(pebble!.issued(), issued + 1);
    assert.deepEqual(ask!.hits, ["ok-first.test"]);

    // Served from the Map from now on: no question, no order.
    assert.equal((await handshake(httpsPort, "ok-first.test", root)).fingerprint256, firstFingerprint);
    assert.deepEqual(ask!.hits, ["ok-first.test"]);
    const metrics = await fetchMetrics(adminPort);
    assert.equal(metricValue(metrics, 'rampart_on_demand_decisions_total{result="allowed"}'), 1);
    assert.equal(metricValue(metrics, 'rampart_acme_orders_total{result="success"}'), 1);
    // The name is renewed like a configured one, and listed like one.
    const certificates = JSON.parse(await getText(adminPort, "/api/certificates")) as { domain: string; source: string }[];
    assert.equal(certificates.find((entry) => entry.domain === "ok-first.test")?.source, "acme");
  });

  test("a denied name gets the fallback and no order; the denial is cached", async () => {
    const { httpsPort } = gateway!;
    const issued = pebble!.issued();
    const hits = ask!.hits.length;
    const denied = await handshake(httpsPort, "no-thanks.test", root);
    assert.equal(denied.authorized, false);
    assert.equal(denied.fingerprint256, fallback);
    assert.equal((await handshake(httpsPort, "no-thanks.test", root)).fingerprint256, fallback);
    assert.deepEqual(ask!.hits.slice(hits), ["no-thanks.test"]);
    await sleep(500);
    assert.equal(pebble!.issued(), issued);
    assert.equal(await metric("denied"), 2);
  });

  test("a slow ask endpoint (over askTimeout) denies", async () => {
    const { httpsPort } = gateway!;
    const issued = pebble!.issued();
    const started = Date.now();
    const slow = await handshake(httpsPort, "slowask.test", root);
    assert.equal(slow.fingerprint256, fallback);
    assert.ok(Date.now() - started < 1_900, `answered after ${Date.now() - started} ms: askTimeout is 500 ms`);
    assert.equal(await metric("ask_error"), 1);
    await sleep(300);
    assert.equal(pebble!.issued(), issued);
  });

  test("IP literals, malformed names and names outside the suffixes are never asked about", async () => {
    const { httpsPort } = gateway!;
    const hits = ask!.hits.length;
    const refusedBefore = (await metric("refused_name"))!;
    for (const name of ["127.0.0.1", "ok-outside.example.org", "ok_underscore.test"]) {
      assert.equal((await handshake(httpsPort, name, root)).fingerprint256, fallback, name);
    }
    assert.equal(ask!.hits.length, hits);
    assert.equal(await metric("refused_name"), refusedBefore + 3);
  });

  test("a slow order: the first handshake gets the fallback, a later one pebble's certificate", async () => {
    const { httpsPort } = await restart({ handshakeTimeout: "50ms", rate: { perName: 3, total: 4, window: "1m" } });
    const issued = pebble!.issued();
    const first = await handshake(httpsPort, "ok-slow.test", root);
    assert.equal(first.fingerprint256, fallback);
    const later = await eventually(async () => {
      const next = await handshake(httpsPort, "ok-slow.test", root);
      return next.authorized ? next : undefined;
    }, 30_000, "the ordered certificate", 200);
    assert.equal(later.subjectaltname, "DNS:ok-slow.test");
    assert.equal(pebble!.issued(), issued + 1);
    assert.equal(ask!.hits.filter((name) => name === "ok-slow.test").length, 1);
  });

  test("a burst of unknown allowed names is capped at rate.total orders per window", async () => {
    const { httpsPort } = gateway!;
    const issued = pebble!.issued();
    // One of the 4 orders of this window went to ok-slow.test: 3 are left for 8 new names.
    const names = Array.from({ length: 8 }, (_, index) => `ok-burst-${index}.test`);
    const served = await Promise.all(names.map((name) => handshake(httpsPort, name, root)));
    assert.ok(served.every((handshake) => handshake.fingerprint256 === fallback));
    await eventually(async () => (pebble!.issued() === issued + 3 ? true : undefined), 30_000, "3 orders", 200);
    await sleep(1_500);
    assert.equal(pebble!.issued(), issued + 3);
    assert.equal(await metric("rate_limited"), 5);
    assert.equal(await metric("allowed"), 4);
  });

  test("with the ask endpoint down, unknown names are denied but stored certificates are still served", async () => {
    const down = await freePort();
    await gateway!.close();
    gateway = await startGateway(config({ ask: `http://127.0.0.1:${down}/allowed`, handshakeTimeout: "9s" }));
    const { httpsPort } = gateway;
    const issued = pebble!.issued();
    // A new process: ok-first.test is not in memory, only in the store (certDir).
    const stored = await handshake(httpsPort, "ok-first.test", root);
    assert.equal(stored.authorized, true);
    assert.equal(stored.fingerprint256, firstFingerprint);
    assert.equal(await metric("stored"), 1);
    const unknown = await handshake(httpsPort, "ok-unknown.test", root);
    assert.equal(unknown.fingerprint256, fallback);
    assert.equal(await metric("ask_error"), 1);
    await sleep(300);
    assert.equal(pebble!.issued(), issued);
  });
});

function getText(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve(text));
      })
      .on("error", reject);
  });
}

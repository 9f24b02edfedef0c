// ACME by TLS-ALPN-01 against a real pebble: the gateway's HTTPS listener sits on pebble's TLS-ALPN-01
// port and answers the validation handshake (ALPN acme-tls/1, challenge certificate) itself; every other
// client still reaches the HTTPS server. Handshakes are real and verified against pebble's issuing root.
import assert from "node:assert/strict";
import https from "node:https";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { pino } from "pino";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { startGateway, type TestGateway } from "../../helpers/gateway.js";
import { startPebble, type Pebble } from "../../helpers/pebble.js";

const NAME = "alpn.test";

interface Handshake {
  readonly authorized: boolean;
  readonly authorizationError: string | undefined;
  readonly protocol: string | null;
  readonly alpn: string | false | null;
  readonly fingerprint256: string;
  readonly issuer: string;
  readonly subjectaltname: string;
}

/** A real TLS handshake; `ca` given → verified (rejects unless the chain and name verify). */
function handshake(port: number, options: { servername: string; ca?: string; ALPNProtocols?: string[] }): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: options.ca !== undefined, ...options }, () => {
      const peer = socket.getPeerCertificate();
      resolve({
        authorized: socket.authorized,
        authorizationError: socket.authorizationError?.message,
        protocol: socket.getProtocol(),
        alpn: socket.alpnProtocol,
        fingerprint256: peer.fingerprint256,
        issuer: String(peer.issuer.CN ?? ""),
        subjectaltname: peer.subjectaltname ?? "",
      });
      socket.end();
    });
    socket.once("error", reject);
    socket.setTimeout(5_000, () => socket.destroy(new Error("handshake timed out")));
  });
}

/** A GET over a fresh, verified TLS connection (ALPN http/1.1) with SNI and Host `servername`. */
function verifiedGet(port: number, servername: string, ca: string): Promise<{ status: number; body: string; alpn: string | false | null }> {
  // https.request hands ALPNProtocols on to tls.connect; its option type just does not list it.
  const options: https.RequestOptions & Pick<tls.ConnectionOptions, "ALPNProtocols"> = {
    host: "127.0.0.1",
    port,
    path: "/hello",
    servername,
    ca,
    agent: false,
    ALPNProtocols: ["http/1.1"],
    headers: { host: servername },
  };
  return new Promise((resolve, reject) => {
    const req = https.request(options, (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, alpn: (res.socket as tls.TLSSocket).alpnProtocol }));
    });
    req.on("error", reject);
    req.setTimeout(5_000, () => req.destroy(new Error("request timed out")));
    req.end();
  });
}

/** Opens a raw TCP connection, writes `payload` (if any) and resolves with how long the server took to close it. */
function closedAfter(port: number, payload: Buffer | undefined, limitMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, "127.0.0.1", () => {
      if (payload !== undefined) socket.write(payload);
    });
    socket.resume();
    socket.on("error", () => undefined); // a reset is a close too
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${limitMs} ms`));
    }, limitMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

async function eventually<T>(probe: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

interface CertificateEntry {
  readonly domain: string;
  readonly source: string;
}

describe("ACME by TLS-ALPN-01 against pebble", { timeout: 90_000 }, () => {
  let pebble: Pebble | undefined;
  let backend: Backend | undefined;
  let gateway: TestGateway | undefined;
  let root = "";
  let issued: Handshake | undefined;
  const logLines: string[] = [];

  before(async () => {
    pebble = await startPebble();
    backend = await startBackend();
    root = await pebble.issuingRoot();
    const logger = pino({ level: "info" }, { write: (line: string) => void logLines.push(line) });
    gateway = await startGateway(
      {
        listen: { https: `127.0.0.1:${pebble.tlsPort}`, http: `127.0.0.1:${pebble.httpPort}` },
        // A short handshake timeout keeps the silent-client test quick; a low per-IP limit shows leaks.
        limits: { headersTimeout: "2s", maxConnectionsPerIp: 10 },
        tls: {
          minVersion: "TLSv1.3",
          acme: {
            enabled: true,
            directoryUrl: pebble.directoryUrl,
            caFile: pebble.caFile,
            challenge: "tls-alpn-01",
            checkInterval: "1s",
            retry: { initial: "1s", max: "2s" },
          },
        },
        services: { app: { targets: [{ url: backend.url }] } },
        routes: [{ name: "alpn", match: { host: NAME }, service: "app" }],
      },
      { logger },
    );
  });

  after(async () => {
    await gateway?.close();
    await backend?.close();
    await pebble?.close();
  });

  test("the name gets a certificate by TLS-ALPN-01 that verifies against pebble's root", async () => {
    const { adminPort, httpsPort } = gateway!;
    await eventually(
      async () => {
        const entries = (await request({ port: adminPort, path: "/api/certificates" })).json<CertificateEntry[]>();
        return entries.find((entry) => entry.domain === NAME && entry.source === "acme");
      },
      30_000,
      `an ACME certificate for ${NAME}`,
    );
    issued = await handshake(httpsPort, { servername: NAME, ca: root });
    assert.equal(issued.authorized, true, issued.authorizationError);
    assert.equal(issued.protocol, "TLSv1.3");
    assert.equal(issued.subjectaltname, `DNS:${NAME}`);
    assert.equal(pebble!.issued(), 1);
    // Pebble validated on the HTTPS listener through ALPN acme-tls/1, not by HTTP-01.
    const answered = logLines.map((line) => JSON.parse(line) as { msg?: string; domain?: string }).filter((entry) => entry.msg === "answered a TLS-ALPN-01 validation");
    assert.ok(answered.length >= 1, "the gateway answered pebble's validation handshake");
    assert.ok(answered.every((entry) => entry.domain === NAME));
  });

  test("ordinary HTTPS (ALPN http/1.1) to the name is still proxied after issuance", async () => {
    assert.ok(issued, "needs the issued certificate");
    const response = await verifiedGet(gateway!.httpsPort, NAME, root);
    assert.equal(response.alpn, "http/1.1");
    assert.equal(response.status, 200);
    assert.equal(JSON.parse(response.body).url, "/hello");
    assert.equal(backend!.requests.length, 1);
  });

  test("with no challenge pending, a client offering acme-tls/1 gets the normal handshake", async () => {
    assert.ok(issued, "needs the issued certificate");
    const { httpsPort } = gateway!;
    // acme-tls/1 among other protocols: the served certificate, the protocol the server speaks.
    const mixed = await handshake(httpsPort, { servername: NAME, ca: root, ALPNProtocols: ["acme-tls/1", "http/1.1"] });
    assert.equal(mixed.authorized, true);
    assert.equal(mixed.fingerprint256, issued.fingerprint256);
    assert.equal(mixed.alpn, "http/1.1");
    // acme-tls/1 alone: whatever the HTTPS server does with an unknown protocol (node refuses it with
    // the no_application_protocol alert), never a challenge certificate.
    const only = await handshake(httpsPort, { servername: NAME, ALPNProtocols: ["acme-tls/1"] }).then(
      (result) => result,
      (error: NodeJS.ErrnoException) => error,
    );
    if (only instanceof Error) assert.equal(only.code, "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL");
    else assert.equal(only.fingerprint256, issued.fingerprint256);
    // A name without ACME: the fallback certificate, as before.
    const other = await handshake(httpsPort, { servername: "other.test", ALPNProtocols: ["acme-tls/1", "http/1.1"] });
    assert.notEqual(other.fingerprint256, issued.fingerprint256);
    assert.equal(other.alpn, "http/1.1");
  });

  test("silent, truncated and garbage clients are closed and leak no connection", async () => {
    const { httpsPort } = gateway!;
    const partialHello = Buffer.from([22, 3, 1, 0x01, 0x00, 1, 0, 0]);
    // Silent or stuck in the middle of a ClientHello: closed at the handshake timeout (2 s here).
    const slow = await Promise.all([closedAfter(httpsPort, undefined), closedAfter(httpsPort, partialHello), closedAfter(httpsPort, partialHello)]);
    for (const ms of slow) assert.ok(ms >= 1_500 && ms < 6_000, `closed after ${ms} ms`);
    // Garbage goes on to the HTTPS server, which refuses it at once. More connections than the per-IP
    // limit, one after the other: each must have released its slot.
    for (let round = 0; round < 15; round++) {
      assert.ok((await closedAfter(httpsPort, Buffer.from("GET / HTTP/1.1\r\nhost: alpn.test\r\n\r\n"))) < 2_000);
      assert.ok((await closedAfter(httpsPort, Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0, 0, 1, 0]))) < 2_000);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    const response = await verifiedGet(httpsPort, NAME, root);
    assert.equal(response.status, 200);
  });
});

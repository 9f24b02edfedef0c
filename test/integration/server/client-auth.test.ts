// Client certificates at the edge (tls.clientAuth, routes' requireClientCert and clientCertHeader), with
// real TLS handshakes on loopback: Node's https, tls and http2 clients and curl. The backend echoes the
// headers it received, so each test sees exactly what an upstream would be told about the client.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http2 from "node:http2";
import https from "node:https";
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import { Gateway } from "../../../src/main.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { makeClientCertificates, TRICKY_RFC4514, type ClientCertificate, type ClientCertificates } from "../../helpers/client-certs.js";
import { startGateway, type ConfigObject, type TestGateway } from "../../helpers/gateway.js";
import { makeTempDir, removeTempDir, writeEcCertificate } from "../../fixtures/tls/tls-helpers.js";

const ALICE = "CN=alice,O=Example";

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The headers the backend received (its JSON echo); {} when Rampart answered itself. */
  readonly upstream: IncomingHttpHeaders;
  /** Whether this connection resumed an earlier TLS session. */
  readonly resumed: boolean;
}

interface Ask {
  readonly path?: string;
  readonly client?: ClientCertificate;
  /** undefined: no SNI (the server's own context). */
  readonly servername?: string;
  readonly headers?: OutgoingHttpHeaders;
  readonly agent?: https.Agent;
}

/** One HTTPS/1.1 request; rejects when the connection fails (a refused handshake). */
function ask(port: number, options: Ask = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port,
        path: options.path ?? "/",
        headers: options.headers,
        agent: options.agent ?? false,
        rejectUnauthorized: false,
        // Node sends no SNI for an IP address; an empty name sends none either.
        servername: options.servername ?? "",
        ...(options.client === undefined ? {} : { cert: options.client.cert, key: options.client.key }),
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("error", reject);
        res.on("end", () => {
          const resumed = (res.socket as tls.TLSSocket).isSessionReused();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, upstream: echoed(body), resumed });
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

function echoed(body: string): IncomingHttpHeaders {
  try {
    return (JSON.parse(body) as { headers?: IncomingHttpHeaders }).headers ?? {};
  } catch {
    return {};
  }
}

interface H2Answer {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly upstream: IncomingHttpHeaders;
}

/** Requests on one HTTP/2 connection (ALPN h2) with or without a client certificate. */
async function h2Ask(port: number, client: ClientCertificate | undefined, requests: readonly OutgoingHttpHeaders[]): Promise<H2Answer[]> {
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    rejectUnauthorized: false,
    servername: "localhost",
    ...(client === undefined ? {} : { cert: client.cert, key: client.key }),
  });
  session.on("error", () => {});
  try {
    const answers: H2Answer[] = [];
    for (const headers of requests) {
      answers.push(
        await new Promise<H2Answer>((resolve, reject) => {
          const stream = session.request({ ":path": "/", ...headers }, { endStream: true });
          let status = 0;
          let received: http2.IncomingHttpHeaders = {};
          let body = "";
          stream.setEncoding("utf8");
          stream.on("response", (head) => {
            received = head;
            status = Number(head[":status"]);
          });
          stream.on("data", (chunk: string) => (body += chunk));
          stream.on("error", reject);
          stream.on("end", () => resolve({ status, headers: received, upstream: echoed(body) }));
        }),
      );
    }
    return answers;
  } finally {
    session.close();
  }
}

/** Whether a bare TLS handshake (no HTTP) is accepted: resolves "ok", or the error the client saw. */
function handshakeOutcome(port: number, client: ClientCertificate | undefined): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername: "localhost",
      rejectUnauthorized: false,
      ...(client === undefined ? {} : { cert: client.cert, key: client.key }),
    });
    let settled = false;
    const settle = (outcome: string) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
      socket.destroy();
    };
    // Under TLS 1.3 the client finishes its side before the server has checked its certificate: a
    // refusal arrives afterwards, as an alert or a closed connection. A written request proves the
    // server accepted: only then does it answer.
    socket.once("secureConnect", () => socket.write("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
    socket.once("data", () => settle("ok"));
    socket.once("error", (error: NodeJS.ErrnoException) => settle(error.code ?? error.message));
    socket.once("close", () => settle("closed"));
  });
}

interface Curl {
  readonly code: number;
  readonly stdout: string;
}

function curl(args: readonly string[]): Promise<Curl> {
  return new Promise((resolve) => {
    execFile("curl", ["--silent", "--insecure", "--max-time", "10", ...args], (error, stdout) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ code, stdout });
    });
  });
}

const withCert = (client: ClientCertificate) => ["--cert", client.certFile, "--key", client.keyFile];

describe("client certificates at the edge", () => {
  let dir = "";
  let certs: ClientCertificates;
  let backend: Backend;
  let acmePem: { key: string; cert: string };

  before(async () => {
    dir = await makeTempDir();
    certs = makeClientCertificates(dir);
    acmePem = (await writeEcCertificate(dir, "acme", ["acme.test"])).pem;
    backend = await startBackend();
  });
  after(async () => {
    await backend?.close();
    await removeTempDir(dir);
  });

  describe("mode optional", () => {
    let gw: TestGateway;
    before(async () => {
      const api = await writeEcCertificate(dir, "api", ["api.test"]);
      gw = await startGateway({
        tls: { redirectHttp: false, certificates: [{ certFile: api.certFile, keyFile: api.keyFile }], clientAuth: { ca: certs.caFile } },
        services: { app: { targets: [{ url: backend.url }] } },
        routes: [
          { name: "secure", match: { pathPrefix: "/secure" }, service: "app", requireClientCert: true },
          { name: "custom", match: { pathPrefix: "/custom" }, service: "app", clientCertHeader: "X-Who" },
          { name: "silent", match: { pathPrefix: "/silent" }, service: "app", clientCertHeader: "" },
          { name: "app", match: { pathPrefix: "/" }, service: "app" },
        ],
      });
    });
    after(() => gw?.close());

    test("every route's chain starts with the client-cert stage", () => {
      for (const path of ["/secure", "/custom", "/silent", "/"]) {
        assert.equal(gw.gateway.generation.routes.match("", path, "GET")?.chain[0]?.name, "client-cert", path);
      }
    });

    test("without a certificate a normal route answers, and a forged subject header never reaches the backend", async () => {
      const answer = await ask(gw.httpsPort, { headers: { "x-client-cert-subject": "CN=admin", "X-Client-Cert-Subject": "CN=root" } });
      assert.equal(answer.status, 200);
      assert.equal(answer.upstream["x-client-cert-subject"], undefined);
    });

    test("with a certificate the CA signed, the backend gets its subject (replacing a forged one)", async () => {
      const answer = await ask(gw.httpsPort, { client: certs.alice, headers: { "x-client-cert-subject": "CN=admin" } });
      assert.equal(answer.status, 200);
      assert.equal(answer.upstream["x-client-cert-subject"], ALICE);
    });

    test("a subject with characters to escape arrives as RFC 4514, in plain ASCII", async () => {
      const answer = await ask(gw.httpsPort, { client: certs.tricky });
      assert.equal(answer.upstream["x-client-cert-subject"], TRICKY_RFC4514);
    });

    test("requireClientCert: 403 client_cert_required without a certificate, 200 with one", async () => {
      const refused = await ask(gw.httpsPort, { path: "/secure" });
      assert.equal(refused.status, 403);
      assert.equal(JSON.parse(refused.body).error, "client_cert_required");
      assert.ok(refused.headers["x-request-id"]);
      const served = await ask(gw.httpsPort, { path: "/secure", client: certs.alice });
      assert.equal(served.status, 200);
      assert.equal(served.upstream["x-client-cert-subject"], ALICE);
    });

    test("a certificate from another CA completes the handshake but is not verified: no subject, 403 where one is required", async () => {
      const normal = await ask(gw.httpsPort, { client: certs.mallory, headers: { "x-client-cert-subject": ALICE } });
      assert.equal(normal.status, 200);
      assert.equal(normal.upstream["x-client-cert-subject"], undefined);
      assert.equal((await ask(gw.httpsPort, { path: "/secure", client: certs.mallory })).status, 403);
    });

    test("clientCertHeader names the header; \"\" sends none; either way the client's value is removed", async () => {
      const custom = await ask(gw.httpsPort, { path: "/custom", client: certs.alice, headers: { "x-who": "CN=admin" } });
      assert.equal(custom.upstream["x-who"], ALICE);
      assert.equal(custom.upstream["x-client-cert-subject"], undefined);
      const forgedCustom = await ask(gw.httpsPort, { path: "/custom", headers: { "x-who": "CN=admin" } });
      assert.equal(forgedCustom.upstream["x-who"], undefined);
      const silent = await ask(gw.httpsPort, { path: "/silent", client: certs.alice, headers: { "x-client-cert-subject": "CN=admin" } });
      assert.equal(silent.status, 200);
      assert.equal(silent.upstream["x-client-cert-subject"], undefined);
    });

    test("every certificate context verifies: no SNI, a static certificate, the self-signed one, an installed (ACME) one", async () => {
      gw.gateway.certificates.install("acme.test", acmePem, "acme");
      for (const servername of [undefined, "api.test", "localhost", "acme.test"]) {
        const verified = await ask(gw.httpsPort, { client: certs.alice, servername });
        assert.equal(verified.upstream["x-client-cert-subject"], ALICE, `SNI ${servername ?? "(none)"}`);
        const other = await ask(gw.httpsPort, { path: "/secure", client: certs.mallory, servername });
        assert.equal(other.status, 403, `another CA's client, SNI ${servername ?? "(none)"}`);
      }
    });

    test("a resumed TLS session keeps its verified subject", async () => {
      const agent = new https.Agent({ keepAlive: false, maxCachedSessions: 10 });
      try {
        const first = await ask(gw.httpsPort, { client: certs.alice, servername: "api.test", agent });
        const second = await ask(gw.httpsPort, { client: certs.alice, servername: "api.test", agent });
        assert.equal(first.resumed, false);
        assert.equal(second.resumed, true, "the second connection resumed the first one's session");
        assert.equal(second.upstream["x-client-cert-subject"], ALICE);
      } finally {
        agent.destroy();
      }
    });

    test("HTTP/2: the subject reaches the backend; requireClientCert answers 403, gRPC clients PERMISSION_DENIED", async () => {
      const [withCertificate] = await h2Ask(gw.httpsPort, certs.alice, [{ "x-client-cert-subject": "CN=admin" }]);
      assert.equal(withCertificate!.status, 200);
      assert.equal(withCertificate!.upstream["x-client-cert-subject"], ALICE);
      const [plain, required, grpc] = await h2Ask(gw.httpsPort, undefined, [
        { "x-client-cert-subject": "CN=admin" },
        { ":path": "/secure" },
        { ":path": "/secure/test.Echo/Unary", ":method": "POST", "content-type": "application/grpc" },
      ]);
      assert.equal(plain!.upstream["x-client-cert-subject"], undefined);
      assert.equal(required!.status, 403);
      assert.equal(grpc!.status, 200);
      assert.equal(grpc!.headers["grpc-status"], "7");
      assert.equal(grpc!.headers["grpc-message"], "client_cert_required");
    });

    test("plain HTTP (redirectHttp off) never has a certificate: forged headers removed, requireClientCert answers 403", async () => {
      const normal = await request({ port: gw.httpPort, headers: { "x-client-cert-subject": ALICE } });
      assert.equal(normal.status, 200);
      assert.equal(echoed(normal.body)["x-client-cert-subject"], undefined);
      const required = await request({ port: gw.httpPort, path: "/secure", headers: { "x-client-cert-subject": ALICE } });
      assert.equal(required.status, 403);
      assert.equal(required.json<{ error: string }>().error, "client_cert_required");
    });

    test("curl: --cert is verified and its subject sent; without it requireClientCert answers 403", async () => {
      const served = await curl([...withCert(certs.alice), `https://127.0.0.1:${gw.httpsPort}/secure`]);
      assert.equal(served.code, 0);
      assert.equal(echoed(served.stdout)["x-client-cert-subject"], ALICE);
      const refused = await curl(["--write-out", "%{http_code}", "--output", "/dev/null", `https://127.0.0.1:${gw.httpsPort}/secure`]);
      assert.equal(refused.stdout, "403");
    });
  });

  describe("mode require", () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startGateway(requireConfig());
    });
    after(() => gw?.close());

    function requireConfig(): ConfigObject {
      return {
        tls: { clientAuth: { ca: certs.caFile, mode: "require" } },
        services: { app: { targets: [{ url: backend.url }] } },
        routes: [{ name: "app", match: { pathPrefix: "/" }, service: "app" }],
      };
    }

    test("a client without a certificate fails the handshake (Node TLS client, HTTPS client and curl)", async () => {
      assert.notEqual(await handshakeOutcome(gw.httpsPort, undefined), "ok");
      await assert.rejects(ask(gw.httpsPort, { servername: "localhost" }));
      const refused = await curl([`https://127.0.0.1:${gw.httpsPort}/`]);
      assert.notEqual(refused.code, 0, "curl failed");
      assert.equal(refused.stdout, "");
    });

    test("a certificate from another CA is refused too", async () => {
      assert.notEqual(await handshakeOutcome(gw.httpsPort, certs.mallory), "ok");
      await assert.rejects(ask(gw.httpsPort, { client: certs.mallory, servername: "localhost" }));
    });

    test("a certificate the CA signed is accepted, and its subject sent (HTTP/1.1, HTTP/2, curl)", async () => {
      assert.equal(await handshakeOutcome(gw.httpsPort, certs.alice), "ok");
      const answer = await ask(gw.httpsPort, { client: certs.alice, servername: "localhost" });
      assert.equal(answer.upstream["x-client-cert-subject"], ALICE);
      const [h2] = await h2Ask(gw.httpsPort, certs.alice, [{}]);
      assert.equal(h2!.upstream["x-client-cert-subject"], ALICE);
      const viaCurl = await curl([...withCert(certs.alice), `https://localhost:${gw.httpsPort}/`, "--resolve", `localhost:${gw.httpsPort}:127.0.0.1`]);
      assert.equal(viaCurl.code, 0);
      assert.equal(echoed(viaCurl.stdout)["x-client-cert-subject"], ALICE);
    });
  });

  describe("without tls.clientAuth", () => {
    test("no route has the stage, no certificate is asked for, and the header is left alone", async () => {
      const gw = await startGateway({
        services: { app: { targets: [{ url: backend.url }] } },
        routes: [{ name: "app", match: { pathPrefix: "/" }, service: "app" }],
      });
      try {
        assert.deepEqual(gw.gateway.generation.routes.match("", "/", "GET")?.chain.map((stage) => stage.name), ["request-body", "pick-target", "forward"]);
        const answer = await ask(gw.httpsPort, { client: certs.alice, headers: { "x-client-cert-subject": "CN=passed" } });
        assert.equal(answer.upstream["x-client-cert-subject"], "CN=passed");
      } finally {
        await gw.close();
      }
    });
  });

  test("a reload cannot switch client certificates off or on: the listener's settings decide until a restart", async () => {
    const routes = [{ name: "app", match: { pathPrefix: "/" }, service: "app" }];
    const services = { app: { targets: [{ url: backend.url }] } };
    const on = await startGateway({ tls: { clientAuth: { ca: certs.caFile } }, services, routes });
    try {
      await on.writeConfig({ services, routes });
      const result = await on.gateway.reload();
      assert.ok(result.ok && result.restartRequired.includes("tls.clientAuth"));
      // The listener still verifies certificates: the header stays Rampart's, never the client's.
      assert.equal((await ask(on.httpsPort, { headers: { "x-client-cert-subject": "CN=admin" } })).upstream["x-client-cert-subject"], undefined);
      assert.equal((await ask(on.httpsPort, { client: certs.alice })).upstream["x-client-cert-subject"], ALICE);
    } finally {
      await on.close();
    }
    const off = await startGateway({ services, routes });
    try {
      await off.writeConfig({ tls: { clientAuth: { ca: certs.caFile } }, services, routes: [{ ...routes[0], requireClientCert: true }] });
      assert.ok((await off.gateway.reload()).ok);
      // The listener never asks for a certificate, so a route that requires one refuses (fails closed).
      assert.equal((await ask(off.httpsPort, { client: certs.alice })).status, 403);
    } finally {
      await off.close();
    }
  });

  test("an unreadable CA file stops the start with an error naming it", async () => {
    const missing = join(dir, "no-such-ca.pem");
    const configFile = join(dir, "missing-ca.yaml");
    await writeFile(
      configFile,
      stringify({
        listen: { http: "127.0.0.1:0", https: "127.0.0.1:0", admin: "127.0.0.1:0" },
        tls: { certDir: join(dir, "certs"), clientAuth: { ca: missing } },
        store: { dir: join(dir, "state") },
        log: { level: "silent" },
        services: { app: { targets: [{ url: backend.url }] } },
        routes: [{ name: "app", service: "app" }],
      }),
    );
    await assert.rejects(Gateway.start({ configFile, logger: silentLogger, accessLog: { write: () => {} } }), {
      message: `tls.clientAuth.ca: cannot read "${missing}": no such file`,
    });
  });
});

// TLS to targets (services.*.tls) end to end, with node:https and node:http2 backends presenting
// certificates from CAs made for the suite: a private CA trusted through `ca` (and nothing else),
// `serverName` as SNI and as the name verified (an IP-literal target verified against a DNS name),
// client certificates for mTLS, `verify: false` with its warning, health checks and h2 sessions with the
// same settings, and reloads that switch a CA. TLS failures answer 502 and show as kind "tls" in
// rampart_upstream_errors_total and as the target's TLS errors in /api/upstreams.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import { ConfigError } from "../../../src/config/load.js";
import { Gateway } from "../../../src/main.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { listUpstreams, reloadConfig, upstreamState } from "../../helpers/admin-api.js";
import { request, type Response } from "../../helpers/client.js";
import { perTest } from "../../helpers/fixtures.js";
import { simpleConfig, type ConfigObject, type TestGateway } from "../../helpers/gateway.js";
import { captureLogger, eventually, fetchMetrics, metricSample } from "../../helpers/proxy-tools.js";
import { makePki, startTlsBackend, type Pki, type TlsBackend, type TlsBackendOptions } from "../../helpers/test-pki.js";

const { gateway, defer } = perTest();

interface Files {
  readonly cert: string;
  readonly key: string;
}

let pki: Pki;
/** CAs: the targets' private CA, an unrelated one, the CA of client certificates, a rogue one. */
let alpha: string;
let beta: string;
let clientCa: string;
/** Server certificates: alpha's for 127.0.0.1 and backend.internal; alpha's for named.internal only; beta's; self-signed; expired. */
let server: Files;
let named: Files;
let betaServer: Files;
let selfSigned: Files;
let expired: Files;
/** Client certificates: from clientCa, and from the rogue CA. */
let client: Files;
let rogueClient: Files;

before(() => {
  return makePki().then((made) => {
    pki = made;
    alpha = pki.ca("alpha");
    beta = pki.ca("beta");
    clientCa = pki.ca("clients");
    pki.ca("rogue");
    server = pki.issue("server", "alpha", { san: ["DNS:backend.internal", "IP:127.0.0.1"] });
    named = pki.issue("named", "alpha", { san: ["DNS:named.internal"] });
    betaServer = pki.issue("beta-server", "beta", { san: ["DNS:backend.internal", "IP:127.0.0.1"] });
    selfSigned = pki.issue("self", undefined, { san: ["IP:127.0.0.1"] });
    expired = pki.issue("expired", "alpha", { san: ["IP:127.0.0.1"], days: -1 });
    client = pki.issue("client", "clients", { client: true });
    rogueClient = pki.issue("rogue-client", "rogue", { client: true });
  });
});
after(() => pki.remove());

async function tlsBackend(options: TlsBackendOptions): Promise<TlsBackend> {
  const started = await startTlsBackend(options);
  defer(() => started.close());
  return started;
}

function get(gw: TestGateway, path = "/"): Promise<Response> {
  return request({ port: gw.httpsPort, tls: true, path });
}

async function tlsErrorsCounted(gw: TestGateway, backend: TlsBackend): Promise<number> {
  return metricSample(await fetchMetrics(gw.adminPort), "rampart_upstream_errors_total", { service: "app", target: `127.0.0.1:${backend.port}`, kind: "tls" }) ?? 0;
}

/** The request fails with 502, counted as a TLS error of the target, whose /api/upstreams row says `words`. */
async function assertTlsRefused(gw: TestGateway, backend: TlsBackend, words: RegExp): Promise<void> {
  const before = await tlsErrorsCounted(gw, backend);
  const res = await get(gw, "/refused");
  assert.equal(res.status, 502, res.body);
  assert.equal(await tlsErrorsCounted(gw, backend), before + 1, "rampart_upstream_errors_total{kind=tls} counted the failure");
  const row = await upstreamState(gw.adminPort, backend.port);
  assert.ok(row.tls.errors >= 1, JSON.stringify(row));
  assert.match(row.tls.lastError ?? "", words);
  assert.ok(row.tls.lastErrorAt !== null && Math.abs(Date.parse(row.tls.lastErrorAt) - Date.now()) < 10_000, `lastErrorAt ${row.tls.lastErrorAt}`);
}

function tlsConfig(backend: TlsBackend, tls: ConfigObject | undefined, extra: ConfigObject = {}): ConfigObject {
  return simpleConfig(backend.url, { service: { ...(tls === undefined ? {} : { tls }), ...extra } });
}

describe("TLS to targets: trust", () => {
  test("a target behind a private CA is reached with `ca`, and the SNI name is its host when the URL names one", async () => {
    const backend = await tlsBackend(server);
    const gw = await gateway(tlsConfig(backend, { ca: alpha }));
    const res = await get(gw, "/hello");
    assert.equal(res.status, 200, res.body);
    assert.equal(res.body, "ok /hello");
    // An IP literal gets no SNI (RFC 6066), and verifies against the certificate's IP address.
    assert.equal(backend.seen[0]?.servername, false);
    const row = await upstreamState(gw.adminPort, backend.port);
    assert.deepEqual(row.tls, { errors: 0, lastError: null, lastErrorAt: null });
  });

  test("without `ca` the private CA is unknown: 502, kind tls, and /api/upstreams says why", async () => {
    const backend = await tlsBackend(server);
    const gw = await gateway(simpleConfig(backend.url));
    await assertTlsRefused(gw, backend, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify the first certificate/);
    assert.equal(backend.seen.length, 0, "no request reached the backend");
  });

  test("`ca` is the only CA trusted: a certificate from another CA is refused", async () => {
    const backend = await tlsBackend(betaServer);
    const gw = await gateway(tlsConfig(backend, { ca: alpha }));
    await assertTlsRefused(gw, backend, /unable to verify|UNABLE_TO_/i);
  });

  test("an expired certificate is refused and /api/upstreams shows 'certificate has expired'", async () => {
    const backend = await tlsBackend(expired);
    const gw = await gateway(tlsConfig(backend, { ca: alpha }));
    await assertTlsRefused(gw, backend, /CERT_HAS_EXPIRED: certificate has expired/);
    // The status page's data says it too, per target.
    const status = (await request({ port: gw.adminPort, path: "/api/status" })).json<{ services: { name: string; targets: { target: string; tls: { errors: number; lastError: string | null } }[] }[] }>();
    const target = status.services.find((each) => each.name === "app")?.targets.find((each) => each.target === `127.0.0.1:${backend.port}`);
    assert.ok(target !== undefined && target.tls.errors >= 1, JSON.stringify(target));
    assert.match(target.tls.lastError ?? "", /certificate has expired/);
  });

  test("a `ca` file holding several certificates (a bundle) trusts each of them", async () => {
    const bundle = pki.path("bundle.pem");
    writeFileSync(bundle, readFileSync(beta, "utf8") + readFileSync(alpha, "utf8"));
    const backend = await tlsBackend(server);
    const gw = await gateway(tlsConfig(backend, { ca: bundle }));
    assert.equal((await get(gw)).status, 200);
  });
});

describe("TLS to targets: serverName", () => {
  test("a wrong serverName is refused: 502, kind tls, the name mismatch on /api/upstreams", async () => {
    const backend = await tlsBackend(server);
    const gw = await gateway(tlsConfig(backend, { ca: alpha, serverName: "elsewhere.internal" }));
    await assertTlsRefused(gw, backend, /ERR_TLS_CERT_ALTNAME_INVALID.*elsewhere\.internal/);
    assert.equal(backend.seen.length, 0, "no request reached the backend");
  });

  test("serverName makes an IP-literal target verify against a DNS name in its certificate, and is sent as SNI", async () => {
    const backend = await tlsBackend(named);
    // The certificate names only named.internal: by its IP the target cannot be verified.
    const gw = await gateway(tlsConfig(backend, { ca: alpha }));
    await assertTlsRefused(gw, backend, /ERR_TLS_CERT_ALTNAME_INVALID.*127\.0\.0\.1/);

    await reloadConfig(gw, tlsConfig(backend, { ca: alpha, serverName: "named.internal" }));
    const res = await get(gw, "/named");
    assert.equal(res.status, 200, res.body);
    assert.equal(backend.seen.at(-1)?.servername, "named.internal");
  });
});

describe("TLS to targets: client certificates (mTLS)", () => {
  test("a target requiring a client certificate accepts only the right one", async () => {
    const backend = await tlsBackend({ ...server, clientCa });
    const gw = await gateway(tlsConfig(backend, { ca: alpha }));
    // No client certificate: the target refuses the handshake.
    await assertTlsRefused(gw, backend, /certificate required|CERTIFICATE_REQUIRED|handshake failure|HANDSHAKE_FAILURE/i);

    // One from another CA: refused too. A Node backend checks it after the handshake and drops the
    // connection without a TLS alert, so Rampart sees a reset, not a TLS error (servers that send the
    // alert, as OpenSSL-based ones do, are counted as tls): only the 502 is certain here.
    await reloadConfig(gw, tlsConfig(backend, { ca: alpha, cert: rogueClient.cert, key: rogueClient.key }));
    const refused = await get(gw, "/rogue");
    assert.equal(refused.status, 502, refused.body);
    assert.equal(backend.seen.length, 0, "no request got through without the right certificate");

    await reloadConfig(gw, tlsConfig(backend, { ca: alpha, cert: client.cert, key: client.key }));
    const res = await get(gw, "/mtls");
    assert.equal(res.status, 200, res.body);
    assert.equal(backend.seen.at(-1)?.clientCn, "client");
  });
});

describe("TLS to targets: verify false", () => {
  test("reaches a self-signed target and warns at every config load", async () => {
    const backend = await tlsBackend(selfSigned);
    const log = captureLogger();
    const config = tlsConfig(backend, { verify: false });
    const gw = await gateway(config, { logger: log.logger });
    const warnings = () => log.lines.filter((line) => line.level === 40 && String(line.msg).includes("services.app.tls.verify is false"));
    assert.equal(warnings().length, 1, "warned at start");
    assert.equal((await get(gw, "/a")).status, 200);
    assert.equal((await get(gw, "/b")).status, 200);
    assert.equal(warnings().length, 1, "not per request");
    // The same config again: the service (and its pool) is kept, the warning is repeated.
    await reloadConfig(gw, config);
    assert.equal(warnings().length, 2, "warned at the reload");

    // Verified again, the self-signed target is refused.
    await reloadConfig(gw, tlsConfig(backend, {}));
    await assertTlsRefused(gw, backend, /self[- ]signed|SELF_SIGNED/i);
  });
});

describe("TLS to targets: health checks", () => {
  const checks = { path: "/health", interval: "50ms", timeout: "500ms", healthyThreshold: 1, unhealthyThreshold: 1 };

  test("probes use the service's TLS settings: healthy with the private CA, down with a wrong serverName, up again after the fix", async () => {
    const backend = await tlsBackend(server);
    const gw = await gateway(tlsConfig(backend, { ca: alpha }, { healthCheck: checks }));
    await eventually(async () => (backend.seen.filter((each) => each.path === "/health").length >= 3 ? true : undefined), 3_000, "three successful probes");
    let row = await upstreamState(gw.adminPort, backend.port);
    assert.equal(row.healthy, true, JSON.stringify(row));
    assert.equal(row.lastError, null);

    await reloadConfig(gw, tlsConfig(backend, { ca: alpha, serverName: "wrong.internal" }, { healthCheck: checks }));
    row = await eventually(async () => {
      const now = await upstreamState(gw.adminPort, backend.port);
      return now.healthy ? undefined : now;
    }, 3_000, "the target marked down");
    assert.match(row.lastError ?? "", /^health check: ERR_TLS_CERT_ALTNAME_INVALID/);
    assert.match(row.tls.lastError ?? "", /wrong\.internal/);
    assert.equal((await get(gw)).status, 503, "no healthy target");

    await reloadConfig(gw, tlsConfig(backend, { ca: alpha, serverName: "backend.internal" }, { healthCheck: checks }));
    await eventually(async () => ((await upstreamState(gw.adminPort, backend.port)).healthy ? true : undefined), 3_000, "the target healthy again");
    assert.equal((await get(gw)).status, 200);
    assert.equal(backend.seen.at(-1)?.servername, "backend.internal");
  });

  test("gRPC health probes of an h2 target use the same settings (a TLS failure marks it down)", async () => {
    const backend = await tlsBackend({ ...server, h2: true });
    const gw = await gateway(tlsConfig(backend, undefined, { protocol: "h2", healthCheck: { ...checks, grpc: true } }));
    const row = await eventually(async () => {
      const now = await upstreamState(gw.adminPort, backend.port);
      return now.healthy ? undefined : now;
    }, 3_000, "the target marked down");
    assert.match(row.lastError ?? "", /^health check: UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    assert.ok(row.tls.errors >= 1);
  });
});

/** A WebSocket upgrade through the gateway: the status the client got (101 or the refusal's). */
function upgrade(gw: TestGateway): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port: gw.httpsPort, path: "/ws", rejectUnauthorized: false, agent: false, headers: { connection: "Upgrade", upgrade: "websocket" } });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("TLS to targets: WebSocket upgrades", () => {
  test("an upgrade to a wss target uses the service's CA and serverName; without them it is refused", async () => {
    const backend = await tlsBackend(named);
    const gw = await gateway(tlsConfig(backend, { ca: alpha, serverName: "named.internal" }));
    assert.equal(await upgrade(gw), 101);
    assert.deepEqual(backend.seen.at(-1), { path: "/ws", servername: "named.internal", clientCn: "" });
    await reloadConfig(gw, tlsConfig(backend, undefined));
    assert.equal(await upgrade(gw), 502);
    assert.equal(backend.seen.length, 1);
  });
});

describe("TLS to targets: HTTP/2", () => {
  test("an h2 target behind a private CA answers with `ca`; without it, 502 and kind tls", async () => {
    const backend = await tlsBackend({ ...server, h2: true });
    const gw = await gateway(tlsConfig(backend, { ca: alpha, serverName: "backend.internal" }, { protocol: "h2" }));
    const res = await get(gw, "/h2");
    assert.equal(res.status, 200, res.body);
    assert.equal(res.body, "ok /h2");
    assert.equal(backend.seen.at(-1)?.servername, "backend.internal");

    await reloadConfig(gw, tlsConfig(backend, undefined, { protocol: "h2" }));
    await assertTlsRefused(gw, backend, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/);
  });
});

describe("TLS to targets: reloads", () => {
  test("a CA replaced under the same path takes effect at the reload; an unchanged config keeps the service and its pool", async () => {
    const backend = await tlsBackend(server);
    const caFile = pki.path("switching-ca.pem");
    writeFileSync(caFile, readFileSync(alpha));
    const config = tlsConfig(backend, { ca: caFile });
    const gw = await gateway(config);
    assert.equal((await get(gw)).status, 200);
    const service = gw.gateway.generation.services.get("app");

    await reloadConfig(gw, config);
    assert.equal(gw.gateway.generation.services.get("app"), service, "same settings, same files: the service and its pool are kept");
    assert.equal((await get(gw)).status, 200);

    writeFileSync(caFile, readFileSync(beta));
    await reloadConfig(gw, config);
    assert.notEqual(gw.gateway.generation.services.get("app"), service, "new CA contents: a new pool");
    await assertTlsRefused(gw, backend, /unable to verify|UNABLE_TO_/i);

    writeFileSync(caFile, readFileSync(alpha));
    await reloadConfig(gw, config);
    assert.equal((await get(gw)).status, 200);
  });

  test("a missing, invalid or mismatched file is a config error naming the service and the file; the running config stays", async () => {
    const backend = await tlsBackend(server);
    const gw = await gateway(tlsConfig(backend, { ca: alpha }));
    const garbage = pki.path("garbage.pem");
    writeFileSync(garbage, "not a certificate\n");
    const cases: [ConfigObject, string, RegExp][] = [
      [{ ca: pki.path("missing.pem") }, "services.app.tls.ca", /cannot read CA file ".*missing\.pem" \(no such file\)/],
      [{ ca: garbage }, "services.app.tls.ca", /CA file ".*garbage\.pem" holds no PEM certificate/],
      [{ ca: alpha, cert: client.cert, key: rogueClient.key }, "services.app.tls.key", /the key in ".*rogue-client\.key" does not belong to the certificate in ".*client\.pem"/],
      [{ ca: alpha, cert: client.cert, key: pki.path("nokey.key") }, "services.app.tls.key", /cannot read client key file ".*nokey\.key" \(no such file\)/],
    ];
    for (const [tls, key, words] of cases) {
      await gw.writeConfig(tlsConfig(backend, tls));
      const res = await request({ port: gw.adminPort, path: "/api/reload", method: "POST" });
      assert.equal(res.status, 422, res.body);
      const problems = res.json<{ problems: string[] }>().problems;
      assert.equal(problems.length, 1, problems.join("\n"));
      // FILE:LINE:COL key: message, at the value's line in the config file.
      assert.match(problems[0]!, new RegExp(`^${gw.configFile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+ ${key.replace(/\./g, "\\.")}: `));
      assert.match(problems[0]!, words);
      assert.equal((await get(gw)).status, 200, "the old config still serves");
    }
    assert.deepEqual((await listUpstreams(gw.adminPort)).map((row) => row.target), [`127.0.0.1:${backend.port}`]);
  });

  test("a missing file fails the start with the same error", async () => {
    const backend = await tlsBackend(server);
    const configFile = pki.path("start.yaml");
    const config = { ...tlsConfig(backend, { ca: pki.path("absent.pem") }), listen: { http: "127.0.0.1:0", https: "127.0.0.1:0", admin: "127.0.0.1:0" }, tls: { certDir: pki.path("certs") }, store: { dir: pki.path("state") } };
    writeFileSync(configFile, stringify(config));
    await assert.rejects(
      Gateway.start({ configFile, logger: silentLogger }).then((started) => started.close()),
      (error: Error) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, /start\.yaml:\d+:\d+ services\.app\.tls\.ca: cannot read CA file ".*absent\.pem" \(no such file\)/);
        return true;
      },
    );
  });
});

// ACME issuance by HTTP-01 against a real pebble, and a restart that orders nothing new. The gateway's
// HTTP listener sits on pebble's validation port; every name resolves to 127.0.0.1 through pebble's
// challenge DNS. Handshakes are real and verified against pebble's issuing root.
import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { startGateway, type ConfigObject, type TestGateway } from "../../helpers/gateway.js";
import { startPebble, type Pebble } from "../../helpers/pebble.js";
import { eventually, fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";
import {
  allIssuedByAcme,
  certificateEntry,
  pendingCertificates,
  servedCertificate,
  verifiedGet,
  verifiedHandshake,
  type ServedCertificate,
} from "../../helpers/acme-tools.js";

const NAMES = ["a.test", "b.test"] as const;

describe("ACME by HTTP-01 against pebble", { timeout: 90_000 }, () => {
  let pebble: Pebble | undefined;
  let backend: Backend | undefined;
  let certDir = "";
  let gateway: TestGateway | undefined;
  let root = "";
  const served = new Map<string, ServedCertificate>();

  function config(): ConfigObject {
    return {
      listen: { http: `127.0.0.1:${pebble!.httpPort}` },
      tls: {
        certDir,
        acme: { enabled: true, directoryUrl: pebble!.directoryUrl, caFile: pebble!.caFile, checkInterval: "2s" },
      },
      services: { app: { targets: [{ url: backend!.url }] } },
      routes: NAMES.map((host) => ({ name: host, match: { host }, service: "app" })),
    };
  }

  before(async () => {
    pebble = await startPebble();
    backend = await startBackend();
    certDir = await mkdtemp(join(tmpdir(), "rampart-acme-certs-"));
    root = await pebble.issuingRoot();
  });

  after(async () => {
    await gateway?.close();
    await backend?.close();
    await pebble?.close();
    if (certDir !== "") await rm(certDir, { recursive: true, force: true });
  });

  test("both hosts get a certificate that verifies against pebble's root; pending until then", async () => {
    gateway = await startGateway(config());
    const { adminPort, httpsPort } = gateway;
    // Nothing is stored yet: both names start pending, served by the self-signed fallback.
    assert.deepEqual((await pendingCertificates(adminPort)).sort(), [...NAMES]);

    await eventually(async () => ((await allIssuedByAcme(adminPort, NAMES)) ? true : undefined), 30_000, "ACME certificates for both names", 200);
    assert.deepEqual(await pendingCertificates(adminPort), []);

    for (const name of NAMES) {
      const certificate = await verifiedHandshake(httpsPort, name, root);
      assert.equal(certificate.authorized, true);
      assert.equal(certificate.subjectaltname, `DNS:${name}`);
      const entry = (await certificateEntry(adminPort, name))!;
      assert.equal(Date.parse(entry.notAfter), certificate.notAfter);
      assert.equal(entry.issuer, `CN=${certificate.issuer}`);
      assert.ok(entry.nextRenewal !== null && Date.parse(entry.nextRenewal) > Date.now() && Date.parse(entry.nextRenewal) < certificate.notAfter);
      served.set(name, certificate);
      // Proxied requests on a verified connection work too.
      assert.equal((await verifiedGet(httpsPort, name, root)).status, 200);
    }

    const metrics = await fetchMetrics(adminPort);
    assert.equal(metricValue(metrics, 'rampart_acme_orders_total{result="success"}'), 2);
    assert.equal(metricValue(metrics, 'rampart_acme_orders_total{result="failure"}'), 0);
    assert.equal(metricValue(metrics, 'rampart_certificate_expiry_timestamp_seconds{domain="a.test"}'), served.get("a.test")!.notAfter / 1000);
    assert.equal(metricValue(metrics, 'rampart_certificate_expiry_timestamp_seconds{domain="b.test"}'), served.get("b.test")!.notAfter / 1000);
    assert.equal(pebble!.issued(), 2);

    // Keys (the account's and each certificate's) are readable by the owner only.
    for (const file of ["a.test.key", "b.test.key", "account.key"]) {
      assert.equal((await stat(join(certDir, "acme", file))).mode & 0o777, 0o600, file);
    }
  });

  test("a restart loads the stored certificates: no new order, the same certificates served", async () => {
    assert.equal(served.size, NAMES.length, "needs the previous test's certificates");
    await gateway!.close();
    gateway = undefined;
    const issuedBefore = pebble!.issued();

    gateway = await startGateway(config());
    const { adminPort, httpsPort } = gateway;
    // Loaded before the gateway listens: nothing is pending, no fallback is ever served for these names.
    assert.deepEqual(await pendingCertificates(adminPort), []);
    for (const name of NAMES) {
      assert.equal((await servedCertificate(httpsPort, name)).fingerprint256, served.get(name)!.fingerprint256);
      assert.equal((await certificateEntry(adminPort, name))?.source, "acme");
    }

    // Several checks (every ~2 s) later, still nothing ordered.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    assert.equal(pebble!.issued(), issuedBefore);
    const metrics = await fetchMetrics(adminPort);
    assert.equal(metricValue(metrics, 'rampart_acme_orders_total{result="success"}'), 0);
    assert.equal(metricValue(metrics, 'rampart_acme_orders_total{result="failure"}'), 0);
    for (const name of NAMES) {
      const certificate = await verifiedHandshake(httpsPort, name, root);
      assert.equal(certificate.fingerprint256, served.get(name)!.fingerprint256);
    }
  });
});

// The ACME server is down when the gateway starts: the gateway starts anyway and serves the names with
// the self-signed fallback, counts failed orders and retries with backoff; once pebble is back the
// certificate is issued and served without a restart. Down again at the next restart: the stored
// certificate is served at once.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { startGateway, type ConfigObject, type TestGateway } from "../../helpers/gateway.js";
import { startPebble, type Pebble } from "../../helpers/pebble.js";
import { captureLogger, eventually, fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";
import { certificateEntry, pendingCertificates, servedCertificate, verifiedHandshake } from "../../helpers/acme-tools.js";

const NAME = "a.test";

describe("ACME server down at start", { timeout: 90_000 }, () => {
  let pebble: Pebble | undefined;
  let backend: Backend | undefined;
  let gateway: TestGateway | undefined;
  let certDir = "";
  let issuedFingerprint = "";

  function config(): ConfigObject {
    return {
      listen: { http: `127.0.0.1:${pebble!.httpPort}` },
      tls: {
        certDir,
        acme: { enabled: true, directoryUrl: pebble!.directoryUrl, caFile: pebble!.caFile, retry: { initial: "1s", max: "2s" } },
      },
      services: { app: { targets: [{ url: backend!.url }] } },
      routes: [{ name: "a", match: { host: NAME }, service: "app" }],
    };
  }

  before(async () => {
    pebble = await startPebble();
    backend = await startBackend();
    certDir = await mkdtemp(join(tmpdir(), "rampart-acme-certs-"));
  });

  after(async () => {
    await gateway?.close();
    await backend?.close();
    await pebble?.close();
    if (certDir !== "") await rm(certDir, { recursive: true, force: true });
  });

  test("the gateway serves with the fallback, retries with backoff, and issues once pebble is back", async () => {
    await pebble!.stop();
    const log = captureLogger();
    gateway = await startGateway(config(), { logger: log.logger });
    const { adminPort, httpsPort } = gateway;

    // Serving: the self-signed fallback answers for the name and requests reach the backend.
    const fallback = await servedCertificate(httpsPort, NAME);
    assert.ok(fallback.subjectaltname.split(", ").includes(`DNS:${NAME}`));
    assert.equal((await certificateEntry(adminPort, NAME))?.source, "self-signed");
    const proxied = await request({ port: httpsPort, tls: true, servername: NAME, headers: { host: NAME } });
    assert.equal(proxied.status, 200);

    // Failed orders are counted, and retried (more than one attempt while pebble stays down).
    const failures = await eventually(
      async () => {
        const value = metricValue(await fetchMetrics(adminPort), 'rampart_acme_orders_total{result="failure"}') ?? 0;
        return value >= 2 ? value : undefined;
      },
      15_000,
      "two failed orders",
      100,
    );
    assert.ok(failures >= 2);
    // Backoff while the server is unreachable: doubling from retry.initial, capped at retry.max.
    const failed = log.lines.filter((line) => line.msg === "certificate order failed; the fallback certificate stays in use");
    assert.ok(failed.length >= 2);
    assert.deepEqual(failed.slice(0, 3).map((line) => [line.domain, line.retryInMs, line.validationAttempted]), [
      [NAME, 1_000, false],
      [NAME, 2_000, false],
      ...(failed.length >= 3 ? [[NAME, 2_000, false]] : []),
    ]);
    assert.deepEqual(await pendingCertificates(adminPort), [NAME]);
    assert.equal((await certificateEntry(adminPort, NAME))?.source, "self-signed");
    assert.equal((await servedCertificate(httpsPort, NAME)).fingerprint256, fallback.fingerprint256);
    assert.equal((await request({ port: httpsPort, tls: true, servername: NAME, headers: { host: NAME } })).status, 200);

    // Pebble comes back: the next retry orders and the certificate is served, no restart.
    await pebble!.start();
    await eventually(async () => ((await certificateEntry(adminPort, NAME))?.source === "acme" ? true : undefined), 30_000, "the certificate after pebble is back", 100);
    const issued = await verifiedHandshake(httpsPort, NAME, await pebble!.issuingRoot());
    assert.equal(issued.authorized, true);
    assert.equal(issued.subjectaltname, `DNS:${NAME}`);
    assert.notEqual(issued.fingerprint256, fallback.fingerprint256);
    assert.deepEqual(await pendingCertificates(adminPort), []);
    assert.equal(pebble!.issued(), 1);
    const metrics = await fetchMetrics(adminPort);
    assert.equal(metricValue(metrics, 'rampart_acme_orders_total{result="success"}'), 1);
    issuedFingerprint = issued.fingerprint256;
  });

  test("down again at a restart: the stored certificate is served at once, nothing is ordered", async () => {
    assert.notEqual(issuedFingerprint, "", "needs the previous test's certificate");
    await gateway!.close();
    gateway = undefined;
    const root = await pebble!.issuingRoot();
    await pebble!.stop();

    const started = Date.now();
    gateway = await startGateway(config());
    // Loading the stored certificate (and asking the unreachable server for ARI) does not hold the start up.
    assert.ok(Date.now() - started < 5_000, `the gateway took ${Date.now() - started} ms to start`);
    const { adminPort, httpsPort } = gateway;
    assert.deepEqual(await pendingCertificates(adminPort), []);
    assert.equal((await certificateEntry(adminPort, NAME))?.source, "acme");
    const served = await verifiedHandshake(httpsPort, NAME, root);
    assert.equal(served.fingerprint256, issuedFingerprint);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const metrics = await fetchMetrics(adminPort);
    assert.equal(metricValue(metrics, 'rampart_acme_orders_total{result="failure"}'), 0);
    assert.equal(metricValue(metrics, 'rampart_acme_orders_total{result="success"}'), 0);
  });
});

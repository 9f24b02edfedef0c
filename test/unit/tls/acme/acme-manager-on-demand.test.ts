// The ACME manager's on-demand side without an ACME server: stored certificates adopted, names kept
// across reloads, and a failed first order that blocks the name instead of retrying in the background.
import assert from "node:assert/strict";
import { test } from "node:test";
import { configSchema } from "../../../../src/config/schema.js";
import { silentLogger } from "../../../../src/observability/logger.js";
import { GatewayMetrics } from "../../../../src/observability/metrics.js";
import { MemoryCertStore } from "../../../../src/state/memory-cert-store.js";
import { AcmeManager } from "../../../../src/tls/acme/acme-manager.js";
import { CertificateResolver } from "../../../../src/tls/certificate-resolver.js";
import { generateSelfSigned } from "../../../../src/tls/self-signed.js";
import { tlsConfig, withTempDir } from "../../../fixtures/tls/tls-helpers.js";

const DAY = 86_400_000;

async function setup(dir: string) {
  // Nothing listens on port 1: the directory is unreachable, so every order fails fast.
  const acme = configSchema.parse({ tls: { acme: { enabled: true, directoryUrl: "http://127.0.0.1:1/dir", retry: { initial: "1m" } } } }).tls.acme;
  const resolver = await CertificateResolver.create(tlsConfig({ certDir: dir }), [], silentLogger);
  const store = new MemoryCertStore(dir);
  const metrics = new GatewayMetrics({ defaultMetrics: false });
  const manager = new AcmeManager(acme, ["configured.test"], store, resolver, metrics, silentLogger);
  return { manager, resolver, store, metrics };
}

test("a stored, unexpired certificate is adopted, served and kept across reloads", async () => {
  await withTempDir(async (dir) => {
    const { manager, resolver, store } = await setup(dir);
    try {
      assert.equal(await manager.adoptOnDemand("stored.test"), false, "nothing stored yet");
      assert.equal(manager.has("stored.test"), false);
      await store.putCertificate("stored.test", await generateSelfSigned(["stored.test"]));
      assert.equal(await manager.adoptOnDemand("stored.test"), true);
      assert.equal(manager.has("stored.test"), true);
      assert.equal(resolver.list().find((entry) => entry.domain === "stored.test")?.source, "acme");

      manager.setDomains(["other.test"]);
      assert.equal(manager.has("configured.test"), false, "a configured name leaves with the config");
      assert.equal(manager.has("stored.test"), true, "an on-demand name survives the reload");
      // Once configured, it follows the config like any name.
      manager.setDomains(["stored.test"]);
      manager.setDomains([]);
      assert.equal(manager.has("stored.test"), false);
    } finally {
      manager.stop();
    }
  });
});

test("an expired stored certificate is not adopted (it goes through ask and the rate caps)", async () => {
  await withTempDir(async (dir) => {
    const { manager, store } = await setup(dir);
    try {
      const now = new Date(Date.now() - 100 * DAY);
      await store.putCertificate("old.test", await generateSelfSigned(["old.test"], { now, validityDays: 30 }));
      assert.equal(await manager.adoptOnDemand("old.test"), false);
      assert.equal(manager.has("old.test"), false);
    } finally {
      manager.stop();
    }
  });
});

test("a failed first order rejects, drops the name and blocks new orders for the backoff", async () => {
  await withTempDir(async (dir) => {
    const { manager, metrics } = await setup(dir);
    try {
      await assert.rejects(manager.certifyOnDemand("fails.test"));
      assert.equal(manager.has("fails.test"), false, "not retried in the background");
      assert.deepEqual(manager.pending(), ["configured.test"]);
      const until = manager.blockedUntil("fails.test");
      assert.ok(until !== undefined && until > Date.now() + 50_000 && until <= Date.now() + 60_000, "blocked for retry.initial (1 min)");
      await assert.rejects(manager.certifyOnDemand("fails.test"), /no new one before/);
      const text = await metrics.registry.metrics();
      assert.match(text, /rampart_acme_orders_total\{result="failure"\} 1\n/);
    } finally {
      manager.stop();
    }
  });
});

test("a stopped manager orders nothing", async () => {
  await withTempDir(async (dir) => {
    const { manager } = await setup(dir);
    manager.stop();
    await assert.rejects(manager.certifyOnDemand("x.test"), /stopped/);
    assert.equal(manager.has("x.test"), false);
  });
});

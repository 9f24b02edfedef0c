// How the resolver's SNICallback waits for on-demand certificates: known names never reach the policy,
// unknown ones wait at most handshakeWaitMs, and the callback is called exactly once in every case.
import assert from "node:assert/strict";
import type { SecureContext } from "node:tls";
import { test } from "node:test";
import { silentLogger } from "../../../../src/observability/logger.js";
import { CertificateResolver, type OnDemandCertificates } from "../../../../src/tls/certificate-resolver.js";
import { generateSelfSigned } from "../../../../src/tls/self-signed.js";
import { tlsConfig, withTempDir } from "../../../fixtures/tls/tls-helpers.js";

interface Answer {
  readonly err: Error | null;
  readonly ctx: SecureContext | undefined;
  readonly afterMs: number;
}

/** Every answer the SNICallback gives for `name` within `ms`. */
async function answers(resolver: CertificateResolver, name: string, ms: number): Promise<Answer[]> {
  const started = Date.now();
  const given: Answer[] = [];
  resolver.sniCallback(name, (err, ctx) => given.push({ err, ctx, afterMs: Date.now() - started }));
  await new Promise((resolve) => setTimeout(resolve, ms));
  return given;
}

function fallbackContext(resolver: CertificateResolver): Promise<SecureContext | undefined> {
  return new Promise((resolve) => resolver.sniCallback("fallback-probe.invalid", (_err, ctx) => resolve(ctx)));
}

test("known names never reach on-demand; unknown ones wait at most handshakeWaitMs for the fallback", async () => {
  await withTempDir(async (dir) => {
    const resolver = await CertificateResolver.create(tlsConfig({ certDir: dir }), [], silentLogger);
    const fallback = await fallbackContext(resolver);
    resolver.install("known.test", await generateSelfSigned(["known.test"]), "acme");
    const asked: string[] = [];
    const never = new Promise<boolean>(() => undefined);
    resolver.setOnDemand({ handshakeWaitMs: 80, certificateFor: (name) => (asked.push(name), name === "refused.test" ? undefined : never) });

    const known = await answers(resolver, "KNOWN.test", 10);
    assert.equal(known.length, 1);
    assert.notEqual(known[0]!.ctx, fallback);
    const refused = await answers(resolver, "refused.test", 10);
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.ctx, fallback);
    assert.ok(refused[0]!.afterMs < 10);

    const slow = await answers(resolver, "slow.test", 300);
    assert.equal(slow.length, 1);
    assert.equal(slow[0]!.err, null);
    assert.equal(slow[0]!.ctx, fallback);
    assert.ok(slow[0]!.afterMs >= 70 && slow[0]!.afterMs < 250, `${slow[0]!.afterMs} ms`);
    assert.deepEqual(asked, ["refused.test", "slow.test"]);
  });
});

test("a certificate installed before the attempt settles is served to the waiting handshake", async () => {
  await withTempDir(async (dir) => {
    const resolver = await CertificateResolver.create(tlsConfig({ certDir: dir }), [], silentLogger);
    const fallback = await fallbackContext(resolver);
    const pem = await generateSelfSigned(["new.test"]);
    const onDemand: OnDemandCertificates = {
      handshakeWaitMs: 2_000,
      certificateFor: async () => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        resolver.install("new.test", pem, "acme");
        return true;
      },
    };
    resolver.setOnDemand(onDemand);
    const given = await answers(resolver, "new.test.", 200);
    assert.equal(given.length, 1);
    assert.ok(given[0]!.ctx !== undefined && given[0]!.ctx !== fallback);
    assert.ok(given[0]!.afterMs < 200);
  });
});

test("a rejected attempt still answers once, with the fallback", async () => {
  await withTempDir(async (dir) => {
    const resolver = await CertificateResolver.create(tlsConfig({ certDir: dir }), [], silentLogger);
    const fallback = await fallbackContext(resolver);
    resolver.setOnDemand({ handshakeWaitMs: 1_000, certificateFor: () => Promise.reject(new Error("boom")) });
    const given = await answers(resolver, "x.test", 50);
    assert.equal(given.length, 1);
    assert.equal(given[0]!.ctx, fallback);
  });
});

test("without a fallback certificate the handshake fails (fail closed), once", async () => {
  await withTempDir(async (dir) => {
    const resolver = await CertificateResolver.create(tlsConfig({ certDir: dir, selfSigned: false }), [], silentLogger);
    resolver.setOnDemand({ handshakeWaitMs: 20, certificateFor: () => Promise.resolve(false) });
    const given = await answers(resolver, "x.test", 100);
    assert.equal(given.length, 1);
    assert.match(given[0]!.err?.message ?? "", /no certificate for "x.test"/);
    assert.equal(given[0]!.ctx, undefined);
  });
});

test("a callback that throws is contained: no uncaught exception, no second call", async () => {
  await withTempDir(async (dir) => {
    const resolver = await CertificateResolver.create(tlsConfig({ certDir: dir }), [], silentLogger);
    resolver.setOnDemand({ handshakeWaitMs: 20, certificateFor: () => new Promise<boolean>(() => undefined) });
    let calls = 0;
    resolver.sniCallback("x.test", () => {
      calls++;
      throw new Error("from the callback");
    });
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(calls, 1);
  });
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { configSchema, type OnDemandConfig } from "../../../../src/config/schema.js";
import { silentLogger } from "../../../../src/observability/logger.js";
import { AskClient, type AskResult } from "../../../../src/tls/on-demand/ask-client.js";
import { IssuanceRate } from "../../../../src/tls/on-demand/issuance-rate.js";
import { OnDemandPolicy, type OnDemandIssuer, type OnDemandResult } from "../../../../src/tls/on-demand/on-demand-policy.js";

function onDemandConfig(input: Record<string, unknown> = {}): OnDemandConfig {
  return configSchema.parse({ tls: { acme: { enabled: true }, onDemand: { enabled: true, ask: "http://127.0.0.1:1/ask", ...input } } }).tls.onDemand;
}

/** An issuer whose store holds `stored` and whose orders resolve when `release` is called (or fail with `fail`). */
class FakeIssuer implements OnDemandIssuer {
  readonly managed = new Set<string>();
  readonly stored = new Set<string>();
  readonly orders: string[] = [];
  readonly adoptions: string[] = [];
  storeDown = false;
  fail = false;
  readonly blocked = new Map<string, number>();
  #release: (() => void)[] = [];

  has(name: string): boolean {
    return this.managed.has(name);
  }
  adoptOnDemand(name: string): Promise<boolean> {
    this.adoptions.push(name);
    if (this.storeDown) return Promise.reject(new Error("store down"));
    if (!this.stored.has(name)) return Promise.resolve(false);
    this.managed.add(name);
    return Promise.resolve(true);
  }
  certifyOnDemand(name: string): Promise<void> {
    this.orders.push(name);
    if (this.fail) return Promise.reject(new Error("validation failed"));
    return new Promise((resolve) => this.#release.push(() => {
      this.managed.add(name);
      resolve();
    }));
  }
  blockedUntil(name: string): number | undefined {
    return this.blocked.get(name);
  }
  release(): void {
    for (const release of this.#release.splice(0)) release();
  }
}

function setup(options: { config?: Record<string, unknown>; answers?: Record<string, AskResult>; configured?: string[] } = {}) {
  const issuer = new FakeIssuer();
  const asked: string[] = [];
  const counts = new Map<OnDemandResult, number>();
  const config = onDemandConfig(options.config);
  const ask = new AskClient(
    (name) => {
      asked.push(name);
      return Promise.resolve(options.answers?.[name] ?? (name.startsWith("ok") ? { answer: "allowed", status: 200 } : { answer: "denied", status: 403 }));
    },
    { allowTtl: config.allowTtl, denyTtl: config.denyTtl },
  );
  const policy = new OnDemandPolicy({
    config,
    issuer,
    logger: silentLogger,
    count: (result) => counts.set(result, (counts.get(result) ?? 0) + 1),
    ask,
    rate: new IssuanceRate(config.rate),
    configured: (name) => options.configured?.includes(name) === true,
  });
  return { policy, issuer, asked, counts: (result: OnDemandResult) => counts.get(result) ?? 0 };
}

test("IP literals, malformed names and names outside the suffixes are refused without asking or touching the store", () => {
  const { policy, issuer, asked, counts } = setup({ config: { suffixes: [".example.com"] } });
  for (const name of ["127.0.0.1", "::1", "localhost", "bad_name.example.com", "*.example.com", "ok.example.org", "example.com"]) {
    assert.equal(policy.certificateFor(name), undefined, name);
  }
  assert.equal(counts("refused_name"), 7);
  assert.deepEqual(asked, []);
  assert.deepEqual(issuer.adoptions, []);
});

test("configured names and names ACME already manages are left alone", () => {
  const { policy, issuer, asked } = setup({ configured: ["ok-route.test"] });
  issuer.managed.add("ok-acme.test");
  assert.equal(policy.certificateFor("ok-route.test"), undefined);
  assert.equal(policy.certificateFor("OK-ACME.test."), undefined);
  assert.deepEqual(asked, []);
});

test("a stored certificate is served without asking", async () => {
  const { policy, issuer, asked, counts } = setup();
  issuer.stored.add("denied-but-stored.test");
  assert.equal(await policy.certificateFor("Denied-But-Stored.test."), true);
  assert.deepEqual(issuer.adoptions, ["denied-but-stored.test"]);
  assert.deepEqual(asked, []);
  assert.deepEqual(issuer.orders, []);
  assert.equal(counts("stored"), 1);
});

test("an allowed name is ordered; concurrent handshakes share one look-up, one question and one order", async () => {
  const { policy, issuer, asked, counts } = setup();
  const first = policy.certificateFor("ok.test")!;
  const second = policy.certificateFor("OK.test")!;
  const third = policy.certificateFor("ok.test.")!;
  assert.equal(second, first);
  assert.equal(third, first);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(issuer.orders, ["ok.test"]);
  issuer.release();
  assert.deepEqual(await Promise.all([first, second, third]), [true, true, true]);
  assert.deepEqual(asked, ["ok.test"]);
  assert.deepEqual(issuer.adoptions, ["ok.test"]);
  assert.equal(counts("allowed"), 1);
  // Served now: ACME manages it, the policy is not consulted again.
  assert.equal(policy.certificateFor("ok.test"), undefined);
});

test("a denied name gets no order, and the denial is remembered", async () => {
  const { policy, issuer, asked, counts } = setup();
  assert.equal(await policy.certificateFor("no.test"), false);
  assert.equal(await policy.certificateFor("no.test"), false);
  assert.deepEqual(asked, ["no.test"]);
  assert.deepEqual(issuer.orders, []);
  assert.equal(counts("denied"), 2);
});

test("an ask error denies (fail closed)", async () => {
  const { policy, issuer, counts } = setup({ answers: { "ok-down.test": { answer: "error", error: "ECONNREFUSED" } } });
  assert.equal(await policy.certificateFor("ok-down.test"), false);
  assert.deepEqual(issuer.orders, []);
  assert.equal(counts("ask_error"), 1);
});

test("a store that fails is treated as holding nothing: the name is asked about", async () => {
  const { policy, issuer, asked } = setup();
  issuer.storeDown = true;
  assert.equal(await policy.certificateFor("no.test"), false);
  assert.deepEqual(asked, ["no.test"]);
});

test("orders beyond the rate caps are not made (fail closed)", async () => {
  const { policy, issuer, counts } = setup({ config: { rate: { perName: 1, total: 3, window: "1m" } } });
  issuer.fail = true; // failed orders count against the caps too
  for (const name of ["ok1.test", "ok2.test", "ok3.test", "ok4.test", "ok5.test"]) assert.equal(await policy.certificateFor(name), false);
  assert.deepEqual(issuer.orders, ["ok1.test", "ok2.test", "ok3.test"]);
  assert.equal(counts("allowed"), 3);
  assert.equal(counts("rate_limited"), 2);
});

test("a name a failed order blocks is neither asked about nor charged to the rate caps", async () => {
  const { policy, issuer, asked, counts } = setup({ config: { rate: { perName: 1, total: 1, window: "1m" } } });
  issuer.blocked.set("ok-blocked.test", Date.now() + 60_000);
  for (let i = 0; i < 3; i++) assert.equal(await policy.certificateFor("ok-blocked.test"), false);
  assert.deepEqual(asked, []);
  assert.equal(counts("rate_limited"), 3);
  assert.equal(policy.rate.inWindow, 0);
  assert.deepEqual(issuer.orders, []);
});

test("a failed order resolves false (the handshake gets the fallback), never rejects", async () => {
  const { policy, issuer } = setup();
  issuer.fail = true;
  assert.equal(await policy.certificateFor("ok.test"), false);
});

test("renewals of on-demand names ask again", async () => {
  const { policy } = setup();
  assert.equal(await policy.allowsRenewal("ok.test"), true);
  assert.equal(await policy.allowsRenewal("no.test"), false);
});

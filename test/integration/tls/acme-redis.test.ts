// Two gateway instances sharing one real Redis order certificates from a real pebble: the fleet lock
// makes exactly one order per name, both instances serve the same certificate, and the HTTP-01
// challenge is answered by whichever instance pebble reaches. Pebble validates on one port: a TCP
// forwarder there sends each validation to the instance that did NOT create the challenge, so every
// success proves the answer came from the shared store. With Redis down at start, an instance starts on
// the fallback and orders once Redis is back.
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { startGateway, type ConfigObject, type TestGateway } from "../../helpers/gateway.js";
import { startPebble, type Pebble } from "../../helpers/pebble.js";
import { captureLogger, eventually, fetchMetrics, metricValue, type CapturedLog } from "../../helpers/proxy-tools.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import { allIssuedByAcme, listCertificates, pendingCertificates, servedCertificate, startTcpForwarder, verifiedHandshake, type TcpForwarder } from "../../helpers/acme-tools.js";

const NAMES = ["a.test", "b.test"] as const;
const CHALLENGE_PREFIX = "/.well-known/acme-challenge/";

interface Instance {
  readonly name: "A" | "B";
  readonly log: CapturedLog;
  gateway?: TestGateway;
}

describe("two instances sharing one Redis order through one fleet", { timeout: 90_000 }, () => {
  let pebble: Pebble | undefined;
  let redis: TestRedis | undefined;
  let backend: Backend | undefined;
  let forwarder: TcpForwarder | undefined;
  let alone: TestGateway | undefined;
  const instances: Instance[] = [
    { name: "A", log: captureLogger() },
    { name: "B", log: captureLogger() },
  ];

  before(async () => {
    pebble = await startPebble();
    redis = await startRedis();
    backend = await startBackend();
  });

  after(async () => {
    for (const instance of instances) await instance.gateway?.close();
    await alone?.close();
    await forwarder?.close();
    await backend?.close();
    await redis?.stop();
    await pebble?.close();
  });

  /** The instances that logged an order (first issuance or renewal) for `domain`. */
  function orderers(domain: string): Instance[] {
    return instances.filter((instance) =>
      instance.log.lines.some((line) => (line.msg === "ordering certificate" || line.msg === "renewing certificate") && line.domain === domain),
    );
  }

  test("one order per name, the same certificate on both, challenges answered from the shared store", async () => {
    const config: ConfigObject = {
      store: { kind: "redis", redis: { url: redis!.url, keyPrefix: "rampart:acme-fleet:" } },
      tls: { acme: { enabled: true, directoryUrl: pebble!.directoryUrl, caFile: pebble!.caFile, checkInterval: "2s" } },
      services: { app: { targets: [{ url: backend!.url }] } },
      routes: NAMES.map((host) => ({ name: host, match: { host }, service: "app" })),
    };

    // Pebble reaches the fleet through the forwarder: each validation goes to an instance that did not order the name.
    let started: () => void = () => {};
    const bothStarted = new Promise<void>((resolve) => (started = resolve));
    let turn = 0;
    forwarder = await startTcpForwarder(pebble!.httpPort, async (host) => {
      await bothStarted;
      const ordering = orderers(host);
      const others = instances.filter((instance) => !ordering.includes(instance));
      const target = others[0] ?? instances[turn++ % instances.length]!;
      return target.gateway!.httpPort;
    });

    // Both start at the same moment: both race for every name.
    const [a, b] = await Promise.all([startGateway(config, { logger: instances[0]!.log.logger }), startGateway(config, { logger: instances[1]!.log.logger })]);
    instances[0]!.gateway = a;
    instances[1]!.gateway = b;
    started();
    for (const instance of instances) assert.deepEqual((await pendingCertificates(instance.gateway!.adminPort)).sort(), [...NAMES]);

    await eventually(
      async () => {
        for (const instance of instances) if (!(await allIssuedByAcme(instance.gateway!.adminPort, NAMES))) return undefined;
        return true;
      },
      30_000,
      "ACME certificates for both names on both instances",
      200,
    );
    assert.equal(pebble!.issued(), NAMES.length);

    const root = await pebble!.issuingRoot();
    for (const name of NAMES) {
      const fromA = await verifiedHandshake(a.httpsPort, name, root);
      const fromB = await verifiedHandshake(b.httpsPort, name, root);
      assert.equal(fromA.subjectaltname, `DNS:${name}`);
      assert.equal(fromB.fingerprint256, fromA.fingerprint256, `both instances serve the same certificate for ${name}`);
    }
    for (const instance of instances) assert.deepEqual(await pendingCertificates(instance.gateway!.adminPort), []);

    // Every validation was answered, by an instance that had not created the challenge.
    const validations = forwarder.exchanges.filter((exchange) => exchange.path.startsWith(CHALLENGE_PREFIX));
    for (const name of NAMES) {
      const ordering = orderers(name);
      assert.equal(ordering.length, 1, `${name} ordered by ${ordering.map((instance) => instance.name).join(", ")}`);
      const answered = validations.filter((exchange) => exchange.host === name);
      assert.ok(answered.length >= 1, `pebble validated ${name}`);
      for (const exchange of answered) {
        assert.equal(exchange.status, 200);
        assert.notEqual(exchange.target, ordering[0]!.gateway!.httpPort, `${name}'s challenge went to a peer`);
      }
    }

    // The instances keep checking every ~2 s: still one order per name a few seconds later.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    assert.equal(pebble!.issued(), NAMES.length);
    let successes = 0;
    for (const instance of instances) {
      const metrics = await fetchMetrics(instance.gateway!.adminPort);
      successes += metricValue(metrics, 'rampart_acme_orders_total{result="success"}') ?? 0;
      assert.equal(metricValue(metrics, 'rampart_acme_orders_total{result="failure"}'), 0, `instance ${instance.name}`);
    }
    assert.equal(successes, NAMES.length);
    for (const name of NAMES) assert.equal(orderers(name).length, 1);

    // In Redis mode nothing is written under certDir/acme: certificates and keys live in Redis.
    for (const instance of instances) {
      await assert.rejects(stat(join(instance.gateway!.dir, "certs", "acme")), { code: "ENOENT" });
    }
  });

  test("Redis down at start: the instance starts on the fallback and orders once Redis is back", async () => {
    for (const instance of instances) await instance.gateway?.close();
    for (const instance of instances) instance.gateway = undefined;
    await forwarder?.close();
    forwarder = undefined;
    await redis!.stop();
    const issuedBefore = pebble!.issued();

    alone = await startGateway({
      listen: { http: `127.0.0.1:${pebble!.httpPort}` },
      store: { kind: "redis", redis: { url: redis!.url, keyPrefix: "rampart:acme-outage:" } },
      tls: { acme: { enabled: true, directoryUrl: pebble!.directoryUrl, caFile: pebble!.caFile, checkInterval: "2s" } },
      services: { app: { targets: [{ url: backend!.url }] } },
      routes: NAMES.map((host) => ({ name: host, match: { host }, service: "app" })),
    });
    const { adminPort, httpsPort } = alone;
    assert.deepEqual((await pendingCertificates(adminPort)).sort(), [...NAMES]);
    for (const name of NAMES) {
      assert.ok((await servedCertificate(httpsPort, name)).subjectaltname.split(", ").includes(`DNS:${name}`));
      assert.equal((await request({ port: httpsPort, tls: true, servername: name, headers: { host: name } })).status, 200);
    }
    // Without the store (no lock, nowhere to keep the result) nothing is ordered.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(pebble!.issued(), issuedBefore);
    assert.equal((await listCertificates(adminPort)).find((entry) => entry.domain === NAMES[0])?.source, "self-signed");

    await redis!.restart();
    await eventually(async () => ((await allIssuedByAcme(adminPort, NAMES)) ? true : undefined), 30_000, "ACME certificates once Redis is back", 200);
    const root = await pebble!.issuingRoot();
    for (const name of NAMES) assert.equal((await verifiedHandshake(httpsPort, name, root)).subjectaltname, `DNS:${name}`);
    assert.equal(pebble!.issued(), issuedBefore + NAMES.length);
    assert.deepEqual(await pendingCertificates(adminPort), []);
  });
});

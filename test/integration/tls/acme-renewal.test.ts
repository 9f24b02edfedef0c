// Renewal against a real pebble: with renewBefore longer than the certificate's lifetime every check
// renews, and the renewed certificate replaces the served one while clients keep connecting (fresh
// verified handshakes and one kept-alive connection), without a single error.
import assert from "node:assert/strict";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { startGateway, type TestGateway } from "../../helpers/gateway.js";
import { startPebble, type Pebble } from "../../helpers/pebble.js";
import { eventually, fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";
import { certificateEntry, verifiedGet, verifiedHandshake } from "../../helpers/acme-tools.js";

const NAME = "a.test";

describe("ACME renewal against pebble", { timeout: 90_000 }, () => {
  let pebble: Pebble | undefined;
  let backend: Backend | undefined;
  let gateway: TestGateway | undefined;
  let agent: https.Agent | undefined;

  before(async () => {
    pebble = await startPebble();
    backend = await startBackend();
  });

  after(async () => {
    agent?.destroy();
    await gateway?.close();
    await backend?.close();
    await pebble?.close();
  });

  test("a due certificate is renewed and swapped in while clients keep connecting without errors", async () => {
    const root = await pebble!.issuingRoot();
    gateway = await startGateway({
      listen: { http: `127.0.0.1:${pebble!.httpPort}` },
      tls: {
        acme: {
          enabled: true,
          directoryUrl: pebble!.directoryUrl,
          caFile: pebble!.caFile,
          // Pebble's certificates live about five years: every certificate is due as soon as it is issued.
          renewBefore: "3650d",
          checkInterval: "2s",
        },
      },
      services: { app: { targets: [{ url: backend!.url }] } },
      routes: [{ name: "a", match: { host: NAME }, service: "app" }],
    });
    const { adminPort, httpsPort } = gateway;

    await eventually(async () => ((await certificateEntry(adminPort, NAME))?.source === "acme" ? true : undefined), 30_000, "the first certificate", 100);
    const first = await verifiedHandshake(httpsPort, NAME, root);
    const issuedAtFirst = pebble!.issued();
    assert.ok(issuedAtFirst >= 1);

    // Clients: fresh verified connections back to back, and requests on one kept-alive connection.
    const seen = new Set<string>([first.fingerprint256]);
    let freshRequests = 0;
    const keptAlivePorts = new Set<number>();
    let keptAliveRequests = 0;
    agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: root, servername: NAME });
    let stop = false;
    const loop = async (request: () => Promise<void>) => {
      while (!stop) await request();
    };
    const clients = Promise.all([
      loop(async () => {
        const response = await verifiedGet(httpsPort, NAME, root);
        assert.equal(response.status, 200);
        seen.add(response.fingerprint256);
        freshRequests++;
      }),
      loop(async () => {
        const { status, localPort } = await keptAliveGet(agent!, httpsPort);
        assert.equal(status, 200);
        keptAlivePorts.add(localPort);
        keptAliveRequests++;
      }),
    ]);
    let failure: unknown;
    clients.catch((error: unknown) => (failure ??= error));

    try {
      const deadline = Date.now() + 30_000;
      while (!(seen.size >= 2 && pebble!.issued() > issuedAtFirst)) {
        if (failure !== undefined) break; // rethrown below
        assert.ok(Date.now() < deadline, `no renewed certificate served within 30 s (issued ${pebble!.issued()})`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      stop = true;
      await clients;
    }

    assert.ok(freshRequests > 10, `only ${freshRequests} requests on fresh connections`);
    assert.ok(keptAliveRequests > 10, `only ${keptAliveRequests} requests on the kept-alive connection`);
    assert.equal(keptAlivePorts.size, 1, "the kept-alive connection was never dropped");

    const renewed = await verifiedHandshake(httpsPort, NAME, root);
    assert.equal(renewed.authorized, true);
    assert.equal(renewed.subjectaltname, `DNS:${NAME}`);
    const metrics = await fetchMetrics(adminPort);
    assert.ok(metricValue(metrics, 'rampart_acme_orders_total{result="success"}')! >= 2);
    assert.equal(metricValue(metrics, 'rampart_acme_orders_total{result="failure"}'), 0);
  });
});

function keptAliveGet(agent: https.Agent, port: number): Promise<{ status: number; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port, path: "/", agent, headers: { host: NAME } }, (res) => {
      const localPort = (res.socket.address() as AddressInfo).port;
      res.resume();
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, localPort }));
    });
    req.on("error", reject);
    req.setTimeout(5_000, () => req.destroy(new Error("request timed out")));
    req.end();
  });
}

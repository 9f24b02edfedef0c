// Memory mode keeps bans across a restart, as Fail2Ban's database does: a gateway started again on the
// same config file and store.dir re-applies every ban still in force before it serves (GET /api/bans
// lists it, the banned address is closed at accept) and drops the ones that expired meanwhile.
// The shared test helper deletes its directory on close, so this file runs gateways on its own one.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import { Gateway } from "../../../src/main.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { addBan, listBans } from "../../helpers/admin-api.js";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { tlsHandshake } from "../../helpers/guards.js";
import { fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";

describe("bans survive a restart (memory store)", () => {
  let backend: Backend;
  let dir: string;
  let configFile: string;
  const running: Gateway[] = [];

  before(async () => {
    backend = await startBackend();
    dir = await mkdtemp(join(tmpdir(), "rampart-restart-"));
    configFile = join(dir, "gateway.yaml");
    await writeFile(
      configFile,
      stringify({
        listen: { http: "127.0.0.1:0", https: "127.0.0.1:0", admin: "127.0.0.1:0" },
        shutdownGrace: "1s",
        log: { level: "silent" },
        tls: { certDir: join(dir, "certs") },
        store: { kind: "memory", dir: join(dir, "state") },
        services: { app: { targets: [{ url: backend.url }] } },
        routes: [{ name: "app", match: { pathPrefix: "/" }, service: "app" }],
      }),
    );
  });
  after(async () => {
    for (const gateway of running) await gateway.close();
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(): Promise<Gateway> {
    const gateway = await Gateway.start({ configFile, logger: silentLogger, accessLog: { write: () => {} } });
    running.push(gateway);
    return gateway;
  }

  async function stop(gateway: Gateway): Promise<void> {
    await gateway.close();
    running.splice(running.indexOf(gateway), 1);
  }

  const adminPort = (gateway: Gateway) => gateway.addresses.admin!.port;

  test("unexpired bans are re-applied before serving; expired ones are not", async () => {
    const first = await start();
    assert.equal((await request({ port: first.addresses.https.port, tls: true })).status, 200);
    const kept = await addBan(adminPort(first), "127.0.0.1", "1h", "kept across restarts");
    const v6 = await addBan(adminPort(first), "2001:db8:7:7::1", "1h", "v6 prefix");
    const shortLived = await addBan(adminPort(first), "203.0.113.50", "1s", "expires while down");
    const bannedAt = Date.now();
    assert.equal(await tlsHandshake(first.addresses.https.port), "closed");
    // Closing flushes the debounced write at once.
    await stop(first);

    const file = join(dir, "state", "bans.json");
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const saved = JSON.parse(await readFile(file, "utf8")) as { bans: { ip: string }[] };
    assert.deepEqual(saved.bans.map((entry) => entry.ip).sort(), ["127.0.0.1", "2001:db8:7:7::/64", "203.0.113.50"], "the short ban was written too");

    // Let the short ban lapse while the gateway is down.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, bannedAt + 1_100 - Date.now())));

    const second = await start();
    const listed = await listBans(adminPort(second));
    assert.deepEqual(
      listed.sort((a, b) => a.ip.localeCompare(b.ip)),
      [kept, v6].sort((a, b) => a.ip.localeCompare(b.ip)),
      "the same bans, same until and reason; the expired one is gone",
    );
    assert.ok(!listed.some((entry) => entry.ip === shortLived.ip));
    assert.equal(await tlsHandshake(second.addresses.https.port), "closed", "127.0.0.1 is refused at accept");
    await assert.rejects(request({ port: second.addresses.https.port, tls: true }));
    const metrics = await fetchMetrics(adminPort(second));
    assert.equal(metricValue(metrics, "rampart_bans_active"), 2);
    assert.ok((metricValue(metrics, 'rampart_connections_rejected_total{reason="banned"}') ?? 0) >= 2);

    // Lifting it after the restart is persisted too: a third start has it no more.
    assert.equal((await request({ port: adminPort(second), path: "/api/bans/127.0.0.1", method: "DELETE" })).status, 200);
    await stop(second);
    const third = await start();
    assert.deepEqual(
      (await listBans(adminPort(third))).map((entry) => entry.ip),
      ["2001:db8:7:7::/64"],
    );
    assert.equal((await request({ port: third.addresses.https.port, tls: true })).status, 200);
    await stop(third);
  });
});

// DNS-01 end to end against a real pebble. rfc2136: pebble's validation DNS is a real BIND 9 with a
// TSIG-signed dynamic zone, which Rampart updates; a wildcard certificate is issued and served by SNI
// for two names under it. exec, httpreq and acme-dns: pebble asks pebble-challtestsrv, which a hook
// script, an httpreq endpoint and an acme-dns endpoint (small servers in this test) feed through its
// management API. Every record is gone afterwards, also when the order fails.
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { Resolver } from "node:dns/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { startBind, type Bind } from "../../helpers/bind.js";
import { startGateway, type ConfigObject, type TestGateway } from "../../helpers/gateway.js";
import { startPebble, type Pebble } from "../../helpers/pebble.js";
import { captureLogger, eventually, fetchMetrics, metricSample } from "../../helpers/proxy-tools.js";
import { allIssuedByAcme, verifiedGet, verifiedHandshake } from "../../helpers/acme-tools.js";

const ISSUANCE_MS = 40_000;

function acmeConfig(pebble: Pebble, backend: Backend, domains: readonly string[], dns: ConfigObject, routeHost = domains[0]!): ConfigObject {
  return {
    tls: {
      acme: {
        enabled: true,
        directoryUrl: pebble.directoryUrl,
        caFile: pebble.caFile,
        checkInterval: "2s",
        challenge: "dns-01",
        domains,
        dns: { propagationInterval: "100ms", propagationTimeout: "10s", ...dns },
      },
    },
    services: { app: { targets: [{ url: backend.url }] } },
    routes: [{ name: "app", match: { host: routeHost }, service: "app" }],
  };
}

async function orders(adminPort: number, result: "success" | "failure"): Promise<number> {
  return metricSample(await fetchMetrics(adminPort), "rampart_acme_orders_total", { result }) ?? 0;
}

describe("DNS-01 with rfc2136 against BIND: a wildcard certificate", { timeout: 120_000 }, () => {
  let bind: Bind | undefined;
  let pebble: Pebble | undefined;
  let backend: Backend | undefined;
  let gateway: TestGateway | undefined;
  const log = captureLogger();

  before(async () => {
    bind = await startBind("rampart.test");
    pebble = await startPebble({ dnsServer: bind.server });
    backend = await startBackend();
  });
  after(async () => {
    await gateway?.close();
    await backend?.close();
    await pebble?.close();
    await bind?.close();
    delete process.env.RAMPART_TEST_TSIG_SECRET;
  });

  test("*.rampart.test and rampart.test are issued; two names under the wildcard verify by SNI; the records are removed", async () => {
    // The secret comes from the environment, as an operator's would.
    process.env.RAMPART_TEST_TSIG_SECRET = bind!.secret;
    const rfc2136 = { server: bind!.server, keyName: bind!.keyName, algorithm: "hmac-sha256", secret: "${RAMPART_TEST_TSIG_SECRET}" };
    const config = acmeConfig(pebble!, backend!, ["*.rampart.test", "rampart.test"], { provider: "rfc2136", rfc2136, resolvers: [bind!.server] }, "*.rampart.test");
    gateway = await startGateway(config, { logger: log.logger });
    await eventually(async () => ((await allIssuedByAcme(gateway!.adminPort, ["*.rampart.test", "rampart.test"])) ? true : undefined), ISSUANCE_MS, "both certificates", 200);

    const root = await pebble!.issuingRoot();
    for (const name of ["a.rampart.test", "b.rampart.test"]) {
      const served = await verifiedHandshake(gateway.httpsPort, name, root);
      assert.equal(served.authorized, true);
      assert.equal(served.subjectaltname, "DNS:*.rampart.test");
      assert.equal((await verifiedGet(gateway.httpsPort, name, root)).status, 200);
    }
    assert.equal((await verifiedHandshake(gateway.httpsPort, "rampart.test", root)).subjectaltname, "DNS:rampart.test");
    // A wildcard covers one label only: a.b.rampart.test does not verify with it.
    await assert.rejects(verifiedHandshake(gateway.httpsPort, "a.b.rampart.test", root));

    // Both orders wrote at _acme-challenge.rampart.test. (a wildcard is validated at its base name); both values are gone.
    assert.deepEqual(await bind!.txt("_acme-challenge.rampart.test."), []);
    assert.equal(await orders(gateway.adminPort, "success"), 2);
    const published = log.lines.filter((line) => line.msg === "DNS-01 record published; waiting for it to propagate");
    assert.deepEqual(published.map((line) => line.record), ["_acme-challenge.rampart.test.", "_acme-challenge.rampart.test."]);
    assert.ok(!JSON.stringify(log.lines).includes(bind!.secret), "the TSIG secret is never logged");
  });
});

describe("DNS-01: a failed order still removes its record", { timeout: 120_000 }, () => {
  let bind: Bind | undefined;
  let pebble: Pebble | undefined;
  let backend: Backend | undefined;
  let gateway: TestGateway | undefined;

  before(async () => {
    bind = await startBind("rampart.test");
    // Pebble asks pebble-challtestsrv, which never sees what Rampart writes to BIND: validation fails.
    pebble = await startPebble();
    backend = await startBackend();
  });
  after(async () => {
    await gateway?.close();
    await backend?.close();
    await pebble?.close();
    await bind?.close();
  });

  test("validation fails, the order is counted as failed, and BIND holds no challenge record", async () => {
    const rfc2136 = { server: bind!.server, keyName: bind!.keyName, secret: bind!.secret };
    gateway = await startGateway(acmeConfig(pebble!, backend!, ["fail.rampart.test"], { provider: "rfc2136", rfc2136, resolvers: [bind!.server] }));
    await eventually(async () => ((await orders(gateway!.adminPort, "failure")) >= 1 ? true : undefined), ISSUANCE_MS, "a failed order", 200);
    assert.deepEqual(await bind!.txt("_acme-challenge.fail.rampart.test."), []);
    assert.equal(pebble!.issued(), 0);
    assert.equal(await allIssuedByAcme(gateway.adminPort, ["fail.rampart.test"]), false);
  });
});

describe("DNS-01 through exec, httpreq and acme-dns, with pebble-challtestsrv as the DNS", { timeout: 180_000 }, () => {
  let pebble: Pebble | undefined;
  let backend: Backend | undefined;
  let gateway: TestGateway | undefined;
  let api: Server | undefined;
  let apiUrl = "";
  const apiCalls: string[] = [];
  const challengeDns = new Resolver({ timeout: 1_000, tries: 1 });

  /** What the challenge DNS answers for TXT `name` now ([] when nothing). */
  async function txt(name: string): Promise<string[]> {
    try {
      return (await challengeDns.resolveTxt(name.replace(/\.$/, ""))).map((chunks) => chunks.join(""));
    } catch {
      return [];
    }
  }

  async function management(path: string, body: Record<string, string>): Promise<void> {
    const response = await fetch(`${pebble!.challengeManagementUrl}${path}`, { method: "POST", body: JSON.stringify(body) });
    assert.equal(response.status, 200, `challtestsrv ${path}`);
  }

  before(async () => {
    pebble = await startPebble();
    challengeDns.setServers([pebble.challengeDns]);
    backend = await startBackend();
    // One server speaks both APIs: httpreq's /present and /cleanup, and acme-dns's /update.
    api = createServer((req, res) => {
      let text = "";
      req.on("data", (chunk: Buffer) => (text += chunk.toString()));
      req.on("end", () => {
        void (async () => {
          const body = JSON.parse(text) as Record<string, string>;
          apiCalls.push(`${req.url} ${req.headers.authorization ?? req.headers["x-api-key"] ?? ""}`);
          if (req.url === "/present") await management("/set-txt", { host: body.fqdn!, value: body.value! });
          else if (req.url === "/cleanup") await management("/clear-txt", { host: body.fqdn! });
          else if (req.url === "/update" && req.headers["x-api-key"] === "acme-dns-key") await management("/set-txt", { host: `${body.subdomain}.auth.test.`, value: body.txt! });
          else return res.writeHead(401).end();
          res.writeHead(200).end("{}");
        })().catch(() => res.writeHead(500).end());
      });
    });
    await new Promise<void>((resolve) => api!.listen(0, "127.0.0.1", resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
  });
  after(async () => {
    await backend?.close();
    await new Promise((resolve) => api?.close(resolve));
    await pebble?.close();
  });

  async function issued(domains: readonly string[], dns: ConfigObject, routeHost?: string): Promise<TestGateway> {
    gateway = await startGateway(acmeConfig(pebble!, backend!, domains, { resolvers: [pebble!.challengeDns], ...dns }, routeHost));
    await eventually(async () => ((await allIssuedByAcme(gateway!.adminPort, domains)) ? true : undefined), ISSUANCE_MS, `certificates for ${domains.join(", ")}`, 200);
    return gateway;
  }

  test("exec: a lego-style hook script publishes and removes the record", async () => {
    const dir = await mkdtemp(join(tmpdir(), "rampart-dns-hook-"));
    const hook = join(dir, "dns-hook.sh");
    const calls = join(dir, "calls.txt");
    await writeFile(
      hook,
      [
        "#!/bin/sh",
        `echo "$1 $2" >> ${calls}`,
        `case "$1" in`,
        `  present) curl -sf -d "{\\"host\\":\\"$2\\",\\"value\\":\\"$3\\"}" ${pebble!.challengeManagementUrl}/set-txt ;;`,
        `  cleanup) curl -sf -d "{\\"host\\":\\"$2\\"}" ${pebble!.challengeManagementUrl}/clear-txt ;;`,
        "esac",
        "",
      ].join("\n"),
    );
    await chmod(hook, 0o755);
    const { httpsPort } = await issued(["exec.test"], { provider: "exec", exec: { command: hook } });
    const root = await pebble!.issuingRoot();
    assert.equal((await verifiedHandshake(httpsPort, "exec.test", root)).subjectaltname, "DNS:exec.test");
    assert.equal(await readFile(calls, "utf8"), "present _acme-challenge.exec.test.\ncleanup _acme-challenge.exec.test.\n");
    assert.deepEqual(await txt("_acme-challenge.exec.test."), []);
    await rm(dir, { recursive: true, force: true });
  });

  test("httpreq: a wildcard through POST /present and /cleanup with basic authentication", async () => {
    apiCalls.length = 0;
    const { httpsPort } = await issued(["*.httpreq.test"], { provider: "httpreq", httpreq: { url: apiUrl, username: "rampart", password: "pw" } }, "*.httpreq.test");
    const root = await pebble!.issuingRoot();
    assert.equal((await verifiedHandshake(httpsPort, "one.httpreq.test", root)).subjectaltname, "DNS:*.httpreq.test");
    assert.equal((await verifiedHandshake(httpsPort, "two.httpreq.test", root)).subjectaltname, "DNS:*.httpreq.test");
    const auth = `Basic ${Buffer.from("rampart:pw").toString("base64")}`;
    assert.deepEqual(apiCalls, [`/present ${auth}`, `/cleanup ${auth}`]);
    assert.deepEqual(await txt("_acme-challenge.httpreq.test."), []);
  });

  test("acme-dns: the record is published at the account's subdomain, reached through the operator's CNAME", async () => {
    apiCalls.length = 0;
    const subdomain = "d420c923-bbd7-4056-ab64-c3ca54c9b3cf";
    await management("/set-cname", { host: "_acme-challenge.acmedns.test.", target: `${subdomain}.auth.test.` });
    const acmeDns = { url: apiUrl, username: "acme-dns-user", password: "acme-dns-key", subdomain };
    const { httpsPort } = await issued(["acmedns.test"], { provider: "acme-dns", acmeDns });
    const root = await pebble!.issuingRoot();
    assert.equal((await verifiedHandshake(httpsPort, "acmedns.test", root)).subjectaltname, "DNS:acmedns.test");
    assert.deepEqual(apiCalls, ["/update acme-dns-key"]);
  });
});

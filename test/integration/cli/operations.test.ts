// The operations CLI against a real gateway: `rampart status | bans | upstreams | certs | reload |
// config` run as child processes (node dist/src/cli.js) against a gateway started in this process with
// an adminToken, read as an operator reads them and as a script does (--json); and the errors an
// operator meets: gateway not running, token wrong or missing.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { startBackend, type Backend } from "../../helpers/backend.js";
import type { ListedBan, UpstreamState } from "../../helpers/admin-api.js";
import { request } from "../../helpers/client.js";
import { simpleConfig, startGateway, type ConfigObject, type TestGateway } from "../../helpers/gateway.js";
import { runCli, show } from "./run-cli.js";

const TOKEN = "cli-test-token-6f1c";
const REDIS_PASSWORD = "redis-pw-93b2";
const EAB_KEY = "eab-hmac-secret-55aa";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** GET an /api/ document with the token, to compare what the CLI printed with what the gateway says. */
async function adminGet<T>(port: number, path: string): Promise<T> {
  const res = await request({ port, path, headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200, res.body);
  return res.json<T>();
}
const listBans = (port: number) => adminGet<ListedBan[]>(port, "/api/bans");
const listUpstreams = (port: number) => adminGet<UpstreamState[]>(port, "/api/upstreams");

describe("operations CLI against a running gateway", () => {
  let backend: Backend;
  let gw: TestGateway;
  let env: Record<string, string>;
  let config: ConfigObject;

  before(async () => {
    backend = await startBackend();
    config = {
      ...simpleConfig(backend.url),
      adminToken: TOKEN,
      store: { redis: { url: `redis://default:${REDIS_PASSWORD}@127.0.0.1:6379` } },
      tls: { acme: { eab: { kid: "kid-1", hmacKey: EAB_KEY } } },
    };
    gw = await startGateway(config);
    env = { RAMPART_ADMIN: `127.0.0.1:${gw.adminPort}`, RAMPART_ADMIN_TOKEN: TOKEN };
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  test("status: one screen, and --json for scripts", async () => {
    const [result, json] = await Promise.all([runCli(["status"], env), runCli(["status", "--json"], env)]);
    assert.equal(result.code, 0, show(result));
    assert.match(result.stdout, new RegExp(`^admin +127\\.0\\.0\\.1:${gw.adminPort}$`, "m"));
    assert.match(result.stdout, /^ready +yes$/m);
    assert.match(result.stdout, /^routes +1$/m);
    assert.match(result.stdout, /^services +1$/m);
    assert.match(result.stdout, /^targets +1: 1 healthy, 0 unhealthy$/m);
    assert.match(result.stdout, /^bans +0 active$/m);
    assert.match(result.stdout, /^certificates +\d+; soonest expiry: \S+ \(self-signed\) 36\d days$/m);
    assert.match(result.stdout, /^localhost +self-signed +36\d days /m);

    assert.equal(json.code, 0, show(json));
    const report = JSON.parse(json.stdout) as { ready: boolean; routes: number; services: number; targets: { total: number; healthy: number }; bans: number; certificates: { domain: string; daysLeft: number }[] };
    assert.equal(report.ready, true);
    assert.equal(report.routes, 1);
    assert.equal(report.services, 1);
    assert.deepEqual([report.targets.total, report.targets.healthy], [1, 1]);
    assert.ok(report.certificates.some((cert) => cert.domain === "localhost" && cert.daysLeft >= 360), json.stdout);
  });

  test("bans add, list and del, as the admin API sees them", async () => {
    const added = await runCli(["bans", "add", "203.0.113.77", "1h", "scripted", "scan"], env);
    assert.equal(added.code, 0, show(added));
    assert.match(added.stdout, /^banned 203\.0\.113\.77 for 1h \(until .*, jail manual\): scripted scan$/m);
    assert.ok((await listBans(gw.adminPort)).some((ban) => ban.ip === "203.0.113.77" && ban.reason === "scripted scan"));

    const listed = await runCli(["bans", "list"], env);
    assert.equal(listed.code, 0, show(listed));
    assert.match(listed.stdout, /^IP +JAIL +EXPIRES IN +UNTIL +REASON$/m);
    assert.match(listed.stdout, /^203\.0\.113\.77 +manual +(1h|59m) +\S+ \S+ +scripted scan$/m);
    const json = JSON.parse((await runCli(["bans", "list", "--json"], env)).stdout) as { ip: string; jail: string }[];
    assert.deepEqual(json.map((ban) => [ban.ip, ban.jail]), [["203.0.113.77", "manual"]]);

    // An IPv6 address is banned as its /64; the prefix is what `del` takes.
    assert.equal((await runCli(["bans", "add", "2001:db8:1:2::5", "30m"], env)).code, 0);
    const v6 = await runCli(["bans", "del", "2001:db8:1:2::/64"], env);
    assert.equal(v6.code, 0, show(v6));

    const lifted = await runCli(["bans", "del", "203.0.113.77"], env);
    assert.equal(lifted.code, 0, show(lifted));
    assert.equal(lifted.stdout, "lifted the ban on 203.0.113.77\n");
    assert.deepEqual(await listBans(gw.adminPort), []);
    assert.equal((await runCli(["bans", "list"], env)).stdout, "no active bans\n");

    const again = await runCli(["bans", "del", "203.0.113.77"], env);
    assert.equal(again.code, 1, show(again));
    assert.equal(again.stderr, "203.0.113.77 is not banned\n");

    const bad = await runCli(["bans", "add", "203.0.113.78", "soon"], env);
    assert.equal(bad.code, 1, show(bad));
    assert.match(bad.stderr, /^cannot ban 203\.0\.113\.78: "duration" must be a duration such as 30m, 1h or 7d$/m);

    const usage = await runCli(["bans", "add", "203.0.113.78"], env);
    assert.equal(usage.code, 2, show(usage));
    assert.match(usage.stderr, /usage: rampart bans add IP DURATION/);
    const typo = await runCli(["bans", "lst"], env);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /unknown bans command "lst" \(did you mean "list"\?\)/);
  });

  test("upstreams and certs: tables, and --json as the admin API answers", async () => {
    const [table, tableJson, certs, certsJson] = await Promise.all([runCli(["upstreams"], env), runCli(["upstreams", "--json"], env), runCli(["certs"], env), runCli(["certs", "--json"], env)]);
    assert.equal(table.code, 0, show(table));
    const port = new URL(backend.url).port;
    assert.match(table.stdout, /^SERVICE +TARGET +HEALTH +BREAKER +IN FLIGHT +LAST ERROR$/m);
    assert.match(table.stdout, new RegExp(`^app +127\\.0\\.0\\.1:${port} +healthy +closed +0 +-$`, "m"));
    assert.match(table.stdout, /^1 target in 1 service, 1 healthy$/m);
    assert.deepEqual(JSON.parse(tableJson.stdout), await listUpstreams(gw.adminPort));

    assert.equal(certs.code, 0, show(certs));
    assert.match(certs.stdout, /^DOMAIN +SOURCE +EXPIRES IN +NOT AFTER +NEXT RENEWAL +ISSUER$/m);
    assert.match(certs.stdout, /^localhost +self-signed +36\d days +\d{4}-\d\d-\d\d \d\d:\d\dZ +- +CN=Rampart self-signed, O=Rampart$/m);
    const rows = JSON.parse(certsJson.stdout) as { domain: string; source: string; daysLeft: number }[];
    assert.ok(rows.some((row) => row.domain === "localhost" && row.source === "self-signed" && row.daysLeft >= 360));
  });

  test("config: the file's effective config with every secret redacted", async () => {
    const result = await runCli(["config", "-c", gw.configFile]);
    assert.equal(result.code, 0, show(result));
    for (const secret of [TOKEN, REDIS_PASSWORD, EAB_KEY]) assert.ok(!result.stdout.includes(secret), `config shows ${secret}`);
    const printed = parse(result.stdout) as { adminToken: string; store: { redis: { url: string } }; tls: { acme: { eab: { kid: string; hmacKey: string } } }; shutdownGrace: string; listen: { admin: string } };
    assert.equal(printed.adminToken, "<redacted>");
    assert.equal(printed.store.redis.url, "redis://default:<redacted>@127.0.0.1:6379");
    assert.deepEqual(printed.tls.acme.eab, { kid: "kid-1", hmacKey: "<redacted>" });
    assert.equal(printed.shutdownGrace, "10s", "defaults are filled in, in the file's units");
    assert.equal(printed.listen.admin, "127.0.0.1:0");

    const json = await runCli(["config", "--json"], { RAMPART_CONFIG: gw.configFile });
    assert.equal(json.code, 0, show(json));
    assert.equal((JSON.parse(json.stdout) as { adminToken: string }).adminToken, "<redacted>");

    const help = await runCli(["config", "--help"]);
    assert.match(help.stdout, /effective config of the config file/);
  });

  test("the admin address and token can come from the config file alone", async () => {
    const file = join(gw.dir, "cli-only.yaml");
    await writeFile(file, `listen: { admin: "0.0.0.0:${gw.adminPort}" }\nadminToken: \${CLI_TOKEN}\n`);
    const result = await runCli(["upstreams", "--json", "-c", file], { CLI_TOKEN: TOKEN });
    assert.equal(result.code, 0, show(result));
    assert.equal((JSON.parse(result.stdout) as unknown[]).length, 1);
  });

  test("a wrong or missing token: admin token rejected, exit 2", async () => {
    const [wrong, none] = await Promise.all([
      runCli(["status"], { ...env, RAMPART_ADMIN_TOKEN: "not-the-token" }),
      runCli(["bans", "list"], { RAMPART_ADMIN: env.RAMPART_ADMIN!, RAMPART_CONFIG: join(gw.dir, "absent.yaml") }),
    ]);
    assert.equal(wrong.code, 2, show(wrong));
    assert.match(wrong.stderr, /^admin token rejected\n {2}the token sent .* is not the gateway's adminToken\n$/);

    assert.equal(none.code, 2, show(none));
    assert.match(none.stderr, /^admin token rejected\n {2}the gateway requires a token and none was sent/);
  });

  test("reload: which changes need a restart, and a rejected file's problems (exit 1)", async () => {
    try {
      await gw.writeConfig({ ...config, tls: { ...(config.tls as ConfigObject), minVersion: "TLSv1.3" } });
      const result = await runCli(["reload"], env);
      assert.equal(result.code, 0, show(result));
      assert.equal(result.stdout, "reloaded; these changes apply only after a restart: tls.minVersion\n");
      // Each reload compares with the config before it: back to the default is a change again.
      await gw.writeConfig(config);
      const json = await runCli(["reload", "--json"], env);
      assert.equal(json.code, 0, show(json));
      assert.deepEqual(JSON.parse(json.stdout), { status: "reloaded", restartRequired: ["tls.minVersion"] });
      await gw.writeConfig(config);
      assert.equal((await runCli(["reload"], env)).stdout, "reloaded; nothing needs a restart\n");

      await gw.writeConfig({ ...config, routes: [{ name: "app", service: "missing" }] });
      const rejected = await runCli(["reload"], env);
      assert.equal(rejected.code, 1, show(rejected));
      assert.match(rejected.stderr, /^reload rejected; the running config stays in force:\n {2}\S+gateway\.yaml:\d+:\d+ routes\[0\]\.service: unknown service "missing"\n$/);
      const rejectedJson = await runCli(["reload", "--json"], env);
      assert.equal(rejectedJson.code, 1);
      assert.equal((JSON.parse(rejectedJson.stdout) as { error: string }).error, "invalid_config");
    } finally {
      await gw.writeConfig(config);
      assert.equal((await runCli(["reload"], env)).code, 0);
    }
  });
});

describe("operations CLI without a gateway", () => {
  test("nothing listening: cannot reach the admin API, exit 2, naming where the address came from", async () => {
    const port = await freePort();
    const commands = [["status"], ["bans", "list"], ["upstreams"], ["certs"], ["reload"], ["bans", "del", "1.2.3.4"]];
    const results = await Promise.all(commands.map((command) => runCli(command, { RAMPART_ADMIN: `127.0.0.1:${port}` })));
    for (const result of results) {
      assert.equal(result.code, 2, show(result));
      const [first, second] = result.stderr.split("\n");
      assert.equal(first, `cannot reach the admin API at 127.0.0.1:${port} (is rampart running?)`);
      assert.match(second!, /ECONNREFUSED.*the address is RAMPART_ADMIN/);
      assert.equal(result.stdout, "");
    }
  });

  test("the address from the config file, 0.0.0.0 reached on loopback", async () => {
    const port = await freePort();
    const dir = fileURLToPath(new URL(".", import.meta.url));
    const file = join(dir, `not-running-${port}.yaml`);
    await writeFile(file, `listen: { admin: 0.0.0.0:${port} }\n`);
    try {
      const result = await runCli(["status", "-c", file]);
      assert.equal(result.code, 2, show(result));
      assert.match(result.stderr, new RegExp(`^cannot reach the admin API at 127\\.0\\.0\\.1:${port} \\(is rampart running\\?\\)\\n.*listen\\.admin in ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    } finally {
      await import("node:fs/promises").then((fs) => fs.rm(file, { force: true }));
    }
  });
});

describe("version, help and misspellings", () => {
  test("--version, -v and version print the version", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../../../../package.json", import.meta.url), "utf8")) as { version: string };
    for (const result of await Promise.all([["--version"], ["-v"], ["version"]].map((args) => runCli(args)))) {
      assert.equal(result.code, 0, show(result));
      assert.equal(result.stdout, `rampart ${pkg.version} (node ${process.version})\n`);
    }
  });

  test("help lists every command; help COMMAND and COMMAND --help explain one", async () => {
    const [help, dashHelp, bans, bansHelp] = await Promise.all([runCli(["help"]), runCli(["--help"]), runCli(["help", "bans"]), runCli(["bans", "--help"])]);
    assert.equal(help.code, 0);
    for (const command of ["start", "validate", "status", "bans", "upstreams", "certs", "reload", "config", "rules", "schema", "version"]) {
      assert.match(help.stdout, new RegExp(`^ {2}${command} +\\S`, "m"), command);
    }
    assert.doesNotMatch(help.stdout, /^ {2}worker /m, "internal commands are not listed");
    assert.equal(dashHelp.stdout, help.stdout);
    assert.match(bans.stdout, /^usage: rampart bans list \[--json\]/);
    assert.equal(bansHelp.stdout, bans.stdout);
  });

  test("a misspelled command or option: did you mean, exit 2", async () => {
    const [command, option, unknown] = await Promise.all([runCli(["stauts"]), runCli(["status", "--jsn"]), runCli(["frobnicate"])]);
    assert.equal(command.code, 2);
    assert.equal(command.stderr, 'unknown command "stauts" (did you mean "status"?)\nrun "rampart help" for every command\n');
    assert.equal(option.code, 2);
    assert.match(option.stderr, /^Unknown option '--jsn' \(did you mean "--json"\?\)/);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^unknown command "frobnicate"\n\nusage: rampart <command>/);
  });

  test("schema prints config/rampart.schema.json", async () => {
    const result = await runCli(["schema"]);
    assert.equal(result.code, 0, show(result));
    assert.equal(result.stdout, readFileSync(new URL("../../../../config/rampart.schema.json", import.meta.url), "utf8"));
  });
});

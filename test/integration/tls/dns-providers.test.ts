// Each DNS-01 provider against a real counterpart: rfc2136 against BIND 9 with a TSIG-signed dynamic
// zone; exec with real hook scripts; httpreq and acme-dns against node:http servers speaking their
// protocols; the propagation check against BIND.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startBind, type Bind } from "../../helpers/bind.js";
import { freePort } from "../../helpers/backend.js";
import { Rfc2136Provider } from "../../../src/tls/acme/dns/rfc2136-provider.js";
import { ExecProvider } from "../../../src/tls/acme/dns/exec-provider.js";
import { HttpReqProvider } from "../../../src/tls/acme/dns/httpreq-provider.js";
import { AcmeDnsProvider } from "../../../src/tls/acme/dns/acme-dns-provider.js";
import { waitForTxt } from "../../../src/tls/acme/dns/propagation.js";
import { DnsChallengeError } from "../../../src/tls/acme/dns/dns-errors.js";

function rfc2136(bind: Bind, overrides: Partial<ConstructorParameters<typeof Rfc2136Provider>[0]> = {}): Rfc2136Provider {
  return new Rfc2136Provider({ server: bind.server, zone: "", keyName: bind.keyName, algorithm: bind.algorithm, secret: bind.secret, ttl: 60, timeout: 3_000, ...overrides });
}

async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DnsChallengeError, `a DnsChallengeError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

describe("rfc2136 against BIND", { timeout: 60_000 }, () => {
  let bind: Bind | undefined;
  before(async () => {
    bind = await startBind();
  });
  after(async () => {
    await bind?.close();
  });

  test("present adds the TXT value beside others; cleanup removes exactly that value", async () => {
    const provider = rfc2136(bind!);
    const fqdn = "_acme-challenge.www.rampart.test.";
    await provider.present(fqdn, "first-value");
    // A wildcard and its base name are validated at the same record name at once: both values must coexist.
    await provider.present(fqdn, "second-value");
    assert.deepEqual((await bind!.txt(fqdn)).sort(), ["first-value", "second-value"]);
    await provider.cleanup(fqdn, "first-value");
    assert.deepEqual(await bind!.txt(fqdn), ["second-value"]);
    await provider.cleanup(fqdn, "second-value");
    assert.deepEqual(await bind!.txt(fqdn), []);
  });

  test("the zone is found from the SOA when not configured, or used as given", async () => {
    await rfc2136(bind!, { zone: "rampart.test." }).present("_acme-challenge.deep.er.rampart.test.", "v1");
    assert.deepEqual(await bind!.txt("_acme-challenge.deep.er.rampart.test."), ["v1"]);
    await rejectsWith(rfc2136(bind!).present("_acme-challenge.other.example.", "v"), "DNS_ZONE_NOT_FOUND", /no zone for _acme-challenge\.other\.example\./);
  });

  test("a wrong secret or an unknown key is refused with the server's reason, and nothing is written", async () => {
    const wrong = Buffer.alloc(32, 7).toString("base64");
    await rejectsWith(rfc2136(bind!, { secret: wrong }).present("_acme-challenge.bad.rampart.test.", "x"), "DNS_UPDATE_REFUSED", /NOTAUTH, TSIG BADSIG/);
    await rejectsWith(rfc2136(bind!, { keyName: "nobody" }).present("_acme-challenge.bad.rampart.test.", "x"), "DNS_UPDATE_REFUSED", /NOTAUTH, TSIG BADKEY/);
    assert.deepEqual(await bind!.txt("_acme-challenge.bad.rampart.test."), []);
  });

  test("a server that is not there fails fast and says which", async () => {
    const server = `127.0.0.1:${await freePort()}`;
    await rejectsWith(rfc2136(bind!, { server, zone: "rampart.test." }).present("_acme-challenge.x.rampart.test.", "x"), "DNS_UPDATE_UNREACHABLE", new RegExp(`DNS server ${server}: .*ECONNREFUSED`));
  });

  test("propagation: waits until the resolver sees the value, times out when it never does", async () => {
    const fqdn = "_acme-challenge.prop.rampart.test.";
    const check = { resolvers: [bind!.server], timeout: 5_000, interval: 100 };
    const waiting = waitForTxt(fqdn, "late-value", check);
    setTimeout(() => void rfc2136(bind!).present(fqdn, "late-value"), 300);
    await waiting;
    await rejectsWith(
      waitForTxt(fqdn, "never-published", { ...check, timeout: 400 }),
      "DNS_PROPAGATION_TIMEOUT",
      /TXT _acme-challenge\.prop\.rampart\.test\. not visible within 400 ms \(127\.0\.0\.1:\d+ answers 1 other TXT value\(s\)\)/,
    );
  });
});

describe("exec hooks", { timeout: 30_000 }, () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "rampart-dns-hook-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function hook(name: string, body: string): Promise<string> {
    const file = join(dir, name);
    await writeFile(file, `#!/bin/sh\n${body}\n`);
    await chmod(file, 0o755);
    return file;
  }

  test("called as `command present|cleanup FQDN VALUE`, without a shell between", async () => {
    const calls = join(dir, "calls.txt");
    const command = await hook("record.sh", `printf '%s|%s|%s\\n' "$1" "$2" "$3" >> ${calls}`);
    const provider = new ExecProvider({ command, timeout: 5_000 });
    await provider.present("_acme-challenge.a.test.", "va$(lue) 'quoted'");
    await provider.cleanup("_acme-challenge.a.test.", "va$(lue) 'quoted'");
    assert.equal(await readFile(calls, "utf8"), "present|_acme-challenge.a.test.|va$(lue) 'quoted'\ncleanup|_acme-challenge.a.test.|va$(lue) 'quoted'\n");
  });

  test("a failing hook's exit code and stderr are in the error; a hung hook is killed at the timeout", async () => {
    const failing = await hook("fail.sh", "echo 'API said: zone locked' >&2; exit 3");
    await rejectsWith(new ExecProvider({ command: failing, timeout: 5_000 }).present("_acme-challenge.a.test.", "v"), "DNS_HOOK_FAILED", /fail\.sh present _acme-challenge\.a\.test\. exited with 3: API said: zone locked/);
    const hung = await hook("hang.sh", "sleep 30");
    const started = Date.now();
    await rejectsWith(new ExecProvider({ command: hung, timeout: 300 }).present("_acme-challenge.a.test.", "v"), "DNS_HOOK_FAILED", /was killed after 300 ms/);
    assert.ok(Date.now() - started < 5_000);
    await rejectsWith(new ExecProvider({ command: join(dir, "missing.sh"), timeout: 1_000 }).present("_acme-challenge.a.test.", "v"), "DNS_HOOK_FAILED", /could not run \(.*ENOENT/);
  });
});

describe("httpreq and acme-dns APIs", { timeout: 30_000 }, () => {
  interface Seen {
    readonly path: string;
    readonly headers: IncomingMessage["headers"];
    readonly body: unknown;
  }
  const seen: Seen[] = [];
  let status = 200;
  let server: Server | undefined;
  let url = "";

  before(async () => {
    server = createServer((req, res) => {
      let text = "";
      req.on("data", (chunk: Buffer) => (text += chunk.toString()));
      req.on("end", () => {
        seen.push({ path: req.url ?? "", headers: req.headers, body: JSON.parse(text) as unknown });
        res.writeHead(status, { "content-type": "application/json" }).end(status === 200 ? "{}" : '{"error":"bad credentials"}');
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  test("httpreq POSTs {fqdn, value} to /present and /cleanup with basic authentication", async () => {
    seen.length = 0;
    status = 200;
    const provider = new HttpReqProvider({ url: `${url}/dns/`, username: "rampart", password: "s3cret" });
    await provider.present("_acme-challenge.a.test.", "value-1");
    await provider.cleanup("_acme-challenge.a.test.", "value-1");
    assert.deepEqual(
      seen.map(({ path, body }) => ({ path, body })),
      [
        { path: "/dns/present", body: { fqdn: "_acme-challenge.a.test.", value: "value-1" } },
        { path: "/dns/cleanup", body: { fqdn: "_acme-challenge.a.test.", value: "value-1" } },
      ],
    );
    assert.equal(seen[0]!.headers.authorization, `Basic ${Buffer.from("rampart:s3cret").toString("base64")}`);
    assert.equal(seen[0]!.headers["content-type"], "application/json");
    // No credentials configured: no Authorization header.
    await new HttpReqProvider({ url, username: "", password: "" }).present("_acme-challenge.b.test.", "v");
    assert.equal(seen[2]!.headers.authorization, undefined);
  });

  test("a non-2xx answer is an error with the status and the API's reason, never the password", async () => {
    status = 401;
    await assert.rejects(new HttpReqProvider({ url: url.replace("http://", "http://user:pw-in-url@"), username: "rampart", password: "s3cret" }).present("_acme-challenge.a.test.", "v"), (error: unknown) => {
      assert.ok(error instanceof DnsChallengeError);
      assert.equal(error.code, "DNS_API_FAILED");
      assert.match(error.message, /POST http:\/\/127\.0\.0\.1:\d+\/present answered 401: \{"error":"bad credentials"\}/);
      assert.doesNotMatch(error.message, /s3cret|pw-in-url/);
      return true;
    });
    status = 200;
  });

  test("credentials in the URL become basic authentication", async () => {
    seen.length = 0;
    await new HttpReqProvider({ url: url.replace("http://", "http://user:p%40ss@"), username: "", password: "" }).present("_acme-challenge.a.test.", "v");
    assert.equal(seen[0]!.headers.authorization, `Basic ${Buffer.from("user:p@ss").toString("base64")}`);
  });

  test("acme-dns POSTs {subdomain, txt} to /update with X-Api-User and X-Api-Key; cleanup sends nothing", async () => {
    seen.length = 0;
    const provider = new AcmeDnsProvider({ url, username: "user-uuid", password: "api-key", subdomain: "d420c923-bbd7-4056-ab64-c3ca54c9b3cf" });
    await provider.present("_acme-challenge.a.test.", "value-2");
    await provider.cleanup();
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.path, "/update");
    assert.deepEqual(seen[0]!.body, { subdomain: "d420c923-bbd7-4056-ab64-c3ca54c9b3cf", txt: "value-2" });
    assert.equal(seen[0]!.headers["x-api-user"], "user-uuid");
    assert.equal(seen[0]!.headers["x-api-key"], "api-key");
  });
});

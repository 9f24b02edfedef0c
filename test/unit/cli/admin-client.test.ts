// Where the CLI finds the admin API: RAMPART_ADMIN / RAMPART_ADMIN_TOKEN win over the config file's
// listen.admin and adminToken, which win over the defaults; wildcard binds are reached on loopback.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CliError, reasonOf, resolveAdmin } from "../../../src/cli/admin-client.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "rampart-admin-client-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe("resolveAdmin", () => {
  test("the config file's listen.admin and adminToken; 0.0.0.0 and :: are reached on loopback", async () => {
    const v4 = await file("v4.yaml", "listen: { admin: 0.0.0.0:9911 }\nadminToken: from-file\n");
    assert.deepEqual(resolveAdmin({ file: v4, explicit: true }, {}), {
      url: "http://127.0.0.1:9911",
      display: "127.0.0.1:9911",
      token: "from-file",
      source: `listen.admin in ${v4}`,
    });
    const v6 = await file("v6.yaml", 'listen: { admin: "[::]:9912" }\n');
    const target = resolveAdmin({ file: v6, explicit: true }, {});
    assert.equal(target.url, "http://[::1]:9912");
    assert.equal(target.token, "");
  });

  test("${VAR} references in the file are resolved, as the gateway resolves them", async () => {
    const path = await file("env.yaml", "listen: { admin: '${ADMIN_ADDR:-127.0.0.1:9913}' }\nadminToken: ${TOKEN_VAR}\n");
    assert.deepEqual(
      { ...resolveAdmin({ file: path, explicit: true }, { TOKEN_VAR: "t1" }), source: "" },
      { url: "http://127.0.0.1:9913", display: "127.0.0.1:9913", token: "t1", source: "" },
    );
  });

  test("the rest of the file need not be valid (a file being edited can still be reloaded)", async () => {
    const path = await file("broken.yaml", "listen: { admin: 127.0.0.1:9914 }\nadminToken: x\nroutes: [ { name: a, service: nope } ]\nbogus: 1\n");
    assert.equal(resolveAdmin({ file: path, explicit: true }, {}).url, "http://127.0.0.1:9914");
  });

  test("RAMPART_ADMIN and RAMPART_ADMIN_TOKEN win over the file", async () => {
    const path = await file("env-wins.yaml", "listen: { admin: 127.0.0.1:9915 }\nadminToken: from-file\n");
    const env = { RAMPART_ADMIN: "127.0.0.1:7001", RAMPART_ADMIN_TOKEN: "from-env" };
    assert.deepEqual(resolveAdmin({ file: path, explicit: true }, env), { url: "http://127.0.0.1:7001", display: "127.0.0.1:7001", token: "from-env", source: "RAMPART_ADMIN" });
    // Only the address from the environment: the token still comes from the file.
    assert.equal(resolveAdmin({ file: path, explicit: true }, { RAMPART_ADMIN: "0.0.0.0:7002" }).token, "from-file");
    assert.equal(resolveAdmin({ file: path, explicit: true }, { RAMPART_ADMIN: "0.0.0.0:7002" }).url, "http://127.0.0.1:7002");
  });

  test("RAMPART_ADMIN may be a URL or [v6]:port; anything else is refused", () => {
    const none = { file: join(dir, "absent.yaml"), explicit: false };
    assert.equal(resolveAdmin(none, { RAMPART_ADMIN: "https://gw.internal:9443/" }).url, "https://gw.internal:9443");
    assert.equal(resolveAdmin(none, { RAMPART_ADMIN: "http://10.0.0.5:9901/admin/" }).url, "http://10.0.0.5:9901/admin");
    assert.equal(resolveAdmin(none, { RAMPART_ADMIN: "[::1]:9901" }).url, "http://[::1]:9901");
    assert.equal(resolveAdmin(none, { RAMPART_ADMIN: ":9901" }).url, "http://127.0.0.1:9901");
    for (const bad of ["9901", "localhost", "host:99999", "ftp//x"]) {
      assert.throws(() => resolveAdmin(none, { RAMPART_ADMIN: bad }), (error: unknown) => error instanceof CliError && error.exitCode === 2 && /RAMPART_ADMIN/.test(error.message), bad);
    }
  });

  test("no file at the default path: the default address", () => {
    const target = resolveAdmin({ file: join(dir, "config", "gateway.yaml"), explicit: false }, {});
    assert.equal(target.url, "http://127.0.0.1:9901");
    assert.equal(target.source, "the default address");
  });

  test("a named file that cannot be read is an error, unless RAMPART_ADMIN gives the address", () => {
    const missing = { file: join(dir, "missing.yaml"), explicit: true };
    assert.throws(
      () => resolveAdmin(missing, {}),
      (error: unknown) => error instanceof CliError && error.message === `cannot read the config file ${missing.file} (no such file); pass -c FILE or set RAMPART_ADMIN`,
    );
    assert.equal(resolveAdmin(missing, { RAMPART_ADMIN: "127.0.0.1:1", RAMPART_ADMIN_TOKEN: "t" }).token, "t");
    assert.equal(resolveAdmin(missing, { RAMPART_ADMIN: "127.0.0.1:1" }).token, "", "then no token is sent");
  });

  test("port 0 cannot be guessed", async () => {
    const path = await file("zero.yaml", "listen: { admin: 127.0.0.1:0 }\n");
    assert.throws(() => resolveAdmin({ file: path, explicit: true }, {}), /port 0 .*set RAMPART_ADMIN/);
  });
});

test("reasonOf prefers the gateway's message, then its error code, then the status", () => {
  assert.equal(reasonOf({ status: 409, body: { error: "allowlisted", message: "10.0.0.1 is allowlisted and cannot be banned" } }), "10.0.0.1 is allowlisted and cannot be banned");
  assert.equal(reasonOf({ status: 404, body: { error: "not_found" } }), "not_found (HTTP 404)");
  assert.equal(reasonOf({ status: 502, body: "<html>bad gateway</html>" }), "HTTP 502: <html>bad gateway</html>");
  assert.equal(reasonOf({ status: 500, body: undefined }), "HTTP 500");
});

// A listener that cannot open says which one, where, why, with a stable code, and what to change:
// through the API (ListenError) and through `rampart start`, which exits 1 and prints it.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import { Gateway } from "../../../src/main.js";
import { silentLogger } from "../../../src/observability/logger.js";
import { ListenError } from "../../../src/server/listen-error.js";
import { runCli, show } from "../cli/run-cli.js";

describe("listeners that cannot open", () => {
  let dir = "";
  let holder: net.Server | undefined;
  let taken = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "rampart-listen-"));
    holder = net.createServer();
    await new Promise<void>((resolve) => holder!.listen(0, "127.0.0.1", resolve));
    taken = (holder.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise((resolve) => holder?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  async function configWith(listen: Record<string, string>): Promise<string> {
    const file = join(dir, `gateway-${Object.keys(listen).join("-")}.yaml`);
    await writeFile(
      file,
      stringify({
        listen: { http: "127.0.0.1:0", https: "127.0.0.1:0", admin: "127.0.0.1:0", ...listen },
        tls: { certDir: join(dir, "certs") },
        store: { dir: join(dir, "state") },
        log: { level: "silent" },
        routes: [{ name: "hello", respond: { body: "hi" } }],
      }),
    );
    return file;
  }

  for (const listener of ["https", "http", "admin"] as const) {
    test(`an address in use on ${listener}: LISTEN_ADDRESS_IN_USE naming listen.${listener}`, async () => {
      const configFile = await configWith({ [listener]: `127.0.0.1:${taken}` });
      await assert.rejects(Gateway.start({ configFile, logger: silentLogger, accessLog: { write: () => {} } }), (error: unknown) => {
        assert.ok(error instanceof ListenError, String(error));
        assert.equal(error.code, "LISTEN_ADDRESS_IN_USE");
        assert.equal(error.message, `cannot listen on 127.0.0.1:${taken} (listen.${listener}): the address is in use (another process holds it; stop it or change listen.${listener})`);
        return true;
      });
    });
  }

  test("an address no interface has: LISTEN_ADDRESS_UNAVAILABLE", async () => {
    // 192.0.2.0/24 is TEST-NET-1: never configured on a machine, so binding to it fails without sending anything.
    const configFile = await configWith({ https: "192.0.2.1:0" });
    await assert.rejects(Gateway.start({ configFile, logger: silentLogger, accessLog: { write: () => {} } }), {
      code: "LISTEN_ADDRESS_UNAVAILABLE",
      message: "cannot listen on 192.0.2.1:0 (listen.https): no network interface has the address 192.0.2.1",
    });
  });

  test("rampart start prints the reason and the code, and exits 1", async () => {
    const configFile = await configWith({ https: `127.0.0.1:${taken}` });
    const result = await runCli(["start", "-c", configFile]);
    assert.equal(result.code, 1, show(result));
    assert.match(result.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken} \\(listen\\.https\\): the address is in use .* \\[LISTEN_ADDRESS_IN_USE\\]`));
  });
});

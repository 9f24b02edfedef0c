// The reload model as an operator meets it, on a real `rampart start` process: limits and the log level
// change on SIGHUP with the listeners and their connections kept; a key read only at start is reported
// (log line and POST /api/reload's JSON) instead of being silently ignored.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { request } from "../../helpers/client.js";
import { clusterFiles } from "../../helpers/cluster.js";
import { perTest } from "../../helpers/fixtures.js";
import type { ConfigObject } from "../../helpers/gateway.js";
import { message, startRampart } from "../../helpers/process.js";
import { RESTART_ONLY_KEYS } from "../../../src/config/reload-scope.js";
import { configJsonSchema } from "../../../src/cli/json-schema.js";

describe("reload scope", { timeout: 60_000 }, () => {
  const { backend, defer } = perTest({ onCleanupError: "log" });

  test("every declared restart-only key names a key of the schema", () => {
    // The JSON Schema generated from the one schema: optional keys without a default (tls.acme.dns) are in it too.
    type Node = { readonly properties?: Readonly<Record<string, Node>> };
    const root = configJsonSchema() as Node;
    for (const key of RESTART_ONLY_KEYS) {
      const found = key.split(".").reduce<Node | undefined>((node, part) => node?.properties?.[part], root);
      assert.notEqual(found, undefined, key);
    }
  });

  test("SIGHUP applies limits and log level at once; a restart-only key is reported, in the log and by /api/reload", async () => {
    const upstream = await backend();
    const files = await clusterFiles();
    defer(() => files.remove());
    const config = (top: ConfigObject): ConfigObject => ({
      services: { app: { targets: [{ url: upstream.url }] } },
      routes: [{ name: "main", match: { pathPrefix: "/" }, service: "app" }],
      tls: { redirectHttp: false },
      ...top,
    });
    await files.write(config({ limits: { maxHeaderSize: "16KiB" }, log: { level: "info", access: false } }));
    const rampart = await startRampart(files.configFile, { ready: message("rampart listening") });
    defer(() => rampart.killTree());

    const bigHeader = { "x-big": "a".repeat(8_000) };
    const get = async () => (await request({ port: files.httpPort, path: "/x", headers: bigHeader, agent: false })).status;
    assert.equal(await get(), 200, "8 KB of headers under a 16 KiB limit");
    const refused = (line: { msg?: string }) => line.msg === "malformed or slow request refused";

    // maxHeaderSize and the log level change; tls.minVersion is read at start only.
    await files.write(config({ limits: { maxHeaderSize: "4KiB" }, log: { level: "debug", access: false }, tls: { redirectHttp: false, minVersion: "TLSv1.3" } }));
    rampart.signal("SIGHUP");
    const reloaded = await rampart.waitForLine(message("config reloaded"), 10_000);
    assert.deepEqual(reloaded.restartRequired, ["tls.minVersion"]);
    const warned = await rampart.waitForLine(message("changed keys that apply only after a restart"), 2_000);
    assert.deepEqual(warned.keys, ["tls.minVersion"]);

    assert.equal(await get(), 431, "the same request over the new 4 KiB limit");
    // Parser refusals are logged at debug level: seen now that the level is debug.
    await rampart.waitForLine(refused, 5_000, "a debug line after the level changed to debug");

    // Through the admin API: bans.maxEntries is restart-only; the answer lists it.
    await files.write(config({ limits: { maxHeaderSize: "4KiB" }, log: { level: "debug", access: false }, tls: { redirectHttp: false, minVersion: "TLSv1.3" }, bans: { maxEntries: 1000 } }));
    const answer = await request({ port: files.adminPort, path: "/api/reload", method: "POST" });
    assert.equal(answer.status, 200, answer.body);
    assert.deepEqual(answer.json<{ status: string; restartRequired: string[] }>(), { status: "reloaded", restartRequired: ["bans"] });

    // Nothing restart-only changed: an empty list; back to 16 KiB, the big header passes again.
    await files.write(config({ limits: { maxHeaderSize: "16KiB" }, log: { level: "debug", access: false }, tls: { redirectHttp: false, minVersion: "TLSv1.3" }, bans: { maxEntries: 1000 } }));
    const again = await request({ port: files.adminPort, path: "/api/reload", method: "POST" });
    assert.deepEqual(again.json<{ restartRequired: string[] }>().restartRequired, []);
    assert.equal(await get(), 200);
    assert.deepEqual(await rampart.stop(), { code: 0, signal: null });
  });
});

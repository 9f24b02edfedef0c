import assert from "node:assert/strict";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { isMissingFile, readPemPair, writePemPair } from "../../../src/tls/cert-files.js";
import { withTempDir } from "../../fixtures/tls/tls-helpers.js";

const pair = { cert: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n", key: "-----BEGIN PRIVATE KEY-----\ny\n-----END PRIVATE KEY-----\n" };

test("writes the key 0600 inside a new 0700 directory and reads the pair back", async () => {
  await withTempDir(async (dir) => {
    const certDir = join(dir, "nested", "certs");
    const files = await writePemPair(certDir, "site", pair);
    assert.equal(files.keyFile, join(certDir, "site.key"));
    assert.equal((await stat(files.keyFile)).mode & 0o777, 0o600);
    assert.equal((await stat(certDir)).mode & 0o777, 0o700);
    assert.deepEqual(await readPemPair(files), pair);
    assert.deepEqual((await readdir(certDir)).sort(), ["site.crt", "site.key"], "no temporary files left behind");
  });
});

test("replacing a pair keeps the key private", async () => {
  await withTempDir(async (dir) => {
    await writePemPair(dir, "site", pair);
    const files = await writePemPair(dir, "site", { ...pair, key: pair.key.replace("y", "z") });
    assert.equal((await stat(files.keyFile)).mode & 0o777, 0o600);
    assert.match((await readPemPair(files)).key, /z/);
  });
});

test("a missing file is named in the error", async () => {
  await withTempDir(async (dir) => {
    const files = await writePemPair(dir, "site", pair);
    const keyFile = join(dir, "absent.key");
    await assert.rejects(readPemPair({ certFile: files.certFile, keyFile }), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.ok(error.message.includes(`private key file "${keyFile}"`), error.message);
      assert.ok(isMissingFile(error));
      return true;
    });
  });
});

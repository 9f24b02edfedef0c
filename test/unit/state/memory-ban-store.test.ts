// The ban database of memory mode: `${store.dir}/bans.json`, written atomically (0600, debounced) with
// the bans in force and the ban history that escalation needs; a new store (a restart) loads the
// unexpired bans only and carries the history on.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import type { Ban } from "../../../src/state/ban-list.js";
import { silentLogger } from "../../../src/observability/logger.js";
import type { BanStore } from "../../../src/state/ban-store.js";
import { MemoryBanStore } from "../../../src/state/memory-ban-store.js";
import { captureLogger } from "../../helpers/proxy-tools.js";

interface FileShape {
  bans: Ban[];
  history: [string, number, number][];
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

async function waitForFile(file: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await exists(file))) {
    if (Date.now() > deadline) throw new Error(`${file} was not written within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("MemoryBanStore", () => {
  let root: string;
  let dir: string;
  let file: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "rampart-bans-"));
    dir = join(root, "nested", "state");
    file = join(dir, "bans.json");
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("no file yet: no bans", async () => {
    const store: BanStore = new MemoryBanStore(dir, () => [], silentLogger);
    assert.deepEqual(await store.load(), []);
    await store.close();
    assert.equal(await exists(file), false, "nothing to write, nothing written");
  });

  test("save is debounced (~500 ms), then the file is written with mode 0600 in a 0700 directory", async () => {
    const now = Date.now();
    const live: Ban = { ip: "203.0.113.9", jail: "auth", until: now + 3_600_000, reason: "5 offences" };
    const v6: Ban = { ip: "2001:db8:1:2::/64", jail: "manual", until: now + 60_000, reason: "admin" };
    const bans = [live, v6];
    const store: BanStore = new MemoryBanStore(dir, () => bans, silentLogger);
    const started = Date.now();
    await store.save(live);
    await store.save(v6);
    await store.remove("198.51.100.1");
    assert.equal(await exists(file), false, "not written at once");
    await waitForFile(file, 2_000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 450, `written after ${elapsed} ms`);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    const data = JSON.parse(await readFile(file, "utf8")) as FileShape;
    assert.deepEqual(data.bans, bans);
    assert.deepEqual(await readdir(dir), ["bans.json"], "the temporary file was renamed into place");
    await store.close();
  });

  test("round trip: a new store (a restart) loads the unexpired bans only", async () => {
    const now = Date.now();
    const bans: Ban[] = [
      { ip: "203.0.113.9", jail: "auth", until: now + 3_600_000, reason: "live" },
      { ip: "203.0.113.10", jail: "auth", until: now - 1_000, reason: "expired" },
      { ip: "2001:db8:1:2::/64", jail: "manual", until: now + 60_000, reason: "live v6" },
    ];
    const first: BanStore = new MemoryBanStore(dir, () => bans, silentLogger);
    await first.save(bans[0]!);
    await first.close(); // flushes the pending write at once
    const written = JSON.parse(await readFile(file, "utf8")) as FileShape;
    assert.equal(written.bans.length, 3, "the file holds what the snapshot gave");

    const second: BanStore = new MemoryBanStore(dir, () => [], silentLogger);
    const loaded = await second.load();
    assert.deepEqual(
      loaded.map((ban) => [ban.ip, ban.jail, ban.until, ban.reason]),
      [
        ["203.0.113.9", "auth", bans[0]!.until, "live"],
        ["2001:db8:1:2::/64", "manual", bans[2]!.until, "live v6"],
      ],
    );
    await second.close();
  });

  test("ban history counts repeat bans per jail and address, survives a restart, and expires", async () => {
    const store: BanStore = new MemoryBanStore(dir, () => [], silentLogger);
    assert.equal(await store.recordBan("auth", "203.0.113.9", 60_000), 1);
    assert.equal(await store.recordBan("auth", "203.0.113.9", 60_000), 2);
    assert.equal(await store.recordBan("scanners", "203.0.113.9", 60_000), 1, "per jail");
    assert.equal(await store.recordBan("auth", "203.0.113.10", 60_000), 1, "per address");
    assert.equal(await store.recordBan("short", "203.0.113.9", 50), 1);
    await store.save({ ip: "203.0.113.9", jail: "auth", until: Date.now() + 60_000, reason: "x" });
    await store.close();

    const data = JSON.parse(await readFile(file, "utf8")) as FileShape;
    assert.equal(data.history.length, 4);

    await new Promise((resolve) => setTimeout(resolve, 60));
    const restarted: BanStore = new MemoryBanStore(dir, () => [], silentLogger);
    await restarted.load();
    assert.equal(await restarted.recordBan("auth", "203.0.113.9", 60_000), 3, "history carried over the restart");
    assert.equal(await restarted.recordBan("scanners", "203.0.113.9", 60_000), 2);
    assert.equal(await restarted.recordBan("short", "203.0.113.9", 50), 1, "expired history starts again at one");
    await restarted.close();
  });

  test("an unreadable file is logged and starts with no bans", async () => {
    const log = captureLogger();
    await mkdir(dir, { recursive: true });
    await writeFile(file, "{ not json");
    const store: BanStore = new MemoryBanStore(dir, () => [], log.logger);
    assert.deepEqual(await store.load(), []);
    assert.ok(log.lines.some((line) => line.level === 50 && /unreadable/.test(String(line.msg))));
    await store.close();
  });
});

// The command line as an operator runs it: real processes, real signals.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";

const CLI = new URL("../../../src/cli.js", import.meta.url).pathname;

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
}

interface Started {
  readonly child: ChildProcess;
  readonly httpsPort: number;
  readonly exit: Promise<number | null>;
}

/** Starts `rampart start` and waits for its "rampart listening" log line to learn the ports. */
async function startProcess(configFile: string): Promise<Started> {
  const child = spawn(process.execPath, [CLI, "start", "-c", configFile], { stdio: ["ignore", "pipe", "inherit"] });
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! });
  const httpsPort = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("gateway did not start")), 10_000);
    lines.on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; https?: string };
      if (entry.msg === "rampart listening") {
        clearTimeout(timer);
        resolve(Number(entry.https!.split(":").pop()));
      }
    });
    void exit.then(() => reject(new Error("gateway exited before listening")));
  });
  return { child, httpsPort, exit };
}

describe("rampart CLI", () => {
  let dir: string;
  let backend: Backend;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "rampart-cli-"));
    // A slow endpoint for the graceful-shutdown test.
    backend = await startBackend((req, res) => {
      const delay = req.url === "/slow" ? 800 : 0;
      setTimeout(() => res.writeHead(200, { "content-type": "text/plain" }).end(`done ${req.url}`), delay);
    });
  });
  after(async () => {
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  function config(routes: string): string {
    return `listen: { http: 127.0.0.1:0, https: 127.0.0.1:0, admin: 127.0.0.1:0 }
tls: { certDir: ${join(dir, "certs")} }
store: { dir: ${join(dir, "state")} }
shutdownGrace: 5s
services:
  app:
    targets: [{ url: ${backend.url} }]
routes:
${routes}`;
  }

  test("version prints the package version", () => {
    const result = run(["version"]);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /^rampart \d+\.\d+\.\d+/);
  });

  test("validate exits 0 on a good file and 1 listing every problem as FILE:LINE:COL key: message", async () => {
    const good = join(dir, "good.yaml");
    await writeFile(good, config("  - { name: app, service: app }\n"));
    const ok = run(["validate", "-c", good]);
    assert.equal(ok.status, 0, ok.stderr);

    const bad = join(dir, "bad.yaml");
    await writeFile(bad, config("  - name: app\n    service: apii\n    rateLimt: x\n"));
    const result = run(["validate", "-c", bad]);
    assert.equal(result.status, 1);
    const lines = result.stderr.trim().split("\n");
    assert.deepEqual(lines, [`${bad}:10:14 routes[0].service: unknown service "apii" (did you mean "app"?)`, `${bad}:11:5 routes[0].rateLimt: unknown key "rateLimt" (did you mean "rateLimit"?)`]);
  });

  test("validate reads RAMPART_CONFIG when -c is absent", async () => {
    const good = join(dir, "env.yaml");
    await writeFile(good, config("  - { name: app, service: app }\n"));
    assert.equal(run(["validate"], { RAMPART_CONFIG: good }).status, 0);
    assert.equal(run(["validate"], { RAMPART_CONFIG: join(dir, "missing.yaml") }).status, 1);
  });

  test("start with an invalid file exits 1 and says why", async () => {
    const bad = join(dir, "bad-start.yaml");
    await writeFile(bad, config("  - { name: app, service: nope }\n"));
    const result = run(["start", "-c", bad]);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /routes\[0\]\.service: unknown service "nope"/);
  });

  test("SIGTERM lets an in-flight request finish, then exits 0", async () => {
    const file = join(dir, "run.yaml");
    await writeFile(file, config("  - { name: app, service: app }\n"));
    const gw = await startProcess(file);
    const inFlight = request({ port: gw.httpsPort, path: "/slow", tls: true });
    await new Promise((resolve) => setTimeout(resolve, 200));
    gw.child.kill("SIGTERM");
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(res.body, "done /slow");
    assert.equal(res.headers.connection, "close");
    assert.equal(await gw.exit, 0);
    // The listener is gone: new connections are refused.
    await assert.rejects(request({ port: gw.httpsPort, tls: true }));
  });

  test("SIGHUP reloads the file: a new route answers, an invalid file changes nothing", async () => {
    const file = join(dir, "reload.yaml");
    await writeFile(file, config("  - { name: app, service: app, match: { pathPrefix: /old } }\n"));
    const gw = await startProcess(file);
    try {
      assert.equal((await request({ port: gw.httpsPort, path: "/new", tls: true })).status, 404);
      await writeFile(file, config("  - { name: app, service: app, match: { pathPrefix: /new } }\n"));
      gw.child.kill("SIGHUP");
      await waitFor(async () => (await request({ port: gw.httpsPort, path: "/new", tls: true })).status === 200);

      await writeFile(file, config("  - { name: app, service: missing }\n"));
      gw.child.kill("SIGHUP");
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal((await request({ port: gw.httpsPort, path: "/new", tls: true })).status, 200);
    } finally {
      gw.child.kill("SIGTERM");
      await gw.exit;
    }
  });
});

async function waitFor(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail("condition not met in time");
}


// Hot reload as an operator drives it: SIGHUP and POST /api/reload on the primary of `workers: 2`
// under continuous load (no request fails, an added route answers at once, an invalid file changes
// nothing and is counted), and `watch: true`, where replacing the file is the reload.
import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import { freePort } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { clusterFiles, type ClusterFiles } from "../../helpers/cluster.js";
import { perTest } from "../../helpers/fixtures.js";
import type { ConfigObject } from "../../helpers/gateway.js";
import { describeOutcomes, failed, startLoad } from "../../helpers/load.js";
import { message, sleep, startRampart, type LogLine, type RampartProcess } from "../../helpers/process.js";
import { eventually, fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";

describe("hot reload", { timeout: 60_000 }, () => {
  const { backend, defer } = perTest({ onCleanupError: "log" });

  async function files(): Promise<ClusterFiles> {
    const made = await clusterFiles();
    defer(() => made.remove());
    return made;
  }

  async function start(configFile: string, ready?: (line: LogLine) => boolean): Promise<RampartProcess> {
    const rampart = await startRampart(configFile, { ready });
    defer(() => rampart.killTree());
    return rampart;
  }

  /** The main route always; the /extra route when `extra` (same service). */
  function config(backendUrl: string, extra: boolean, top: ConfigObject = {}): ConfigObject {
    const routes: ConfigObject[] = [{ name: "main", match: { pathPrefix: "/main" }, service: "app" }];
    if (extra) routes.push({ name: "extra", match: { pathPrefix: "/extra" }, service: "app" });
    return { services: { app: { targets: [{ url: backendUrl }] } }, routes, log: { access: false }, ...top };
  }

  async function status(port: number, path: string): Promise<number> {
    return (await request({ port, tls: true, path })).status;
  }

  /** Polls (fresh connections) until `path` answers `expected`; resolves with the time it took. */
  async function until(port: number, path: string, expected: number, ms: number): Promise<number> {
    const started = Date.now();
    await eventually(async () => ((await status(port, path)) === expected ? true : undefined), ms, `${path} answering ${expected}`, 20);
    return Date.now() - started;
  }

  test("10 SIGHUP reloads under load fail no request; the added route answers at once; an invalid file changes nothing", async () => {
    const upstream = await backend();
    const setup = await files();
    const base = (extra: boolean) => config(upstream.url, extra, { workers: 2 });
    await setup.write(base(false));
    const rampart = await start(setup.configFile);
    assert.equal(await status(setup.httpsPort, "/extra/x"), 404);

    // Steady load on the main route: keep-alive clients (a reload closes no connection) and fresh connections.
    const kept = startLoad({ port: setup.httpsPort, path: "/main/kept", clients: 2, keepAlive: true, pauseMs: 10 });
    const fresh = startLoad({ port: setup.httpsPort, path: "/main/fresh", ratePerSecond: 10 });
    const reloaded = message("config reloaded", "primary");
    const timings: number[] = [];
    try {
      for (let reload = 1; reload <= 10; reload++) {
        const addsExtra = reload % 2 === 1;
        await setup.write(base(addsExtra));
        rampart.signal("SIGHUP");
        // The added route answers within a second of the signal (the removed one is gone as fast).
        const took = await until(setup.httpsPort, "/extra/x", addsExtra ? 200 : 404, 1_000);
        if (addsExtra) timings.push(took);
        // Once the primary reports the reload done, every worker has the new routes.
        await eventually(async () => (rampart.count(reloaded) === reload ? true : undefined), 5_000, `reload ${reload} to be reported`);
        const answers = await Promise.all(Array.from({ length: 4 }, () => status(setup.httpsPort, "/extra/x")));
        assert.deepEqual(answers, Array<number>(4).fill(addsExtra ? 200 : 404), `after reload ${reload}, every worker agrees`);
        await sleep(200);
      }
    } finally {
      await Promise.all([kept.stop(), fresh.stop()]);
    }
    const outcomes = [...(await kept.stop()), ...(await fresh.stop())];
    assert.ok(outcomes.length > 100, `requests during the reloads: ${outcomes.length}`);
    assert.deepEqual(outcomes.filter(failed), [], `no failed request (${describeOutcomes(outcomes)})`);
    assert.ok(Math.max(...timings) < 1_000, `the added route answered after ${timings.join(", ")} ms`);

    // An invalid file: 422 listing FILE:LINE:COL problems, and nothing changes.
    const invalid = setup.yaml(base(false)).replace("routes:\n", "routes:\n  - name: broken\n    match:\n      pathPrefix: /extra\n    service: missing\n");
    await setup.writeText(invalid);
    const lines = invalid.split("\n");
    const line = lines.findIndex((text) => text === "    service: missing") + 1;
    const res = await request({ port: setup.adminPort, method: "POST", path: "/api/reload" });
    assert.equal(res.status, 422, res.body);
    const body = res.json<{ error: string; problems: string[] }>();
    assert.equal(body.error, "invalid_config");
    assert.deepEqual(body.problems, [`${setup.configFile}:${line}:14 routes[0].service: unknown service "missing"`]);
    const rejected = await rampart.waitForLine(message("config reload rejected; the running config stays in force", "primary"), 2_000);
    assert.deepEqual(rejected.problems, body.problems);
    assert.equal(await status(setup.httpsPort, "/extra/x"), 404, "the invalid file's route is not served");
    assert.equal(await status(setup.httpsPort, "/main/x"), 200);
    assert.equal(rampart.count(message("config reloaded")), 10 + 10 * 2, "no worker reloaded (10 primary lines, 10 per worker)");

    const metrics = await fetchMetrics(setup.adminPort);
    assert.equal(metricValue(metrics, 'rampart_config_reloads_total{result="success"}'), 10, metrics);
    assert.equal(metricValue(metrics, 'rampart_config_reloads_total{result="failure"}'), 1);
    assert.equal(metrics.match(/^# TYPE rampart_config_reloads_total /gm)?.length, 1, "counted once, by the primary");
    assert.deepEqual(await rampart.stop(), { code: 0, signal: null });
  });

  test("a reload that moves the HTTPS listener replaces the workers one at a time onto the new address", async () => {
    const upstream = await backend();
    const setup = await files();
    await setup.write(config(upstream.url, false, { workers: 2 }));
    const rampart = await start(setup.configFile);
    const original = rampart.workerPids();
    assert.equal(await status(setup.httpsPort, "/main/x"), 200);

    const moved = await freePort();
    await setup.writeText(setup.yaml(config(upstream.url, false, { workers: 2 })).replace(`https: 127.0.0.1:${setup.httpsPort}`, `https: 127.0.0.1:${moved}`));
    const res = await request({ port: setup.adminPort, method: "POST", path: "/api/reload" });
    assert.equal(res.status, 200, res.body);
    const rolling = await rampart.waitForLine(message("keys workers read at start changed: replacing workers one at a time", "primary"), 2_000);
    assert.deepEqual(rolling.keys, ["listen"]);
    assert.deepEqual(res.json<{ restartRequired: string[] }>().restartRequired, [], "applied by replacing workers: no restart needed");
    await rampart.waitForLine(message("rolling restart done", "primary"), 20_000);
    assert.equal(await status(moved, "/main/x"), 200, "the new address serves");
    await assert.rejects(request({ port: setup.httpsPort, tls: true, path: "/main/x" }), /ECONNREFUSED/, "the old address is closed");
    const now = rampart.workerPids();
    assert.equal(now.length, 2);
    for (const pid of now) assert.ok(!original.includes(pid), "every worker was replaced");
    assert.deepEqual(await rampart.stop(), { code: 0, signal: null });
  });

  test("a rolling restart whose new worker cannot start stops there: the old workers keep serving", async () => {
    const upstream = await backend();
    const setup = await files();
    await setup.write(config(upstream.url, false, { workers: 2 }));
    const rampart = await start(setup.configFile);
    const original = rampart.workerPids();
    // Another process holds the port the new config asks for: no new worker can bind it.
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    defer(() => new Promise((resolve) => blocker.close(resolve)));
    const busy = (blocker.address() as net.AddressInfo).port;
    const moved = setup.yaml(config(upstream.url, false, { workers: 2 })).replace(`https: 127.0.0.1:${setup.httpsPort}`, `https: 127.0.0.1:${busy}`);
    await setup.writeText(moved);

    const load = startLoad({ port: setup.httpsPort, path: "/main/x", ratePerSecond: 20 });
    try {
      const res = await request({ port: setup.adminPort, method: "POST", path: "/api/reload" });
      assert.equal(res.status, 200, res.body);
      await rampart.waitForLine(message("rolling restart stopped: a new worker did not start; the old workers keep serving", "primary"), 10_000);
      await sleep(500);
    } finally {
      await load.stop();
    }
    const outcomes = await load.stop();
    assert.deepEqual(outcomes.filter(failed), [], `the old address kept serving (${describeOutcomes(outcomes)})`);
    assert.deepEqual(rampart.workerPids(), original, "the old workers are still the ones serving");
    assert.equal(rampart.count(message("worker failed to start", "primary")), 1, "one attempt, no crash loop");
    const metrics = await fetchMetrics(setup.adminPort);
    assert.equal(metricValue(metrics, "rampart_workers_ready"), 2);
    assert.equal(metricValue(metrics, "rampart_worker_restarts_total"), 0);
    assert.equal((await request({ port: setup.adminPort, path: "/readyz" })).status, 200);

    // Once the port is free, SIGUSR2 completes the move.
    await new Promise((resolve) => blocker.close(resolve));
    rampart.signal("SIGUSR2");
    await rampart.waitForLine(message("rolling restart done", "primary"), 20_000);
    assert.equal(await status(busy, "/main/x"), 200);
    assert.deepEqual(await rampart.stop(), { code: 0, signal: null });
  });

  test("watch: true (one process): replacing the file adds and removes a route within 2 s", async () => {
    const upstream = await backend();
    const setup = await files();
    const watched = (extra: boolean) => config(upstream.url, extra, { workers: 1, watch: true });
    await setup.write(watched(false));
    const rampart = await start(setup.configFile, message("rampart listening"));
    assert.equal(rampart.workerPids().length, 0, "one process, no workers");
    assert.equal(await status(setup.httpsPort, "/extra/x"), 404);

    await setup.write(watched(true));
    const added = await until(setup.httpsPort, "/extra/x", 200, 2_000);
    assert.ok(added < 2_000, `answered after ${added} ms`);

    // An invalid file is rejected and the running routes stay.
    await setup.writeText(setup.yaml(watched(true)).replace("service: app\n", "service: nope\n"));
    await rampart.waitForLine(message("config reload rejected; the running config stays in force"), 2_000);
    assert.equal(await status(setup.httpsPort, "/extra/x"), 200);

    await setup.write(watched(false));
    await until(setup.httpsPort, "/extra/x", 404, 2_000);
    assert.equal(await status(setup.httpsPort, "/main/x"), 200);
    const metrics = await fetchMetrics(setup.adminPort);
    assert.equal(metricValue(metrics, 'rampart_config_reloads_total{result="failure"}'), 1);
    assert.ok((metricValue(metrics, 'rampart_config_reloads_total{result="success"}') ?? 0) >= 2);
    assert.deepEqual(await rampart.stop(), { code: 0, signal: null });
  });

  test("watch: true with workers: 2: the primary validates the new file and every worker takes it", async () => {
    const upstream = await backend();
    const setup = await files();
    const watched = (extra: boolean) => config(upstream.url, extra, { workers: 2, watch: true });
    await setup.write(watched(false));
    const rampart = await start(setup.configFile);
    assert.equal(await status(setup.httpsPort, "/extra/x"), 404);

    await setup.write(watched(true));
    await until(setup.httpsPort, "/extra/x", 200, 2_000);
    await rampart.waitForLine(message("config reloaded", "primary"), 2_000);
    const answers = await Promise.all(Array.from({ length: 4 }, () => status(setup.httpsPort, "/extra/x")));
    assert.deepEqual(answers, [200, 200, 200, 200]);
    assert.deepEqual(await rampart.stop(), { code: 0, signal: null });
  });
});

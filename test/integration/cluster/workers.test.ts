// `workers: 2` as an operator runs it: `rampart start` forks two node:cluster workers that share the
// listening sockets. A worker killed with SIGKILL is replaced at once; counters and bans are shared
// through the primary (no Redis); SIGUSR2 replaces every worker without refusing a connection; SIGTERM
// drains the whole tree. Real processes, real signals, fixed loopback ports.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import https from "node:https";
import { join } from "node:path";
import tls from "node:tls";
import { describe, test } from "node:test";
import type { ListedBan } from "../../helpers/admin-api.js";
import { tlsHandshake } from "../../helpers/guards.js";
import { request, type Response } from "../../helpers/client.js";
import { clusterFiles, type ClusterFiles } from "../../helpers/cluster.js";
import { perTest } from "../../helpers/fixtures.js";
import type { ConfigObject } from "../../helpers/gateway.js";
import { describeOutcomes, failed, startLoad } from "../../helpers/load.js";
import { alive, message, sleep, startRampart, within, type LogLine, type RampartProcess } from "../../helpers/process.js";
import { eventually, fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";

describe("workers: 2 (node:cluster, no Redis)", { timeout: 60_000 }, () => {
  const { backend, defer } = perTest({ onCleanupError: "log" });

  async function files(): Promise<ClusterFiles> {
    const made = await clusterFiles();
    defer(() => made.remove());
    return made;
  }

  /** Starts the tree and registers its removal (whatever happens) before anything can fail. */
  async function start(configFile: string): Promise<RampartProcess> {
    const rampart = await startRampart(configFile);
    defer(() => rampart.killTree());
    return rampart;
  }

  function config(backendUrl: string, extra: ConfigObject = {}): ConfigObject {
    return {
      workers: 2,
      services: { app: { targets: [{ url: backendUrl }] } },
      routes: [{ name: "app", match: { pathPrefix: "/" }, service: "app" }],
      ...extra,
    };
  }

  async function metric(adminPort: number, sample: string): Promise<number | undefined> {
    return metricValue(await fetchMetrics(adminPort), sample);
  }

  async function readyz(adminPort: number): Promise<Response> {
    return request({ port: adminPort, path: "/readyz" });
  }

  /** Resolves with the pid of the first worker that reports "rampart listening" and is not in `known`. */
  function newWorker(rampart: RampartProcess, known: readonly number[], ms = 10_000): Promise<LogLine> {
    return rampart.waitForLine((line) => line.msg === "rampart listening" && typeof line.pid === "number" && !known.includes(line.pid), ms, "a new worker");
  }

  test("a worker killed with SIGKILL under load is replaced; only requests in flight on it fail", async () => {
    const upstream = await backend();
    const setup = await files();
    await setup.write(config(upstream.url, { log: { access: false } }));
    const rampart = await start(setup.configFile);
    const original = rampart.workerPids();
    assert.equal(original.length, 2, `two workers: ${original.join(",")}`);
    assert.equal(await metric(setup.adminPort, "rampart_worker_restarts_total"), 0);

    const clients = 4;
    const load = startLoad({ port: setup.httpsPort, clients, keepAlive: true, timeoutMs: 5_000 });
    const loadStarted = Date.now();
    try {
      await sleep(800);
      const victim = original[0]!;
      process.kill(victim, "SIGKILL");
      const killedAt = Date.now();

      const died = await rampart.waitForLine(message("worker died; restarting it", "primary"), 5_000, "the primary noticing the death");
      assert.equal(died.signal, "SIGKILL");
      const replacement = await newWorker(rampart, original);
      const ready = await eventually(
        async () => {
          const res = await readyz(setup.adminPort);
          return res.status === 200 ? res : undefined;
        },
        5_000,
        "/readyz 200 again",
      );
      const replacedAt = Date.now();
      assert.deepEqual(ready.json(), { status: "ready", workers: 2 });
      assert.ok(replacedAt - killedAt < 5_000, `replaced after ${replacedAt - killedAt} ms`);

      // Keep the load on for ~3 s in all, and for a while after the replacement.
      await sleep(Math.max(1_000, 3_000 - (Date.now() - loadStarted)));
      const outcomes = await load.stop();

      const failures = outcomes.filter(failed);
      assert.ok(failures.length <= clients, `at most one failure per client (in flight on the killed worker): ${describeOutcomes(failures)}`);
      for (const failure of failures) assert.ok(failure.startedAt <= replacedAt, `a request that failed started before the replacement: ${JSON.stringify(failure)}`);
      const after = outcomes.filter((outcome) => outcome.startedAt > replacedAt);
      assert.ok(after.length > 20, `requests after the replacement: ${after.length}`);
      assert.deepEqual(after.filter(failed), [], "every request after the replacement succeeds");
      assert.ok(outcomes.length > 100, `requests in all: ${outcomes.length}`);

      const now = rampart.workerPids();
      assert.equal(now.length, 2, `two workers again: ${now.join(",")}`);
      assert.ok(!now.includes(victim), "the killed worker is gone");
      assert.ok(now.includes(original[1]!), "the other worker kept running");
      assert.ok(now.includes(replacement.pid!), "the replacement is a child of the primary");
      assert.equal(await metric(setup.adminPort, "rampart_worker_restarts_total"), 1);
      assert.equal(await metric(setup.adminPort, "rampart_workers_ready"), 2);
    } finally {
      await load.stop();
    }
    assert.deepEqual(await rampart.stop(), { code: 0, signal: null });
  });

  test("a limit of 20 across 2 workers lets 20 through, and a ban decided in one worker closes connections on all", async () => {
    const upstream = await backend((req, res) => {
      if (req.url?.startsWith("/login")) res.writeHead(401, { "content-type": "application/json" }).end('{"error":"bad credentials"}');
      else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ url: req.url }));
    });
    const setup = await files();
    await setup.write(
      config(upstream.url, {
        rateLimits: { twenty: { limit: 20, window: "30s" } },
        jails: { auth: { when: { status: [401] }, maxRetry: 3, findTime: "1m", banTime: "1h" } },
        routes: [
          { name: "limited", match: { pathPrefix: "/limited" }, service: "app", rateLimit: "twenty" },
          { name: "app", match: { pathPrefix: "/" }, service: "app" },
        ],
      }),
    );
    const rampart = await start(setup.configFile);
    const workers = rampart.workerPids();
    assert.equal(workers.length, 2);

    // 50 requests, 5 at a time, each on a fresh connection: the primary spreads them over both workers.
    const statuses: number[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => request({ port: setup.httpsPort, tls: true, path: `/limited/${batch * 5 + i}` })));
      statuses.push(...answers.map((res) => res.status));
    }
    assert.equal(statuses.filter((status) => status === 200).length, 20, `statuses: ${statuses.join(",")}`);
    assert.equal(statuses.filter((status) => status === 429).length, 30, `statuses: ${statuses.join(",")}`);
    // Both workers served some of them (access-log lines carry the worker's pid; flushed within 1 s).
    const servedBy = await eventually(
      async () => {
        const lines = rampart.lines.filter((line) => line.msg === "request" && typeof line.path === "string" && line.path.startsWith("/limited/"));
        return lines.length === 50 ? new Set(lines.map((line) => line.pid)) : undefined;
      },
      3_000,
      "50 access-log lines",
    );
    assert.deepEqual([...servedBy].sort(), [...workers].sort(), "both workers served the limited route");
    assert.equal(await metric(setup.adminPort, 'rampart_ratelimit_rejections_total{policy="twenty",route="limited"}'), 30);

    // Three 401s for 127.0.0.2 on one keep-alive connection: one worker sees the whole burst and bans.
    const source = "127.0.0.2";
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    defer(async () => agent.destroy());
    for (let i = 0; i < 3; i++) {
      const res = await requestFrom(setup.httpsPort, source, "/login", agent);
      assert.equal(res, 401);
    }
    const bannedAt = Date.now();
    const logins = await eventually(
      async () => {
        const lines = rampart.lines.filter((line) => line.msg === "request" && line.path === "/login");
        return lines.length === 3 ? lines : undefined;
      },
      3_000,
      "3 access-log lines for /login",
    );
    assert.equal(new Set(logins.map((line) => line.pid)).size, 1, "one worker decided the ban");

    // Within a second every worker closes new connections from 127.0.0.2 before any TLS byte.
    await eventually(async () => ((await Promise.all(Array.from({ length: 10 }, () => tlsHandshake(setup.httpsPort, { localAddress: source })))).every((outcome) => outcome === "closed") ? true : undefined), 1_000, "every worker closing 127.0.0.2");
    assert.ok(Date.now() - bannedAt < 1_500, `enforced everywhere after ${Date.now() - bannedAt} ms`);
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => tlsHandshake(setup.httpsPort, { localAddress: source })));
    assert.deepEqual(outcomes, Array<string>(10).fill("closed"));
    // 127.0.0.1 is still served, and the listing on the primary's admin shows the ban.
    assert.equal(await tlsHandshake(setup.httpsPort, { localAddress: "127.0.0.1" }), "secure");
    const listed = await request({ port: setup.adminPort, path: "/api/bans" });
    assert.equal(listed.status, 200, listed.body);
    const ban = listed.json<ListedBan[]>().find((entry) => entry.ip === source);
    assert.ok(ban, `GET /api/bans lists ${source}: ${listed.body}`);
    assert.equal(ban.jail, "auth");
    assert.ok(Date.parse(ban.until) > Date.now() + 50 * 60_000, `banned for about an hour: ${ban.until}`);
    assert.ok(((await metric(setup.adminPort, 'rampart_connections_rejected_total{reason="banned"}')) ?? 0) >= 20, "counted at accept");
    assert.equal(await metric(setup.adminPort, 'rampart_bans_total{jail="auth"}'), 1, "banned once, not once per worker");
    assert.deepEqual(await rampart.stop(), { code: 0, signal: null });
  });

  test("SIGUSR2 replaces every worker under load without refusing a connection, and no counter falls", async () => {
    const upstream = await backend();
    const setup = await files();
    await setup.write(config(upstream.url, { log: { access: false } }));
    const rampart = await start(setup.configFile);
    const original = rampart.workerPids();
    assert.equal(original.length, 2);

    const load = startLoad({ port: setup.httpsPort, ratePerSecond: 20, timeoutMs: 5_000 });
    // The admin listener keeps answering meanwhile: ready (every slot has a worker serving) and metrics.
    const admin: { path: string; status: number; ms: number; workersReady?: number }[] = [];
    // rampart_requests_total summed over its series, at each scrape: a drop is what Prometheus reads as a reset.
    const requestTotals: number[] = [];
    let rolling = true;
    const monitor = (async () => {
      while (rolling) {
        const started = Date.now();
        const ready = await readyz(setup.adminPort);
        admin.push({ path: "/readyz", status: ready.status, ms: Date.now() - started });
        const scraped = Date.now();
        const text = await fetchMetrics(setup.adminPort).catch(() => "");
        admin.push({ path: "/metrics", status: text.includes("rampart_workers_ready") ? 200 : 0, ms: Date.now() - scraped, workersReady: metricValue(text, "rampart_workers_ready") });
        if (text !== "") requestTotals.push(sumOfSeries(text, "rampart_requests_total"));
        await sleep(100);
      }
    })();
    try {
      await sleep(700);
      rampart.signal("SIGUSR2");
      await rampart.waitForLine(message("rolling restart done", "primary"), 20_000, "the rolling restart to finish");
      await sleep(700);
    } finally {
      rolling = false;
      await Promise.all([load.stop(), monitor]);
    }
    assert.ok(admin.length >= 10, `admin requests: ${admin.length}`);
    assert.deepEqual(
      admin.filter((answer) => answer.status !== 200 || answer.ms > 1_000 || (answer.workersReady !== undefined && answer.workersReady !== 2)),
      [],
      "/readyz and /metrics answered at once during the restart, with every slot served",
    );
    const outcomes = await load.stop();
    assert.ok(outcomes.length >= 30, `requests sent: ${outcomes.length}`);
    const falls = requestTotals.flatMap((total, index) => (index > 0 && total < requestTotals[index - 1]! ? [`${requestTotals[index - 1]} → ${total}`] : []));
    assert.deepEqual(falls, [], `rampart_requests_total never falls across the restart (${requestTotals.join(", ")})`);
    assert.ok(requestTotals.at(-1)! >= outcomes.length - 5, `the total counts the requests of the replaced workers too: ${requestTotals.at(-1)} of ${outcomes.length}`);
    assert.deepEqual(outcomes.filter(failed), [], `no failed or refused request (${describeOutcomes(outcomes)})`);
    const now = rampart.workerPids();
    assert.equal(now.length, 2, `two workers: ${now.join(",")}`);
    for (const pid of now) assert.ok(!original.includes(pid), `worker ${pid} is new (before: ${original.join(",")})`);
    for (const pid of original) assert.ok(!alive(pid), `old worker ${pid} has exited`);
    assert.equal(await metric(setup.adminPort, "rampart_workers_ready"), 2);
    assert.equal(await metric(setup.adminPort, "rampart_worker_restarts_total"), 0, "a rolling restart is not a crash");
    assert.equal((await readyz(setup.adminPort)).status, 200);
    assert.deepEqual(await rampart.stop(), { code: 0, signal: null });
  });

  test("/api/upstreams is the fleet's view: each row merges both workers' health checks and says how many saw what", async () => {
    const upstream = await backend();
    const setup = await files();
    const check = { path: "/", interval: "200ms", timeout: "200ms", unhealthyThreshold: 1, healthyThreshold: 1 };
    await setup.write({
      ...config(upstream.url),
      services: { app: { targets: [{ url: upstream.url }, { url: "http://127.0.0.1:9" }], healthCheck: check } },
    });
    const rampart = await start(setup.configFile);
    type Row = { target: string; healthy: boolean; breaker: string; inFlight: number; workers: { reporting: number; healthy: number } };
    const rows = await eventually(async () => {
      const listed = (await request({ port: setup.adminPort, path: "/api/upstreams" })).json<Row[]>();
      // Each worker checks on its own schedule: wait until both have found the dead target.
      return listed.length === 2 && listed.every((row) => row.workers.reporting === 2) && listed.some((row) => row.workers.healthy === 0) ? listed : undefined;
    }, 10_000, "both workers reporting, the dead target unhealthy in both");
    const alive = rows.find((row) => row.target === `127.0.0.1:${upstream.port}`)!;
    const dead = rows.find((row) => row.target === "127.0.0.1:9")!;
    assert.deepEqual([alive.healthy, alive.workers.healthy, alive.breaker, alive.inFlight], [true, 2, "closed", 0]);
    assert.equal(dead.healthy, false, "unhealthy in both workers' own checks");
    assert.deepEqual(await rampart.stop(), { code: 0, signal: null });
  });

  test("every worker serves the one self-signed certificate stored in certDir, generated once", async () => {
    const setup = await files();
    await setup.write(config("http://127.0.0.1:9"));
    const rampart = await start(setup.configFile);
    // Ten fresh connections, handed to the two workers in turn by the primary.
    const served = new Set<string>();
    for (let i = 0; i < 10; i++) served.add(await peerFingerprint(setup.httpsPort));
    const stored = new X509Certificate(await readFile(join(setup.dir, "certs", "self-signed.crt"))).fingerprint256;
    assert.deepEqual([...served], [stored], "one certificate, the stored one, on every worker");
    assert.equal(rampart.count((line) => line.msg === "generated a self-signed certificate; browsers will not trust it (development fallback)"), 1);
    assert.deepEqual(await rampart.stop(), { code: 0, signal: null });
  });

  test("SIGTERM lets a slow request finish, then the primary exits 0 and no worker remains", async () => {
    const upstream = await backend((req, res) => {
      const delay = req.url === "/slow" ? 800 : 0;
      setTimeout(() => res.writeHead(200, { "content-type": "text/plain" }).end(`done ${req.url}`), delay);
    });
    const setup = await files();
    await setup.write(config(upstream.url));
    const rampart = await start(setup.configFile);
    const workers = rampart.workerPids();
    assert.equal(workers.length, 2);

    const inFlight = request({ port: setup.httpsPort, tls: true, path: "/slow" });
    await sleep(200);
    rampart.signal("SIGTERM");
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(res.body, "done /slow");
    assert.equal(res.headers.connection, "close", "a draining worker closes the connection after the response");
    const exit = await within(rampart.exited, 10_000);
    assert.deepEqual(exit, { code: 0, signal: null }, "the primary exits 0");
    for (const pid of workers) assert.ok(!alive(pid), `worker ${pid} is gone`);
    assert.equal(rampart.count(message("gateway stopped")), 2, "both workers drained");
    await assert.rejects(request({ port: setup.httpsPort, tls: true }), "nothing listens any more");
  });
});

/** The SHA-256 fingerprint of the certificate served on a fresh TLS connection for "localhost". */
function peerFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once("error", reject);
  });
}

/** One HTTPS GET from a given loopback source address, on `agent`; resolves with the status. */
function requestFrom(port: number, localAddress: string, path: string, agent: https.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port, path, localAddress, agent, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

function sumOfSeries(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

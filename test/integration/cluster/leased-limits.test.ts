// Rate limits shared by `workers: 2` without Redis, through quota leased from the primary (README
// "Scale-out"): hammered on both workers at once, a limit of L admits exactly L in a window, again L
// after the window resets, per key independently; a 429 carries the window's Retry-After. Real
// node:cluster processes; fresh connections, so the primary spreads the requests over both workers.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { request, type Response } from "../../helpers/client.js";
import { clusterFiles } from "../../helpers/cluster.js";
import { perTest } from "../../helpers/fixtures.js";
import { sleep, startRampart } from "../../helpers/process.js";
import { eventually, fetchMetrics, metricValue } from "../../helpers/proxy-tools.js";

const LIMIT = 30;
const WINDOW_S = 4;

describe("workers: 2, rate limits through leased quota", { timeout: 60_000 }, () => {
  const { backend, defer } = perTest({ onCleanupError: "log" });

  test("L per window across both workers, per key, with the window's Retry-After", async () => {
    const upstream = await backend();
    const setup = await clusterFiles();
    defer(() => setup.remove());
    await setup.write({
      workers: 2,
      // Plain HTTP answered, not redirected: many short connections cost less without TLS.
      tls: { redirectHttp: false },
      services: { app: { targets: [{ url: upstream.url }] } },
      rateLimits: { shared: { limit: LIMIT, window: `${WINDOW_S}s`, key: "header:x-api-key" } },
      routes: [{ name: "limited", match: { pathPrefix: "/" }, service: "app", rateLimit: "shared" }],
    });
    const rampart = await startRampart(setup.configFile);
    defer(() => rampart.killTree());
    const workers = rampart.workerPids();
    assert.equal(workers.length, 2);

    /** 3 × LIMIT requests for `key`, 10 in flight at a time, each on a fresh connection. */
    const hammer = async (key: string): Promise<Response[]> => {
      const answers: Response[] = [];
      for (let sent = 0; sent < 3 * LIMIT; sent += 10) {
        answers.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => request({ port: setup.httpPort, path: `/${key}/${sent + i}`, headers: { "x-api-key": key } })))));
      }
      return answers;
    };
    const count = (answers: readonly Response[], status: number) => answers.filter((res) => res.status === status).length;

    const started = Date.now();
    const first = await hammer("alpha");
    const took = Date.now() - started;
    assert.ok(took < WINDOW_S * 1_000 - 500, `the hammering fits in one window (${took} ms)`);
    assert.equal(count(first, 200), LIMIT, `statuses: ${first.map((res) => res.status).join(",")}`);
    assert.equal(count(first, 429), 2 * LIMIT);

    // Both workers answered, and both admitted some (each spent leased points).
    const lines = await eventually(
      async () => {
        const logged = rampart.lines.filter((line) => line.msg === "request" && typeof line.path === "string" && line.path.startsWith("/alpha/"));
        return logged.length === 3 * LIMIT ? logged : undefined;
      },
      3_000,
      "access-log lines for /alpha",
    );
    for (const pid of workers) {
      assert.ok(
        lines.some((line) => line.pid === pid && line.status === 200),
        `worker ${pid} admitted some: ${JSON.stringify(lines.map((line) => [line.pid, line.status]))}`,
      );
    }

    // A 429's Retry-After and RateLimit-Reset: the seconds left in the window that began with the first request.
    const refused = first.find((res) => res.status === 429)!;
    const retryAfter = Number(refused.headers["retry-after"]);
    assert.ok(retryAfter >= 1 && retryAfter <= WINDOW_S, `Retry-After ${retryAfter}`);
    assert.ok(retryAfter >= Math.ceil((WINDOW_S * 1_000 - took) / 1_000) - 1, `Retry-After ${retryAfter} after ${took} ms of a ${WINDOW_S} s window`);
    assert.equal(refused.headers["ratelimit-limit"], String(LIMIT));
    assert.equal(refused.headers["ratelimit-remaining"], "0");
    const admitted = first.find((res) => res.status === 200)!;
    assert.equal(admitted.headers["ratelimit-limit"], String(LIMIT));

    // Another key has a budget of its own.
    const other = await hammer("beta");
    assert.equal(count(other, 200), LIMIT, `statuses: ${other.map((res) => res.status).join(",")}`);

    // After the window, L again.
    const last429 = [...first].reverse().find((res) => res.status === 429)!;
    await sleep(Math.max(0, started + WINDOW_S * 1_000 - Date.now()) + 300);
    assert.ok(Number(last429.headers["retry-after"]) <= WINDOW_S);
    const second = await hammer("alpha");
    assert.equal(count(second, 200), LIMIT, `statuses: ${second.map((res) => res.status).join(",")}`);

    const rejections = metricValue(await fetchMetrics(setup.adminPort), 'rampart_ratelimit_rejections_total{policy="shared",route="limited"}');
    assert.equal(rejections, 6 * LIMIT);
    assert.deepEqual(await rampart.stop(), { code: 0, signal: null });
  });
});

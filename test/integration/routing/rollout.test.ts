// Progressive rollouts end to end (issue 13, part 2; DESIGN.md "Contract, second round": `rollout`,
// /api/rollouts, rampart_rollout_*, rampart_route_split_weight), one gateway with the memory store, real
// backends on loopback each answering with its side's name, steady client traffic through keep-alive
// agents, 1 s intervals: a rollout that promotes step by step against a healthy `to` (the record, the
// metric and the traffic all move); one rolled back because `to` answers 5xx; one rolled back because
// Rampart's own fault injection makes `to` slow; inconclusive intervals under low traffic; a restart in
// the middle of a rollout that resumes at the stored weight; the operator's pause, resume, promote and
// abort; a reload that keeps `to` (the rollout goes on where it was, with the new config) and one that
// changes it (a new rollout).
// Weight semantics: the record's weight is `to`'s percent of what from + to had in the config; with
// split {v1: 90, v2: 10} the rollout starts at 10, promotion is 100 and a rollback 0.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { describe, test } from "node:test";
import { stringify } from "yaml";
import { Gateway } from "../../../src/main.js";
import { silentLogger, type Logger } from "../../../src/observability/logger.js";
import type { RolloutRecord } from "../../../src/state/rollout-store.js";
import { perTest } from "../../helpers/fixtures.js";
import type { ConfigObject } from "../../helpers/gateway.js";
import { captureLogger, eventually, fetchMetrics, metricSample } from "../../helpers/proxy-tools.js";
import {
  atSecondOffset,
  decisionCounts,
  decisionLines,
  rolloutAction,
  rolloutOf,
  sleep,
  splitWeights,
  statesSet,
  steadyTraffic,
  tally,
  waitForSeen,
  watchRollout,
  type Hit,
  type RolloutView,
  type Seen,
  type Traffic,
  type Watcher,
} from "../../helpers/rollout.js";

const { backend, gateway, defer } = perTest();

/** A backend answering `status` with its side's name. */
const sideBackend = (name: string, status = 200) => backend((_req, res) => res.writeHead(status, { "content-type": "text/plain" }).end(name));

/** Services by name (one target each) and one route "web" on "/" splitting `weights`, with `rollout`; plain HTTP. */
function rolloutConfig(urls: Record<string, string>, weights: Record<string, number>, rollout: ConfigObject, route: ConfigObject = {}): ConfigObject {
  return {
    tls: { redirectHttp: false },
    services: Object.fromEntries(Object.entries(urls).map(([name, url]) => [name, { targets: [{ url }] }])),
    routes: [{ name: "web", match: { pathPrefix: "/" }, split: { services: weights }, rollout, ...route }],
  };
}

/** v1 → v2 in steps of 20 up to 90, 1 s intervals, at least 3 responses from v2, 2 failed intervals roll back. */
const ROLLOUT = { from: "v1", to: "v2", stepWeight: 20, maxWeight: 90, interval: "1s", minRequests: 3, minSuccessRate: 99, maxP99Latency: "500ms", failureThreshold: 2 } as const;

function traffic(ports: readonly number[], perSecond: number): Traffic {
  const started = steadyTraffic(ports, perSecond);
  defer(() => started.stop());
  return started;
}

function watch(adminPorts: readonly number[]): Watcher {
  const watcher = watchRollout(adminPorts, "web");
  defer(() => watcher.stop());
  return watcher;
}

/** The rollout once /api/rollouts lists it (a new controller reads the store first). */
const listed = (adminPort: number) => eventually(() => rolloutOf(adminPort, "web"), 3_000, "the rollout of route web in /api/rollouts");

const brief = ({ route, from, to, weight, state }: RolloutView) => ({ route, from, to, weight, state });
const weightsOf = (seen: readonly Seen[]) => seen.map(({ weight, state }) => `${weight} ${state}`);
const judged = (lines: ReturnType<typeof decisionLines>) => lines.filter((line) => line.result !== "inconclusive");

/** Hits sent after `from` (performance.now()) and before `to`. */
const sentBetween = (hits: readonly Hit[], from: number, to = Infinity) => hits.filter((hit) => hit.sentAt >= from && hit.sentAt < to);

describe("rollout: promotion", () => {
  test("a healthy `to` is promoted step by step: /api/rollouts and rampart_route_split_weight go 10 → 30 → 50 → 70 → 90 → 100, and the traffic follows", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2");
    const log = captureLogger();
    const gw = await gateway(rolloutConfig({ v1: v1.url, v2: v2.url }, { v1: 90, v2: 10 }, ROLLOUT), { logger: log.logger });

    const first = await listed(gw.adminPort);
    assert.deepEqual(brief(first), { route: "web", from: "v1", to: "v2", weight: 10, state: "progressing" });
    assert.equal(first.reason, "started");
    assert.ok(!Number.isNaN(Date.parse(first.since)), `since is a date: ${first.since}`);
    assert.deepEqual(await splitWeights(gw.adminPort, "web", ["v1", "v2"]), { v1: 90, v2: 10 });
    assert.deepEqual(await statesSet(gw.adminPort, "web"), ["progressing"]);

    const watcher = watch([gw.adminPort]);
    // The metric, watched on its own.
    const metricSeen: string[] = [];
    let watchingMetric = true;
    const metricLoop = (async () => {
      while (watchingMetric) {
        const { v1: w1, v2: w2 } = await splitWeights(gw.adminPort, "web", ["v1", "v2"]);
        const text = `${w1}/${w2}`;
        if (metricSeen.at(-1) !== text) metricSeen.push(text);
        await sleep(50);
      }
    })();
    defer(() => {
      watchingMetric = false;
      return metricLoop;
    });

    const load = traffic([gw.httpPort], 80);
    const promoted = await waitForSeen(watcher, (seen) => seen.state === "promoted", 12_000, "promotion");
    await sleep(1_200);
    await load.stop();
    await watcher.stop();
    watchingMetric = false;
    await metricLoop;

    const seen = watcher.seen[0]!;
    assert.deepEqual(weightsOf(seen), ["10 progressing", "30 progressing", "50 progressing", "70 progressing", "90 progressing", "100 promoted"]);
    assert.deepEqual(metricSeen, ["90/10", "70/30", "50/50", "30/70", "10/90", "0/100"], "rampart_route_split_weight moved with the rollout");
    assert.deepEqual(watcher.errors, []);

    const lines = decisionLines(log.lines, "web");
    assert.deepEqual(
      judged(lines).map(({ result, weight, state }) => `${result} ${weight} ${state}`),
      ["step 30 progressing", "step 50 progressing", "step 70 progressing", "step 90 progressing", "promoted 100 promoted"],
      `decisions: ${JSON.stringify(lines)}`,
    );
    for (const line of judged(lines)) {
      assert.ok(line.requests >= 3, `a judged interval had at least minRequests responses: ${JSON.stringify(line)}`);
      assert.equal(line.successRate, 100);
      assert.ok(line.p99Ms !== null && line.p99Ms <= 500, `p99 within maxP99Latency: ${JSON.stringify(line)}`);
    }
    for (const line of lines.filter((l) => l.result === "inconclusive")) assert.ok(line.requests < 3, JSON.stringify(line));
    const inconclusive = lines.length - judged(lines).length;
    assert.deepEqual(await decisionCounts(gw.adminPort, "web"), { step: 4, inconclusive, failed: 0, promoted: 1, rolled_back: 0 });

    const final = await rolloutOf(gw.adminPort, "web");
    assert.deepEqual(brief(final!), { route: "web", from: "v1", to: "v2", weight: 100, state: "promoted" });
    assert.match(final!.reason, /^promoted at 90%: \d+ responses, 100\.00% successful/);
    assert.ok(Date.parse(final!.since) > Date.parse(first.since), "since moved to the promotion");
    assert.deepEqual(await statesSet(gw.adminPort, "web"), ["promoted"]);

    // The traffic followed: each phase (from the watcher seeing a weight to 150 ms before it saw the
    // next) got about its weight, v1 dominant at 10, v2 at 90, only v2 once promoted.
    const hits = load.hits;
    assert.ok(
      hits.every((hit) => hit.status === 200),
      `every request answered 200: ${JSON.stringify(tally(hits))}`,
    );
    let expected = 0;
    let observed = 0;
    let variance = 0;
    for (let i = 0; i < seen.length - 1; i++) {
      const phase = sentBetween(hits, seen[i]!.at, seen[i + 1]!.at - 150);
      const p = seen[i]!.weight / 100;
      const counts = tally(phase);
      expected += phase.length * p;
      variance += phase.length * p * (1 - p);
      observed += counts.v2 ?? 0;
      if (seen[i]!.weight === 10 && phase.length >= 20) assert.ok((counts.v1 ?? 0) > 3 * (counts.v2 ?? 0), `at weight 10 v1 served most: ${JSON.stringify(counts)}`);
      if (seen[i]!.weight === 90 && phase.length >= 20) assert.ok((counts.v2 ?? 0) > 3 * (counts.v1 ?? 0), `at weight 90 v2 served most: ${JSON.stringify(counts)}`);
    }
    assert.ok(Math.abs(observed - expected) <= 5 * Math.sqrt(variance) + 5, `v2 served ${observed} requests during the steps, ${expected.toFixed(1)} expected from the weights`);
    const after = tally(sentBetween(hits, promoted.at));
    // Enough requests after the promotion to mean something, whatever the machine's load lets through.
    assert.ok((after.v2 ?? 0) >= 10, `traffic after the promotion: ${JSON.stringify(after)}`);
    assert.deepEqual(Object.keys(after), ["v2"], `only v2 serves once promoted: ${JSON.stringify(after)}`);
  });
});

describe("rollout: automatic rollback", () => {
  test("`to` answering 5xx fails two intervals and is rolled back to 0, where it stays; every request then goes to v1", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2", 500);
    const log = captureLogger();
    const gw = await gateway(rolloutConfig({ v1: v1.url, v2: v2.url }, { v1: 80, v2: 20 }, ROLLOUT), { logger: log.logger });
    assert.equal((await listed(gw.adminPort)).weight, 20);
    const watcher = watch([gw.adminPort]);
    const load = traffic([gw.httpPort], 60);

    const rolledBack = await waitForSeen(watcher, (seen) => seen.state === "rolled-back", 10_000, "the rollback");
    const rollback = await rolloutOf(gw.adminPort, "web");
    assert.deepEqual(brief(rollback!), { route: "web", from: "v1", to: "v2", weight: 0, state: "rolled-back" });
    assert.match(rollback!.reason, /^rolled back after 2 failed intervals: \d+ responses, 0\.00% successful/);
    assert.deepEqual(await splitWeights(gw.adminPort, "web", ["v1", "v2"]), { v1: 100, v2: 0 });
    assert.deepEqual(await statesSet(gw.adminPort, "web"), ["rolled-back"]);
    const countsAtRollback = await decisionCounts(gw.adminPort, "web");

    // It stays rolled back over the next intervals: nothing judged, v2 gets nothing.
    const v2Requests = v2.requests.length;
    await sleep(2_300);
    await load.stop();
    await watcher.stop();
    assert.deepEqual(weightsOf(watcher.seen[0]!), ["20 progressing", "0 rolled-back"]);
    assert.deepEqual(await decisionCounts(gw.adminPort, "web"), countsAtRollback, "a rolled-back rollout is not judged any more");
    assert.equal(countsAtRollback.failed, 1);
    assert.equal(countsAtRollback.rolled_back, 1);
    assert.equal(countsAtRollback.step + countsAtRollback.promoted, 0);
    assert.equal((await rolloutOf(gw.adminPort, "web"))!.state, "rolled-back");
    assert.ok(v2.requests.length - v2Requests <= 1, `v2 got ${v2.requests.length - v2Requests} requests after the rollback`);

    const lines = judged(decisionLines(log.lines, "web"));
    assert.deepEqual(
      lines.map(({ result, weight }) => `${result} ${weight}`),
      ["failed 20", "rolled_back 0"],
    );
    for (const line of lines) assert.equal(line.successRate, 0, JSON.stringify(line));
    const before = tally(sentBetween(load.hits, 0, rolledBack.at - 1_000));
    assert.ok((before["status 500"] ?? 0) > 0 && (before.v1 ?? 0) > 0, `before the rollback both sides served: ${JSON.stringify(before)}`);
    const after = tally(sentBetween(load.hits, rolledBack.at));
    assert.ok((after.v1 ?? 0) >= 100, JSON.stringify(after));
    assert.deepEqual(Object.keys(after), ["v1"], `after the rollback only v1 serves: ${JSON.stringify(after)}`);
  });

  test("`to` slowed by the route's own fault injection (300 ms on every request, maxP99Latency 100ms) is rolled back though every answer is a 200", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2");
    const log = captureLogger();
    const gw = await gateway(
      rolloutConfig({ v1: v1.url, v2: v2.url }, { v1: 50, v2: 50 }, { ...ROLLOUT, maxP99Latency: "100ms" }, { fault: { delay: { percent: 100, duration: "300ms" } } }),
      { logger: log.logger },
    );
    assert.equal((await listed(gw.adminPort)).weight, 50);
    const watcher = watch([gw.adminPort]);
    const load = traffic([gw.httpPort], 30);

    await waitForSeen(watcher, (seen) => seen.state === "rolled-back", 10_000, "the rollback");
    await load.stop();
    await watcher.stop();
    const rollback = await rolloutOf(gw.adminPort, "web");
    assert.deepEqual(brief(rollback!), { route: "web", from: "v1", to: "v2", weight: 0, state: "rolled-back" });
    assert.match(rollback!.reason, /^rolled back after 2 failed intervals: \d+ responses, 100\.00% successful, p99 ≤ \d+ ms \(needs ≥ 99% and p99 ≤ 100 ms\)$/);
    assert.deepEqual(weightsOf(watcher.seen[0]!), ["50 progressing", "0 rolled-back"]);

    const lines = judged(decisionLines(log.lines, "web"));
    assert.deepEqual(
      lines.map(({ result }) => result),
      ["failed", "rolled_back"],
    );
    for (const line of lines) {
      assert.equal(line.successRate, 100, JSON.stringify(line));
      assert.ok(line.p99Ms === null || line.p99Ms >= 300, `p99 counts the injected delay: ${JSON.stringify(line)}`);
    }
    const counts = tally(load.hits);
    assert.deepEqual(Object.keys(counts).sort(), ["v1", "v2"], `every answer a 200 from a side: ${JSON.stringify(counts)}`);
    assert.ok(
      load.hits.every((hit) => hit.doneAt - hit.sentAt >= 290),
      "the delay applied to every request",
    );
    const metrics = await fetchMetrics(gw.adminPort);
    assert.ok((metricSample(metrics, "rampart_faults_injected_total", { route: "web", kind: "delay" }) ?? 0) >= load.hits.length);
  });
});

describe("rollout: low traffic", () => {
  test("one request every 2 s with minRequests 5: every interval inconclusive, the weight holds, decisions_total{result=inconclusive} rises", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2");
    const log = captureLogger();
    const gw = await gateway(rolloutConfig({ v1: v1.url, v2: v2.url }, { v1: 50, v2: 50 }, { ...ROLLOUT, minRequests: 5 }), { logger: log.logger });
    assert.equal((await listed(gw.adminPort)).weight, 50);
    const watcher = watch([gw.adminPort]);
    const load = traffic([gw.httpPort], 0.5);

    const readings: number[] = [];
    await eventually(
      async () => {
        const { inconclusive } = await decisionCounts(gw.adminPort, "web");
        if (readings.at(-1) !== inconclusive) readings.push(inconclusive);
        return inconclusive >= 5 ? true : undefined;
      },
      8_000,
      "five inconclusive intervals",
      100,
    );
    await load.stop();
    await watcher.stop();
    assert.ok(readings.length >= 3, `the inconclusive count rose interval after interval: ${JSON.stringify(readings)}`);
    assert.ok(load.hits.length >= 2, `${load.hits.length} requests sent`);

    const counts = await decisionCounts(gw.adminPort, "web");
    assert.deepEqual({ ...counts, inconclusive: 0 }, { step: 0, inconclusive: 0, failed: 0, promoted: 0, rolled_back: 0 });
    const now = await rolloutOf(gw.adminPort, "web");
    assert.deepEqual(brief(now!), { route: "web", from: "v1", to: "v2", weight: 50, state: "progressing" });
    assert.match(now!.reason, /^inconclusive: [01] responses, .* \(fewer than 5\)$/);
    assert.deepEqual(weightsOf(watcher.seen[0]!), ["50 progressing"], "the weight never moved");
    assert.deepEqual(await splitWeights(gw.adminPort, "web", ["v1", "v2"]), { v1: 50, v2: 50 });

    const lines = decisionLines(log.lines, "web");
    assert.equal(lines.length, counts.inconclusive, "one log line per decision");
    for (const line of lines) {
      assert.equal(line.result, "inconclusive");
      assert.ok(line.requests <= 1, `at most one response from v2 in a 1 s interval: ${JSON.stringify(line)}`);
      assert.equal(line.weight, 50);
    }
  });
});

/** A gateway started from a config file in a directory the test keeps, so that a second one can take over its state. */
interface OwnGateway {
  readonly gateway: Gateway;
  readonly httpPort: number;
  readonly adminPort: number;
  close(): Promise<void>;
}

async function startInDir(dir: string, logger: Logger = silentLogger): Promise<OwnGateway> {
  const gateway = await Gateway.start({ configFile: join(dir, "gateway.yaml"), logger, accessLog: { write: () => {} } });
  let closed: Promise<void> | undefined;
  const own = {
    gateway,
    httpPort: gateway.addresses.http.port,
    adminPort: gateway.addresses.admin!.port,
    close: () => (closed ??= gateway.close()),
  };
  defer(() => own.close());
  return own;
}

describe("rollout: restart", () => {
  test("a gateway restarted in the middle of a rollout resumes at the stored weight and goes on from there", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2");
    const dir = await mkdtemp(join(tmpdir(), "rampart-rollout-restart-"));
    defer(() => rm(dir, { recursive: true, force: true }));
    const config = rolloutConfig({ v1: v1.url, v2: v2.url }, { v1: 90, v2: 10 }, ROLLOUT);
    await writeFile(
      join(dir, "gateway.yaml"),
      stringify({
        ...config,
        listen: { http: "127.0.0.1:0", https: "127.0.0.1:0", admin: "127.0.0.1:0" },
        tls: { redirectHttp: false, certDir: join(dir, "certs") },
        store: { dir: join(dir, "state") },
        log: { level: "silent" },
      }),
    );

    const firstLog = captureLogger();
    const first = await startInDir(dir, firstLog.logger);
    assert.equal((await listed(first.adminPort)).weight, 10);
    const firstWatch = watch([first.adminPort]);
    const firstLoad = traffic([first.httpPort], 80);
    await waitForSeen(firstWatch, (seen) => seen.weight >= 50, 8_000, "weight 50");
    await firstLoad.stop();
    await firstWatch.stop();
    await first.close();

    // What the first gateway left in the store is what the second must resume from.
    const stored = (JSON.parse(await readFile(join(dir, "state", "rollouts.json"), "utf8")) as RolloutRecord[]).find((record) => record.route === "web");
    assert.ok(stored !== undefined, "the record is in rollouts.json");
    assert.equal(stored.state, "progressing");
    assert.ok(stored.weight >= 50, `stored weight ${stored.weight}`);
    assert.equal(stored.weight, firstWatch.latest[0]!.weight, "the store holds the weight the first gateway showed last");

    const secondLog = captureLogger();
    const second = await startInDir(dir, secondLog.logger);
    const resumed = await listed(second.adminPort);
    assert.deepEqual(resumed, stored, "/api/rollouts shows the stored record as it was");
    assert.deepEqual(await splitWeights(second.adminPort, "web", ["v1", "v2"]), { v1: 100 - stored.weight, v2: stored.weight });
    const resumedLine = secondLog.lines.find((line) => line.msg === "rollout resumed" || line.msg === "rollout started");
    assert.deepEqual(resumedLine && { msg: resumedLine.msg, resumed: resumedLine.resumed, weight: resumedLine.weight }, { msg: "rollout resumed", resumed: true, weight: stored.weight });

    // And it goes on from there, not from the start.
    const secondWatch = watch([second.adminPort]);
    const secondLoad = traffic([second.httpPort], 80);
    const next = stored.weight >= 90 ? "100 promoted" : `${stored.weight + 20} progressing`;
    await waitForSeen(secondWatch, (seen) => seen.weight !== stored.weight, 6_000, "the next decision after the restart");
    await secondLoad.stop();
    await secondWatch.stop();
    assert.deepEqual(weightsOf(secondWatch.seen[0]!).slice(0, 2), [`${stored.weight} progressing`, next]);
  });
});

describe("rollout: operator actions", () => {
  test("pause holds the weight over several intervals, resume goes on stepping, promote gives `to` everything, abort rolls back and stays", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2");
    const gw = await gateway(rolloutConfig({ v1: v1.url, v2: v2.url }, { v1: 90, v2: 10 }, ROLLOUT));
    await listed(gw.adminPort);
    const watcher = watch([gw.adminPort]);
    const load = traffic([gw.httpPort], 80);
    await waitForSeen(watcher, (seen) => seen.weight >= 30, 6_000, "a first step");

    // Actions are taken 100 ms into a second, away from the judge (500–750 ms into one).
    await atSecondOffset(100);
    const pausedAt = performance.now();
    const paused = await rolloutAction(gw.adminPort, "web", "pause");
    assert.equal(paused.status, 200, paused.body);
    const pausedRecord = paused.json<RolloutView>();
    assert.equal(pausedRecord.state, "paused");
    assert.equal(pausedRecord.reason, "paused by an operator");
    const held = pausedRecord.weight;
    assert.ok(held >= 30 && held < 90, `paused at ${held}`);
    assert.deepEqual(brief((await rolloutOf(gw.adminPort, "web"))!), { route: "web", from: "v1", to: "v2", weight: held, state: "paused" });
    assert.deepEqual(await statesSet(gw.adminPort, "web"), ["paused"]);
    const countsPaused = await decisionCounts(gw.adminPort, "web");
    await sleep(3_000);
    const stillPaused = await rolloutOf(gw.adminPort, "web");
    assert.deepEqual(brief(stillPaused!), { route: "web", from: "v1", to: "v2", weight: held, state: "paused" }, "three healthy intervals later, still paused at the same weight");
    assert.equal(stillPaused!.reason, "paused by an operator");
    assert.deepEqual(await decisionCounts(gw.adminPort, "web"), countsPaused, "paused intervals are not judged");
    assert.deepEqual(await splitWeights(gw.adminPort, "web", ["v1", "v2"]), { v1: 100 - held, v2: held });
    assert.deepEqual(
      watcher.seen[0]!.filter((seen) => seen.at > pausedAt).map(({ weight, state }) => `${weight} ${state}`),
      [`${held} paused`],
      "nothing moved while paused",
    );

    await atSecondOffset(100);
    const resumed = await rolloutAction(gw.adminPort, "web", "resume");
    assert.equal(resumed.status, 200, resumed.body);
    assert.deepEqual(brief(resumed.json<RolloutView>()), { route: "web", from: "v1", to: "v2", weight: held, state: "progressing" });
    await waitForSeen(watcher, (seen) => seen.state === "progressing" && seen.weight === held + 20, 3_500, `a step to ${held + 20} after resume`);

    await atSecondOffset(100);
    const promoted = await rolloutAction(gw.adminPort, "web", "promote");
    assert.equal(promoted.status, 200, promoted.body);
    assert.deepEqual(brief(promoted.json<RolloutView>()), { route: "web", from: "v1", to: "v2", weight: 100, state: "promoted" });
    assert.equal(promoted.json<RolloutView>().reason, "promoted by an operator");
    assert.deepEqual(await splitWeights(gw.adminPort, "web", ["v1", "v2"]), { v1: 0, v2: 100 });
    assert.deepEqual(await statesSet(gw.adminPort, "web"), ["promoted"]);
    const promotedAt = performance.now();
    await sleep(1_200);
    assert.deepEqual(brief((await rolloutOf(gw.adminPort, "web"))!), { route: "web", from: "v1", to: "v2", weight: 100, state: "promoted" });
    const whilePromoted = tally(sentBetween(load.hits, promotedAt));
    assert.deepEqual(Object.keys(whilePromoted), ["v2"], `only v2 serves once promoted: ${JSON.stringify(whilePromoted)}`);

    await atSecondOffset(100);
    const aborted = await rolloutAction(gw.adminPort, "web", "abort");
    assert.equal(aborted.status, 200, aborted.body);
    assert.deepEqual(brief(aborted.json<RolloutView>()), { route: "web", from: "v1", to: "v2", weight: 0, state: "rolled-back" });
    assert.equal(aborted.json<RolloutView>().reason, "aborted by an operator");
    assert.deepEqual(await splitWeights(gw.adminPort, "web", ["v1", "v2"]), { v1: 100, v2: 0 });
    assert.deepEqual(await statesSet(gw.adminPort, "web"), ["rolled-back"]);
    const abortedAt = performance.now();
    const countsAborted = await decisionCounts(gw.adminPort, "web");
    await sleep(2_200);
    await load.stop();
    await watcher.stop();
    const stays = await rolloutOf(gw.adminPort, "web");
    assert.deepEqual(brief(stays!), { route: "web", from: "v1", to: "v2", weight: 0, state: "rolled-back" }, "an aborted rollout stays rolled back");
    assert.equal(stays!.reason, "aborted by an operator");
    assert.deepEqual(await decisionCounts(gw.adminPort, "web"), countsAborted);
    const whileAborted = tally(sentBetween(load.hits, abortedAt));
    assert.ok((whileAborted.v1 ?? 0) >= 100, JSON.stringify(whileAborted));
    assert.deepEqual(Object.keys(whileAborted), ["v1"], `only v1 serves once aborted: ${JSON.stringify(whileAborted)}`);
    assert.deepEqual(watcher.errors, []);
  });

  test("an unknown route answers 404, an unknown action 400", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2");
    const gw = await gateway(rolloutConfig({ v1: v1.url, v2: v2.url }, { v1: 90, v2: 10 }, ROLLOUT));
    await listed(gw.adminPort);
    const unknownRoute = await rolloutAction(gw.adminPort, "nope", "pause");
    assert.equal(unknownRoute.status, 404, unknownRoute.body);
    assert.deepEqual(unknownRoute.json(), { error: "no_rollout", route: "nope" });
    const unknownAction = await rolloutAction(gw.adminPort, "web", "explode");
    assert.equal(unknownAction.status, 400, unknownAction.body);
    assert.equal((await rolloutOf(gw.adminPort, "web"))!.state, "progressing");
  });
});

describe("rollout: reload", () => {
  test("a reload that keeps `to` keeps the rollout where it is (and applies the new stepWeight); one that changes `to` starts a new rollout", async () => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2");
    const v3 = await sideBackend("v3");
    const urls = { v1: v1.url, v2: v2.url, v3: v3.url };
    const gw = await gateway(rolloutConfig(urls, { v1: 90, v2: 10 }, ROLLOUT));
    const started = await listed(gw.adminPort);
    const watcher = watch([gw.adminPort]);
    const load = traffic([gw.httpPort], 80);
    await waitForSeen(watcher, (seen) => seen.weight >= 30, 6_000, "a first step");

    // Same from and to, a bigger stepWeight, a response header added: the rollout goes on.
    await atSecondOffset(100);
    const before = (await rolloutOf(gw.adminPort, "web"))!;
    await gw.writeConfig(rolloutConfig(urls, { v1: 90, v2: 10 }, { ...ROLLOUT, stepWeight: 30 }, { responseHeaders: { set: { "x-reloaded": "1" } } }));
    const kept = await gw.gateway.reload();
    assert.equal(kept.ok, true, JSON.stringify(kept));
    const afterKeep = (await rolloutOf(gw.adminPort, "web"))!;
    assert.deepEqual(afterKeep, before, "the reload left the rollout's record as it was");
    assert.equal(afterKeep.since, started.since);
    assert.deepEqual(await splitWeights(gw.adminPort, "web", ["v1", "v2"]), { v1: 100 - before.weight, v2: before.weight });
    const reloadedAt = performance.now();
    const next = before.weight >= 90 ? "100 promoted" : `${Math.min(before.weight + 30, 90)} progressing`;
    const stepped = await waitForSeen(watcher, (seen) => seen.at > reloadedAt, 3_500, "the first decision after the reload");
    assert.equal(`${stepped.weight} ${stepped.state}`, next, `the next step used stepWeight 30: ${stepped.reason}`);

    // `to` becomes v3: a new rollout from v3's share of the split, v2 out of the traffic.
    await atSecondOffset(100);
    await gw.writeConfig(rolloutConfig(urls, { v1: 90, v3: 10 }, { ...ROLLOUT, to: "v3" }));
    const changed = await gw.gateway.reload();
    assert.equal(changed.ok, true, JSON.stringify(changed));
    const changedAt = performance.now();
    const fresh = await eventually(async () => {
      const view = await rolloutOf(gw.adminPort, "web");
      return view?.to === "v3" ? view : undefined;
    }, 2_000, "the new rollout to v3");
    assert.deepEqual(brief(fresh), { route: "web", from: "v1", to: "v3", weight: 10, state: "progressing" });
    assert.equal(fresh.reason, "started");
    assert.ok(Date.parse(fresh.since) > Date.parse(started.since), "a new rollout has a new since");
    assert.deepEqual(await splitWeights(gw.adminPort, "web", ["v1", "v2", "v3"]), { v1: 90, v2: undefined, v3: 10 });
    await waitForSeen(watcher, (seen) => seen.to === "v3" && seen.weight === 30, 4_000, "the new rollout's first step");
    await load.stop();
    await watcher.stop();
    const afterChange = tally(sentBetween(load.hits, changedAt));
    assert.equal(afterChange.v2, undefined, `v2 gets nothing once the rollout targets v3: ${JSON.stringify(afterChange)}`);
    assert.ok((afterChange.v3 ?? 0) > 0 && (afterChange.v1 ?? 0) > 0, JSON.stringify(afterChange));
    assert.deepEqual(watcher.errors, []);
  });
  test("a reload that keeps `to` but lists the split's services in another order goes on judging `to`'s own responses", async () => {
    // v1 (`from`) answers 500, v2 (`to`) is healthy: the rollout must keep stepping after the reload.
    const v1 = await sideBackend("v1", 500);
    const v2 = await sideBackend("v2");
    const urls = { v1: v1.url, v2: v2.url };
    const log = captureLogger();
    // log.level info: a reload sets the level of the logger the gateway was given.
    const gw = await gateway({ ...rolloutConfig(urls, { v1: 90, v2: 10 }, ROLLOUT), log: { level: "info" } }, { logger: log.logger });
    await listed(gw.adminPort);
    const watcher = watch([gw.adminPort]);
    const load = traffic([gw.httpPort], 80);
    await waitForSeen(watcher, (seen) => seen.weight >= 30, 6_000, "a first step");

    await atSecondOffset(100);
    const before = (await rolloutOf(gw.adminPort, "web"))!;
    await gw.writeConfig({ ...rolloutConfig(urls, { v2: 10, v1: 90 }, ROLLOUT), log: { level: "info" } });
    const reloaded = await gw.gateway.reload();
    assert.equal(reloaded.ok, true, JSON.stringify(reloaded));
    const reloadedAt = Date.now();
    assert.deepEqual(brief((await rolloutOf(gw.adminPort, "web"))!), brief(before), "the rollout kept where it was");
    assert.deepEqual(await splitWeights(gw.adminPort, "web", ["v1", "v2"]), { v1: 100 - before.weight, v2: before.weight });

    // The decisions on intervals that began after the reload (an interval is judged from 500 ms after
    // its end, and logged within milliseconds): v2 answered only 200s, so none may fail.
    const afterReload = () => judged(decisionLines(log.lines, "web")).filter((line) => (Math.floor((line.time - 100) / 1_000) - 1) * 1_000 >= reloadedAt);
    await eventually(
      async () => (afterReload().length >= 2 || watcher.latest[0]?.state !== "progressing" ? true : undefined),
      5_000,
      "two decisions on intervals after the reload",
      100,
    );
    await load.stop();
    await watcher.stop();
    const lines = afterReload();
    const described = JSON.stringify(decisionLines(log.lines, "web").map(({ time, result, weight, requests, successRate }) => ({ at: time - reloadedAt, result, weight, requests, successRate })));
    for (const line of lines) assert.ok(line.result === "step" || line.result === "promoted", `v2 answered only 200s, yet ${line.result} after the reload (${line.reason}); decisions (at: ms from the reload): ${described}`);
    assert.notEqual(watcher.latest[0]?.state, "rolled-back", `v2 answered only 200s, yet rolled back (${watcher.latest[0]?.reason}); decisions (at: ms from the reload): ${described}`);
    assert.ok(lines.length >= 2, `decisions after the reload: ${described}`);
    const counts = tally(load.hits);
    assert.ok((counts.v2 ?? 0) > 0 && (counts["status 500"] ?? 0) > 0, JSON.stringify(counts));
  });
});

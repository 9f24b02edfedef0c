// A progressive rollout across a fleet (issue 13, part 2; DESIGN.md "Contract, second round":
// `rollout`): two gateway instances sharing one real redis-server, client traffic spread over both, 1 s
// intervals. Every change of the rollout (each step, the promotion, an operator's abort taken through one
// instance) shows on both instances' /api/rollouts within a second of each other; each interval is judged
// by exactly one instance (the lock `rollout:<route>:<interval>` in the store), from the fleet's counts:
// rampart_rollout_decisions_total summed over both instances equals the number of "rollout decision" log
// lines of both, which equals the number of distinct intervals they judged; and the responses each decision
// counted add up to what both instances served from `to` in those intervals.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { perTest } from "../../helpers/fixtures.js";
import type { ConfigObject } from "../../helpers/gateway.js";
import { captureLogger, eventually } from "../../helpers/proxy-tools.js";
import { startRedis, type TestRedis } from "../../helpers/redis.js";
import {
  decisionCounts,
  decisionLines,
  rolloutAction,
  rolloutOf,
  RESULTS,
  splitWeights,
  steadyTraffic,
  tally,
  waitForSeen,
  watchRollout,
  type DecisionLine,
  type RolloutView,
  type Seen,
} from "../../helpers/rollout.js";

const { backend, gateway, defer } = perTest();

let redis: TestRedis | undefined;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

const sideBackend = (name: string) => backend((_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end(name));

function fleetConfig(v1: string, v2: string, keyPrefix: string): ConfigObject {
  return {
    tls: { redirectHttp: false },
    store: { kind: "redis", redis: { url: redis!.url, keyPrefix } },
    services: { v1: { targets: [{ url: v1 }] }, v2: { targets: [{ url: v2 }] } },
    routes: [
      {
        name: "web",
        match: { pathPrefix: "/" },
        split: { services: { v1: 90, v2: 10 } },
        rollout: { from: "v1", to: "v2", stepWeight: 20, maxWeight: 90, interval: "1s", minRequests: 3, minSuccessRate: 99, maxP99Latency: "500ms", failureThreshold: 2 },
      },
    ],
  };
}

const describeSeen = (seen: readonly Seen[]) => seen.map(({ weight, state }) => `${weight} ${state}`);

/**
 * The 1 s interval a decision line judged: an interval is judged from 500 ms into the next one (the
 * judge's grace) until that one ends, and logged a few milliseconds after the tick that judged it.
 */
const intervalOf = (line: DecisionLine) => Math.floor((line.time - 100) / 1_000) - 1;

describe("rollout across a fleet on one Redis", () => {
  test("two instances agree on every change within a second; each interval is judged once, by one of them, from both instances' counts", async (t) => {
    const v1 = await sideBackend("v1");
    const v2 = await sideBackend("v2");
    const config = fleetConfig(v1.url, v2.url, "rampart:rollout-fleet:");
    const logA = captureLogger();
    const logB = captureLogger();
    const a = await gateway(config, { logger: logA.logger });
    const b = await gateway(config, { logger: logB.logger });
    const startedA = await eventually(() => rolloutOf(a.adminPort, "web"), 3_000, "the rollout on instance A");
    const startedB = await eventually(() => rolloutOf(b.adminPort, "web"), 3_000, "the rollout on instance B");
    assert.deepEqual(startedB, startedA, "B resumed the record A started");
    assert.equal(startedA.weight, 10);

    const watcher = watchRollout([a.adminPort, b.adminPort], "web");
    defer(() => watcher.stop());
    const load = steadyTraffic([a.httpPort, b.httpPort], 80);
    defer(() => load.stop());

    await waitForSeen(watcher, (seen) => seen.state === "promoted", 12_000, "the promotion on A", 0);
    await waitForSeen(watcher, (seen) => seen.state === "promoted", 1_500, "the promotion on B", 1);
    await load.stop();

    // Both saw the same changes, in the same order, each within a second of the other.
    const [seenA, seenB] = [watcher.seen[0]!, watcher.seen[1]!];
    assert.deepEqual(describeSeen(seenA), ["10 progressing", "30 progressing", "50 progressing", "70 progressing", "90 progressing", "100 promoted"]);
    assert.deepEqual(describeSeen(seenB), describeSeen(seenA), "B went through the same changes as A");
    t.diagnostic(`changes seen on A vs B (ms): ${seenA.map((seen, i) => (seenB[i]!.at - seen.at).toFixed(0)).join(", ")}`);
    for (let i = 1; i < seenA.length; i++) {
      const apart = Math.abs(seenA[i]!.at - seenB[i]!.at);
      assert.ok(apart < 1_000, `"${describeSeen([seenA[i]!])[0]}" seen ${apart.toFixed(0)} ms apart on the two instances`);
    }
    for (const port of [a.adminPort, b.adminPort]) assert.deepEqual(await splitWeights(port, "web", ["v1", "v2"]), { v1: 0, v2: 100 });

    // One decision per interval, by one instance.
    const lines = [...decisionLines(logA.lines, "web"), ...decisionLines(logB.lines, "web")].sort((x, y) => x.time - y.time);
    const countsA = await decisionCounts(a.adminPort, "web");
    const countsB = await decisionCounts(b.adminPort, "web");
    const total = Object.fromEntries(RESULTS.map((result) => [result, countsA[result] + countsB[result]]));
    const sum = Object.values(total).reduce((x, y) => x + y, 0);
    assert.equal(total.step, 4, `fleet decisions: ${JSON.stringify({ countsA, countsB })}`);
    assert.equal(total.promoted, 1);
    assert.equal(total.failed! + total.rolled_back!, 0);
    assert.equal(sum, lines.length, "one log line per decision, on the instance that took it");
    assert.equal(decisionLines(logA.lines, "web").length, Object.values(countsA).reduce((x, y) => x + y, 0));
    const intervals = lines.map(intervalOf);
    assert.equal(new Set(intervals).size, lines.length, `each interval judged once: ${JSON.stringify(lines.map((line) => ({ interval: intervalOf(line), time: line.time, result: line.result })))}`);
    assert.deepEqual(
      lines.filter((line) => line.result !== "inconclusive").map(({ result, weight }) => `${result} ${weight}`),
      ["step 30", "step 50", "step 70", "step 90", "promoted 100"],
    );

    // The judge counted both instances' responses from v2: what the decisions counted matches what the
    // clients got from v2 through either instance in the judged intervals, not the half that went through
    // one instance (an instance flushes its counts every 250 ms into the interval of its previous flush,
    // so responses up to 250 ms into an interval may be counted in the one before).
    const judgedIntervals = new Set(intervals);
    const fromV2 = load.hits.filter((hit) => hit.status === 200 && hit.body === "v2" && judgedIntervals.has(Math.floor(hit.doneWall / 1_000)));
    const throughA = fromV2.filter((hit) => hit.port === a.httpPort).length;
    const throughB = fromV2.length - throughA;
    const counted = lines.reduce((total, line) => total + line.requests, 0);
    t.diagnostic(`decisions by A: ${decisionLines(logA.lines, "web").length}, by B: ${decisionLines(logB.lines, "web").length}; v2 responses counted ${counted}, seen by the clients ${fromV2.length}`);
    assert.ok(throughA > 0 && throughB > 0, `v2 served through both instances: A ${throughA}, B ${throughB}`);
    assert.ok(
      counted >= 0.75 * fromV2.length && counted <= 1.2 * fromV2.length + 10,
      `the decisions counted ${counted} responses from v2; the clients got ${fromV2.length} (A ${throughA}, B ${throughB}) in those intervals`,
    );
    const all = tally(load.hits);
    assert.deepEqual(Object.keys(all).sort(), ["v1", "v2"], JSON.stringify(all));

    // An operator's abort through B shows on A within a second.
    const aborted = await rolloutAction(b.adminPort, "web", "abort");
    assert.equal(aborted.status, 200, aborted.body);
    const onB = aborted.json<RolloutView>();
    assert.deepEqual([onB.weight, onB.state], [0, "rolled-back"]);
    const abortedOnA = await waitForSeen(watcher, (seen) => seen.state === "rolled-back", 1_000, "the abort on A", 0);
    const abortedOnB = await waitForSeen(watcher, (seen) => seen.state === "rolled-back", 1_000, "the abort on B", 1);
    assert.ok(Math.abs(abortedOnA.at - abortedOnB.at) < 1_000);
    assert.equal(abortedOnA.weight, 0);
    await watcher.stop();
    assert.deepEqual(await rolloutOf(a.adminPort, "web"), await rolloutOf(b.adminPort, "web"));
    assert.deepEqual(await splitWeights(a.adminPort, "web", ["v1", "v2"]), { v1: 100, v2: 0 });
    assert.deepEqual(watcher.errors, []);
  });
});

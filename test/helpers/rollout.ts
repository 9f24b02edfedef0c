// Progressive rollouts as the integration tests drive them (issue 13, part 2): GET /api/rollouts and the
// operator actions, the rollout metrics, steady client traffic through keep-alive agents at a fixed rate
// (each answer kept with when it came back and which side served it), a watcher that polls
// /api/rollouts on one or more admin ports and keeps every change it saw with when it saw it, and the
// "rollout decision" log lines.
import assert from "node:assert/strict";
import http from "node:http";
import { performance } from "node:perf_hooks";
import { request, type Response } from "./client.js";
import { fetchMetrics, metricSample } from "./proxy-tools.js";

/** One entry of GET /api/rollouts. */
export interface RolloutView {
  readonly route: string;
  readonly from: string;
  readonly to: string;
  readonly weight: number;
  readonly state: "progressing" | "paused" | "promoted" | "rolled-back";
  readonly reason: string;
  readonly since: string;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** GET /api/rollouts (200). */
export async function listRollouts(adminPort: number): Promise<RolloutView[]> {
  const res = await request({ port: adminPort, path: "/api/rollouts" });
  assert.equal(res.status, 200, res.body);
  return res.json<RolloutView[]>();
}

/** The /api/rollouts entry of `route`, undefined while it is not listed. */
export async function rolloutOf(adminPort: number, route: string): Promise<RolloutView | undefined> {
  return (await listRollouts(adminPort)).find((rollout) => rollout.route === route);
}

/** POST /api/rollouts/{route}/{action}, the answer as it is. */
export function rolloutAction(adminPort: number, route: string, action: string): Promise<Response> {
  return request({ port: adminPort, path: `/api/rollouts/${encodeURIComponent(route)}/${action}`, method: "POST" });
}

/** rampart_route_split_weight of each of `services` on `route`. */
export async function splitWeights(adminPort: number, route: string, services: readonly string[]): Promise<Record<string, number | undefined>> {
  const text = await fetchMetrics(adminPort);
  return Object.fromEntries(services.map((service) => [service, metricSample(text, "rampart_route_split_weight", { route, service })]));
}

export const RESULTS = ["step", "inconclusive", "failed", "promoted", "rolled_back"] as const;
export type DecisionResult = (typeof RESULTS)[number];

/** rampart_rollout_decisions_total of `route` by result (0 for results without a sample). */
export async function decisionCounts(adminPort: number, route: string): Promise<Record<DecisionResult, number>> {
  const text = await fetchMetrics(adminPort);
  return Object.fromEntries(RESULTS.map((result) => [result, metricSample(text, "rampart_rollout_decisions_total", { route, result }) ?? 0])) as Record<DecisionResult, number>;
}

/** rampart_rollout_state of `route`: the states whose gauge is 1. */
export async function statesSet(adminPort: number, route: string): Promise<string[]> {
  const text = await fetchMetrics(adminPort);
  return ["progressing", "paused", "promoted", "rolled-back"].filter((state) => metricSample(text, "rampart_rollout_state", { route, state }) === 1);
}

export interface Hit {
  /** The port the request went to. */
  readonly port: number;
  /** performance.now() when the request was sent and when its answer ended. */
  readonly sentAt: number;
  readonly doneAt: number;
  /** Date.now() when the answer ended (to place it in a rollout interval). */
  readonly doneWall: number;
  /** 0 when the request failed without an answer. */
  readonly status: number;
  readonly body: string;
}

export interface Traffic {
  readonly hits: Hit[];
  /** Requests sent and not answered yet. */
  readonly inFlight: number;
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
}

/**
 * `perSecond` GETs a second on the plain HTTP listener(s) `ports` (round robin), sent at a fixed rate
 * whatever the answers take, through one keep-alive agent per port (destroyed by stop()).
 */
export function steadyTraffic(ports: readonly number[], perSecond: number, path = "/"): Traffic {
  const agents = ports.map(() => new http.Agent({ keepAlive: true, maxSockets: 64 }));
  const hits: Hit[] = [];
  const pending = new Set<Promise<void>>();
  let sent = 0;
  const one = (index: number) => {
    const port = ports[index]!;
    const sentAt = performance.now();
    const done = new Promise<void>((resolve) => {
      const finish = (status: number, body: string) => {
        hits.push({ port, sentAt, doneAt: performance.now(), doneWall: Date.now(), status, body });
        resolve();
      };
      const req = http.request({ host: "127.0.0.1", port, path, agent: agents[index] }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("error", () => finish(0, body));
        res.on("end", () => finish(res.statusCode ?? 0, body));
      });
      req.on("error", (error) => finish(0, error.message));
      req.end();
    });
    pending.add(done);
    void done.then(() => pending.delete(done));
  };
  const timer = setInterval(() => one(sent++ % ports.length), 1_000 / perSecond);
  let stopped: Promise<void> | undefined;
  return {
    hits,
    get inFlight() {
      return pending.size;
    },
    stop: () =>
      (stopped ??= (async () => {
        clearInterval(timer);
        await Promise.all([...pending]);
        for (const agent of agents) agent.destroy();
      })()),
  };
}

/** How many of `hits` each side (the backend's body) answered with 200; other answers as "status N". */
export function tally(hits: readonly Hit[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { status, body } of hits) {
    const key = status === 200 ? body : `status ${status}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

export interface Seen {
  /** performance.now() when the watcher first saw this weight and state (in a row). */
  readonly at: number;
  readonly weight: number;
  readonly state: string;
  readonly reason: string;
  readonly to: string;
}

export interface Watcher {
  /** Per admin port, every distinct (to, weight, state) the watcher saw, in order. */
  readonly seen: Seen[][];
  /** The latest answer per admin port. */
  readonly latest: (RolloutView | undefined)[];
  /** Errors of the polls (an admin port going away ends its polling silently after stop()). */
  readonly errors: unknown[];
  stop(): Promise<void>;
}

/** Polls GET /api/rollouts on each of `adminPorts` every `everyMs` and keeps every change of `route`. */
export function watchRollout(adminPorts: readonly number[], route: string, everyMs = 50): Watcher {
  const seen: Seen[][] = adminPorts.map(() => []);
  const latest: (RolloutView | undefined)[] = adminPorts.map(() => undefined);
  const errors: unknown[] = [];
  let running = true;
  const loops = adminPorts.map(async (port, index) => {
    while (running) {
      try {
        const view = await rolloutOf(port, route);
        const at = performance.now();
        latest[index] = view;
        const list = seen[index]!;
        const last = list.at(-1);
        if (view !== undefined && (last === undefined || last.weight !== view.weight || last.state !== view.state || last.to !== view.to)) {
          list.push({ at, weight: view.weight, state: view.state, reason: view.reason, to: view.to });
        }
      } catch (error) {
        if (running) errors.push(error);
      }
      await sleep(everyMs);
    }
  });
  return {
    seen,
    latest,
    errors,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** The first time `watcher` saw `route`'s rollout on admin port index `index` satisfy `check`, polling until `ms`. */
export async function waitForSeen(watcher: Watcher, check: (seen: Seen) => boolean, ms: number, what: string, index = 0): Promise<Seen> {
  const deadline = performance.now() + ms;
  for (;;) {
    const found = watcher.seen[index]!.find(check);
    if (found !== undefined) return found;
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}; seen: ${JSON.stringify(watcher.seen[index]!.map(({ weight, state, reason }) => ({ weight, state, reason })))}`);
    }
    await sleep(20);
  }
}

/** One "rollout decision" log line. */
export interface DecisionLine {
  readonly time: number;
  readonly route: string;
  readonly result: DecisionResult;
  readonly weight: number;
  readonly state: string;
  readonly requests: number;
  readonly successRate: number;
  readonly p99Ms: number | null;
  readonly reason: string;
}

/** The "rollout decision" lines among captured log lines, of `route` when given. */
export function decisionLines(lines: readonly Record<string, unknown>[], route?: string): DecisionLine[] {
  return lines.filter((line) => line.msg === "rollout decision" && (route === undefined || line.route === route)) as unknown as DecisionLine[];
}

/** Waits until Date.now() is `offsetMs` into a second (decisions of 1 s intervals land about 500–750 ms into one). */
export async function atSecondOffset(offsetMs: number): Promise<void> {
  const now = Date.now() % 1_000;
  await sleep((offsetMs - now + 1_000) % 1_000);
}

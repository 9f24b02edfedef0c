// Runs the progressive rollouts of the current config across a fleet, with no controller outside the
// gateway. Every instance counts `to`'s responses locally and adds them to the store's counts for the
// interval (a flush every TICK_MS, never per request); when an interval ends, the one instance that takes
// the interval's lock in the store (as ACME ordering does) judges the fleet's counts (rollout.ts) and
// writes the new record; every instance reads the record every TICK_MS and moves its split weights, so
// the fleet agrees within a second. Records survive restarts; a reload that keeps a rollout's from/to
// keeps it where it is, one that changes them starts a new one.
import type { RolloutConfig } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import type { CertStore } from "../state/cert-store.js";
import type { RolloutRecord, RolloutState, RolloutStore } from "../state/rollout-store.js";
import { COUNTS_LENGTH, decide, figuresOf, LATENCY_BOUNDS_MS } from "./rollout.js";
import type { SplitWeights } from "./split.js";

export type RolloutAction = "pause" | "resume" | "promote" | "abort";

const TICK_MS = 250;
/** After an interval ends, other instances' last flush gets this long to arrive before it is judged. */
const JUDGE_GRACE_MS = 2 * TICK_MS;
const STATES: readonly RolloutState[] = ["progressing", "paused", "promoted", "rolled-back"];

/** What a route with a rollout hands its finished requests to (pipeline/request-log.ts). */
export interface RolloutRecorder {
  record(side: number, status: number, seconds: number): void;
}

interface Controller extends RolloutRecorder {
  readonly route: string;
  config: RolloutConfig;
  weights: SplitWeights;
  /** The record this instance follows (undefined until read from the store). */
  current: RolloutRecord | undefined;
  /** Counts since the last flush, for `localInterval`. */
  local: number[];
  localInterval: number;
  /** The last interval judged (or left to another instance). */
  judged: number;
  /** Set once the controller was replaced or stopped: its pending work is dropped. */
  retired: boolean;
  /** `to`'s place among the split's sides (a reload may reorder them). */
  toIndex: number;
}

export class RolloutManager {
  readonly #store: RolloutStore;
  readonly #locks: Pick<CertStore, "acquireLock" | "releaseLock">;
  readonly #metrics: GatewayMetrics;
  readonly #logger: Logger;
  readonly #controllers = new Map<string, Controller>();
  /** Runs only while some route has a rollout: a gateway without one pays nothing. */
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;

  constructor(store: RolloutStore, locks: Pick<CertStore, "acquireLock" | "releaseLock">, metrics: GatewayMetrics, logger: Logger) {
    this.#store = store;
    this.#locks = locks;
    this.#metrics = metrics;
    this.#logger = logger;
  }

  /**
   * The recorder of the route's rollout for this config, starting (or resuming from the store) the ones
   * that are new. Routes without a rollout get none and pay nothing.
   */
  recorderFor(route: string, config: RolloutConfig | undefined, weights: SplitWeights | undefined): RolloutRecorder | undefined {
    if (config === undefined || weights === undefined) return undefined;
    const existing = this.#controllers.get(route);
    if (existing !== undefined && existing.config.from === config.from && existing.config.to === config.to) {
      existing.config = config;
      existing.weights = weights;
      existing.toIndex = weights.indexOf(config.to);
      if (existing.current !== undefined) this.#apply(existing, existing.current);
      return existing;
    }
    if (existing !== undefined) existing.retired = true;
    const now = Date.now();
    const controller: Controller = {
      route,
      config,
      weights,
      current: undefined,
      local: new Array<number>(COUNTS_LENGTH).fill(0),
      localInterval: Math.floor(now / config.interval),
      judged: Math.floor(now / config.interval) - 1,
      retired: false,
      toIndex: weights.indexOf(config.to),
      record(side, status, seconds) {
        if (side !== this.toIndex) return;
        const local = this.local;
        local[0]!++;
        if (status < 500) local[1]!++;
        const ms = seconds * 1000;
        let bucket = 0;
        while (ms > LATENCY_BOUNDS_MS[bucket]!) bucket++;
        local[2 + bucket]!++;
      },
    };
    this.#controllers.set(route, controller);
    this.#timer ??= setInterval(() => void this.#tick(), TICK_MS).unref();
    void this.#start(controller);
    return controller;
  }

  /** Drops the rollouts of routes a new config no longer has (their records stay in the store). */
  retainOnly(routes: ReadonlySet<string>): void {
    for (const [route, controller] of this.#controllers) {
      if (routes.has(route)) continue;
      controller.retired = true;
      this.#controllers.delete(route);
    }
    if (this.#controllers.size === 0) this.stop();
  }

  /** For GET /api/rollouts. */
  list(): RolloutRecord[] {
    return [...this.#controllers.values()].flatMap((controller) => (controller.current === undefined ? [] : [controller.current]));
  }

  /** An operator's decision (POST /api/rollouts/{route}/{action}); undefined when the route has no rollout. */
  async act(route: string, action: RolloutAction): Promise<RolloutRecord | undefined> {
    const controller = this.#controllers.get(route);
    if (controller === undefined) return undefined;
    const current = (await this.#store.get(route)) ?? controller.current ?? this.#initial(controller);
    const since = new Date().toISOString();
    const next: RolloutRecord =
      action === "pause"
        ? { ...current, state: "paused", since, reason: "paused by an operator" }
        : action === "promote"
          ? { ...current, state: "promoted", weight: 100, since, reason: "promoted by an operator" }
          : action === "abort"
            ? { ...current, state: "rolled-back", weight: 0, since, reason: "aborted by an operator" }
            : // resume: a paused rollout goes on where it was; a rolled-back one starts again.
              { ...current, state: "progressing", since, failures: 0, weight: current.state === "rolled-back" ? this.#initial(controller).weight : current.weight, reason: "resumed by an operator" };
    await this.#store.put(next);
    this.#logger.info({ route, action, state: next.state, weight: next.weight }, "rollout changed by an operator");
    this.#apply(controller, next);
    return next;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const controller of this.#controllers.values()) controller.retired = true;
  }

  async #start(controller: Controller): Promise<void> {
    try {
      const stored = await this.#store.get(controller.route);
      const resumed = stored !== undefined && stored.from === controller.config.from && stored.to === controller.config.to;
      const record = resumed ? stored : this.#initial(controller);
      if (!resumed) await this.#store.put(record);
      if (controller.retired) return;
      this.#logger.info({ route: controller.route, from: record.from, to: record.to, weight: record.weight, state: record.state, resumed }, resumed ? "rollout resumed" : "rollout started");
      this.#apply(controller, record);
    } catch (error) {
      this.#logger.warn({ err: error, route: controller.route }, "rollout state unavailable; retrying");
    }
  }

  /** The record a new rollout starts with: `to`'s configured share of the two services' weight. */
  #initial(controller: Controller): RolloutRecord {
    const { weights, config } = controller;
    const from = weights.configured(weights.indexOf(config.from));
    const to = weights.configured(weights.indexOf(config.to));
    const weight = from + to === 0 ? 0 : Math.round((100 * to) / (from + to));
    return { route: controller.route, from: config.from, to: config.to, weight, state: "progressing", reason: "started", since: new Date().toISOString(), failures: 0 };
  }

  /** Moves the split's weights to the record: `to` gets its share of what the two had in the config. */
  #apply(controller: Controller, record: RolloutRecord): void {
    controller.current = record;
    const { weights, config } = controller;
    const pool = weights.configured(weights.indexOf(config.from)) + weights.configured(weights.indexOf(config.to)) || 100;
    const to = (pool * record.weight) / 100;
    weights.set(config.to, to);
    weights.set(config.from, pool - to);
    for (const state of STATES) this.#metrics.rolloutState.set({ route: controller.route, state }, state === record.state ? 1 : 0);
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      await Promise.all([...this.#controllers.values()].map((controller) => this.#tickOne(controller)));
    } finally {
      this.#ticking = false;
    }
  }

  async #tickOne(controller: Controller): Promise<void> {
    const { route, config } = controller;
    const now = Date.now();
    const interval = Math.floor(now / config.interval);
    try {
      // Flush what this instance counted; counts of an interval that just ended go to that interval.
      const counted = controller.local;
      if (counted[0]! > 0) {
        controller.local = new Array<number>(COUNTS_LENGTH).fill(0);
        await this.#store.addCounts(route, controller.localInterval, counted);
      }
      controller.localInterval = interval;
      if (controller.current === undefined) {
        await this.#start(controller);
        return;
      }
      // Follow the fleet's decisions (and operators' actions taken through another instance).
      const stored = await this.#store.get(route);
      if (stored !== undefined && stored.to === config.to && (stored.weight !== controller.current.weight || stored.state !== controller.current.state || stored.reason !== controller.current.reason)) {
        this.#apply(controller, stored);
      }
      const due = interval - 1;
      if (due <= controller.judged || now - interval * config.interval < JUDGE_GRACE_MS) return;
      controller.judged = due;
      const token = await this.#locks.acquireLock(`rollout:${route}:${due}`, config.interval);
      if (token === undefined) return; // another instance judges this interval
      const counts = await this.#store.takeCounts(route, due);
      const current = (await this.#store.get(route)) ?? controller.current;
      if (current.state !== "progressing" || controller.retired) return;
      const figures = figuresOf(counts);
      const { result, record } = decide(config, current, figures, new Date(now));
      // An operator's pause or abort written meanwhile (through any instance) wins over this decision.
      if (!(await this.#store.replace(current, record))) return;
      this.#apply(controller, record);
      this.#metrics.rolloutDecisions.inc({ route, result });
      this.#logger.info({ route, result, weight: record.weight, state: record.state, requests: figures.requests, successRate: figures.successRate, p99Ms: figures.p99Ms, reason: record.reason }, "rollout decision");
    } catch (error) {
      this.#logger.warn({ err: error, route }, "rollout tick failed: the store is unavailable");
    }
  }
}

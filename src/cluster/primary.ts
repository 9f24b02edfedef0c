// The node:cluster primary (`workers: N | auto`): forks the workers and never serves requests itself.
// It restarts a crashed worker at once, then with backoff, and gives up on a slot that crash-loops
// (logged at fatal); serves the admin listener with every worker's metrics aggregated; validates a new
// config before any worker sees it; replaces workers one at a time on SIGUSR2 (and when listener
// addresses change) without refusing a connection, since the primary keeps the listening sockets; and
// drains the whole tree on SIGTERM/SIGINT. Without Redis it also keeps the shared state (StateHost).
import cluster, { type Worker } from "node:cluster";
import type { FSWatcher } from "node:fs";
import { availableParallelism } from "node:os";
import { resolve as resolvePath } from "node:path";
import { AggregatorRegistry, Counter, Gauge, Registry } from "prom-client";
import { CounterTotals, type MetricsSnapshot } from "./counter-totals.js";
import { RateLimiterClusterMaster } from "rate-limiter-flexible";
import { problemsOf } from "../config/load.js";
import { restartOnlyChanges } from "../config/reload-scope.js";
import { watchConfig } from "../config/watch.js";
import type { Config } from "../config/schema.js";
import { createLogger, logDestination, type Logger } from "../observability/logger.js";
import { RouteTable } from "../routing/route-table.js";
import { loadOrCreateSelfSigned } from "../tls/self-signed-store.js";
import type { ReloadResult } from "../admin/admin-api.js";
import { createAdminServer, listenAdmin, type AdminReply, type AdminRequest, type Readiness } from "../admin/admin-server.js";
import { IpcPeer } from "../state/ipc.js";
import { StateHost } from "../state/state-host.js";
import { mergeUpstreamViews, type UpstreamRow } from "../admin/upstreams-view.js";
import { ConfigHistory } from "../admin/config-history.js";
import { ReloadLedger } from "../admin/reload-ledger.js";
import { readConfigInput, type ConfigInput } from "../assembly/config-input.js";
import { fleetStatus, type WorkerStatus } from "../admin/admin-status.js";
import { CodedError } from "../observability/coded-error.js";

/** A worker that never reported ready, logged with its code. */
class WorkerStartError extends CodedError<"WORKER_START_TIMEOUT" | "WORKER_EXITED"> {}

const CRASH_WINDOW_MS = 60_000;
const CRASH_LOOP_LIMIT = 10;
const MAX_BACKOFF_MS = 10_000;
const START_TIMEOUT_MS = 30_000;
/** How often the primary reads the workers' metrics to keep their totals (counter-totals.ts). */
const TOTALS_REFRESH_MS = 5_000;
/** A worker that has not sent its metrics by then is left out of one /metrics answer. */
const METRICS_TIMEOUT_MS = 2_000;

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  peer: IpcPeer | undefined;
  ready: boolean;
  crashes: number[];
  givenUp: boolean;
  /** During a rolling restart: the worker being replaced, serving until its replacement is ready. */
  previous: { readonly worker: Worker; readonly peer: IpcPeer } | undefined;
}

/** Keys workers read when they start: a reload applies them by replacing the workers one at a time. */
function rolledByWorkers(key: string): boolean {
  return key === "listen" || key.startsWith("tls.") || key.startsWith("http2.");
}

export function workerCount(config: Config): number {
  return config.workers === "auto" ? availableParallelism() : config.workers;
}

export class Primary {
  readonly #slots: Slot[] = [];
  readonly #peers = new Map<Worker, IpcPeer>();
  readonly #registry = new Registry();
  readonly #totals = new CounterTotals<Worker>();
  readonly #logFile: ReturnType<typeof logDestination> | undefined;
  readonly #lastReload = new Gauge({ name: "rampart_config_last_reload_success_timestamp_seconds", help: "When the configuration was last loaded successfully (start or reload), Unix seconds.", registers: [this.#registry] });
  readonly #reloads = new Counter({ name: "rampart_config_reloads_total", help: "Configuration reloads after the initial load, by result (success, failure).", labelNames: ["result"] as const, registers: [this.#registry] });
  readonly #restarts = new Counter({ name: "rampart_worker_restarts_total", help: "Workers restarted after they died.", registers: [this.#registry] });
  readonly #workersUp = new Gauge({ name: "rampart_workers_ready", help: "Workers serving now.", registers: [this.#registry] });
  readonly #state: StateHost | undefined;
  /** Config generation and the last reload's result, for GET /api/status. */
  readonly #history: ConfigHistory;
  readonly #ledger: ReloadLedger;
  readonly logger: Logger;
  #config: Config;
  #stopping = false;
  #watcher: FSWatcher | undefined;

  readonly #configFile: string;

  private constructor(configFile: string, config: Config) {
    this.#configFile = configFile;
    this.#config = config;
    this.#history = new ConfigHistory(config, rolledByWorkers);
    this.#logFile = config.log.file === "" ? undefined : logDestination(config.log.file);
    this.logger = createLogger(config.log.level, this.#logFile ?? 1).child({ role: "primary" });
    this.#ledger = new ReloadLedger(this.#history, { reloads: this.#reloads, lastSuccess: this.#lastReload }, this.logger);
    // Leases are sized by the configured worker count (`workers` changes only with a restart).
    this.#state = config.store.kind === "memory" ? new StateHost(config, this.logger, () => workerCount(config)) : undefined;
    for (const result of ["success", "failure"]) this.#reloads.inc({ result }, 0);
    this.#lastReload.setToCurrentTime();
  }

  static async start(configFile: string): Promise<Primary> {
    // Every worker would fail its start on an unusable TLS file for targets, again and again: refuse here.
    const { config } = readConfigInput(configFile);
    const primary = new Primary(configFile, config);
    await primary.#start();
    return primary;
  }

  async #start(): Promise<void> {
    const config = this.#config;
    if (this.#state !== undefined) {
      // Jails' offence counters for every worker live here (rate-limiter-flexible's cluster limiter); rate-limit
      // policies lease quota from the StateHost's counters instead (state/quota-host.ts).
      new RateLimiterClusterMaster();
      await this.#state.load();
    }
    if (config.tls.selfSigned) {
      // Workers start together and would each generate (and write) a fallback certificate of their own,
      // so clients would see a different one per worker: make it here, and every worker loads this one.
      await loadOrCreateSelfSigned(resolvePath(config.tls.certDir), new RouteTable(config.routes).exactHosts(), this.logger);
    }
    cluster.setupPrimary({ exec: process.argv[1], args: ["worker", "-c", this.#configFile] });
    const count = workerCount(config);
    for (let index = 0; index < count; index++) {
      const slot: Slot = { index, worker: undefined, peer: undefined, ready: false, crashes: [], givenUp: false, previous: undefined };
      this.#slots.push(slot);
    }
    await Promise.all(this.#slots.map((slot) => this.#fork(slot)));
    const admin = createAdminServer(
      {
        token: () => this.#config.adminToken,
        metrics: async () => ({ contentType: this.#registry.contentType, text: (await this.#workerMetrics()) + "\n" + (await this.#registry.metrics()) }),
        ready: () => this.#readiness(),
        api: (request, body) => this.#api(request, body),
      },
      this.logger,
    );
    const address = await listenAdmin(admin, config.listen.admin);
    this.logger.info({ workers: count, admin: `${address.address}:${address.port}`, pid: process.pid }, "rampart primary running");
    if (config.watch) this.#watcher = watchConfig(this.#configFile, () => void this.reload(), this.logger);
    // Fresh enough "last seen" counts for a worker that crashes between two scrapes.
    setInterval(() => void this.#workerMetrics(), TOTALS_REFRESH_MS).unref();
  }

  /** Forks the worker for `slot` and resolves once it reports ready (true) or fails to (false). */
  #fork(slot: Slot): Promise<boolean> {
    const worker = cluster.fork({ RAMPART_WORKER: String(slot.index) });
    const peer = IpcPeer.toWorker(worker, this.#state?.handlers(worker, (name, payload, except) => this.#broadcast(name, payload, except)) ?? {});
    this.#peers.set(worker, peer);
    slot.worker = worker;
    slot.peer = peer;
    slot.ready = false;
    worker.on("exit", (code, signal) => this.#exited(slot, worker, code, signal));
    worker.on("error", (error) => this.logger.warn({ err: error, worker: slot.index }, "worker IPC error"));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new WorkerStartError("WORKER_START_TIMEOUT", `worker ${slot.index} did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      timer.unref();
      peer.on("ready", () => {
        clearTimeout(timer);
        if (slot.worker === worker) slot.ready = true;
        this.#workersUp.set(this.#serving());
        resolve();
      });
      worker.once("exit", () => {
        clearTimeout(timer);
        reject(new WorkerStartError("WORKER_EXITED", `worker ${slot.index} exited before it was ready`));
      });
    }).then(
      () => true,
      (error: unknown) => {
        this.logger.error({ err: error, worker: slot.index }, "worker failed to start");
        return false;
      },
    );
  }

  #exited(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    this.#peers.delete(worker);
    void this.#totals.retire(worker);
    if (slot.worker !== worker) return; // replaced on purpose (rolling restart)
    const previous = slot.previous;
    if (previous !== undefined && previous.worker.isConnected()) {
      // A replacement died before it was ready: the worker it was to replace goes on serving.
      slot.previous = undefined;
      slot.worker = previous.worker;
      slot.peer = previous.peer;
      slot.ready = true;
      this.#workersUp.set(this.#serving());
      return;
    }
    slot.ready = false;
    slot.worker = undefined;
    this.#workersUp.set(this.#serving());
    if (this.#stopping) return;
    const now = Date.now();
    slot.crashes = [...slot.crashes.filter((at) => now - at < CRASH_WINDOW_MS), now];
    if (slot.crashes.length > CRASH_LOOP_LIMIT) {
      slot.givenUp = true;
      this.logger.fatal({ worker: slot.index, crashes: slot.crashes.length, windowMs: CRASH_WINDOW_MS }, "worker is crash-looping: not restarting it");
      if (this.#slots.every((each) => each.givenUp)) {
        this.logger.fatal("every worker is crash-looping: exiting");
        process.exit(1);
      }
      return;
    }
    // The first crash is restarted at once; a worker that keeps dying waits longer each time.
    const delay = slot.crashes.length <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, 100 * 2 ** (slot.crashes.length - 1));
    this.logger.error({ worker: slot.index, pid: worker.process.pid, code, signal, restartInMs: delay }, "worker died; restarting it");
    this.#restarts.inc();
    setTimeout(() => void this.#fork(slot), delay).unref();
  }

  #broadcast(name: string, payload: unknown, except?: unknown): void {
    for (const [worker, peer] of this.#peers) if (worker !== except && worker.isConnected()) peer.emit(name, payload);
  }

  /** Ready while every worker serves and each says it can make progress (its own /readyz verdict). */
  async #readiness(): Promise<Readiness> {
    const serving = this.#serving();
    const verdicts = await Promise.allSettled(this.#readyPeers().map((peer) => peer.call<Readiness>("readiness")));
    // A worker that does not answer at all (its event loop stuck) is as not ready as one that says so.
    const notReady = verdicts.flatMap((verdict) =>
      verdict.status === "rejected" ? [{ reason: String(verdict.reason) }] : verdict.value.ready ? [] : [verdict.value.detail],
    );
    return { ready: serving === this.#slots.length && notReady.length === 0, detail: { workers: serving, ...(notReady.length > 0 ? { notReady } : {}) } };
  }

  async #api(request: AdminRequest, body: unknown): Promise<AdminReply> {
    if (request.method === "POST" && request.path === "/api/reload") {
      const result = await this.reload();
      return result.ok ? { status: 200, body: { status: "reloaded", restartRequired: result.restartRequired } } : { status: 422, body: { error: "invalid_config", problems: result.problems } };
    }
    if (request.method === "GET" && request.path === "/api/upstreams") {
      const replies = await Promise.allSettled(this.#readyPeers().map((peer) => peer.call<AdminReply>("admin", request, body)));
      const views = replies.flatMap((reply) => (reply.status === "fulfilled" && reply.value.status === 200 ? [reply.value.body as UpstreamRow[]] : []));
      if (views.length === 0) return { status: 503, body: { error: "no_worker_ready" } };
      return { status: 200, body: mergeUpstreamViews(views) };
    }
    if (request.method === "GET" && request.path === "/api/status") {
      // Each worker reports what it sees; the primary adds itself, its workers and its reloads.
      const answers = this.#readyPeers().map((peer) => peer.call<AdminReply>("admin", request, body));
      return fleetStatus(answers, { pid: process.pid, uptimeSeconds: Math.round(process.uptime()), config: this.#history.status(), workers: this.#workerStatus() });
    }
    // Everything else is answered by a worker: bans and certificates are shared, so any one will do.
    const slot = this.#slots.find((each) => each.ready && each.peer !== undefined);
    if (slot === undefined) return { status: 503, body: { error: "no_worker_ready" } };
    return slot.peer!.call<AdminReply>("admin", request, body);
  }

  /** Validates the file, then has every worker load it; listener changes roll the workers. */
  async reload(): Promise<ReloadResult> {
    let input: ConfigInput;
    try {
      // Read once, with the targets' TLS files (the workers would each refuse an unusable one): the
      // workers load these very bytes, not whatever the file holds a moment later.
      input = readConfigInput(this.#configFile);
    } catch (error) {
      return this.#ledger.rejected(problemsOf(error));
    }
    const { config, text } = input;
    const previous = this.#config;
    this.#config = config;
    const results = await Promise.allSettled(this.#readyPeers().map((peer) => peer.call<{ ok: boolean; problems?: string[] }>("reload", text)));
    const failed = results.filter((result) => result.status === "rejected" || !result.value.ok);
    if (failed.length > 0) return this.#ledger.rejected([`${failed.length} worker(s) did not take the new config`], "some workers did not take the new config");
    // Workers read listen, tls.* and http2.* when they start: replacing them one at a time applies those with no
    // downtime. What the primary itself holds (workers, watch, store, bans) needs a restart of Rampart.
    const changed = restartOnlyChanges(previous, config);
    const rolled = changed.filter(rolledByWorkers);
    const restartRequired = changed.filter((key) => !rolled.includes(key));
    const result = this.#ledger.applied(config, restartRequired, { workers: results.length });
    if (rolled.length > 0) {
      this.logger.info({ keys: rolled }, "keys workers read at start changed: replacing workers one at a time");
      void this.rollingRestart();
    }
    return result;
  }

  /**
   * Replaces the workers one at a time: a new one is serving before the old one drains. When a new one
   * does not become ready (broken code, a listener it cannot bind), the old one keeps serving and the
   * remaining workers are left alone.
   */
  async rollingRestart(): Promise<void> {
    for (const slot of this.#slots) {
      if (this.#stopping || slot.givenUp) continue;
      const old = slot.worker;
      const oldPeer = old && this.#peers.get(old);
      slot.previous = old !== undefined && oldPeer !== undefined && slot.ready ? { worker: old, peer: oldPeer } : undefined;
      const replacement = await this.#fork(slot).then((ready) => (ready ? slot.worker : undefined));
      if (replacement === undefined && slot.previous !== undefined) {
        // Not ready in time but still running: stop it; its exit hands the slot back to the old worker.
        const stuck = slot.worker;
        if (stuck !== undefined && stuck !== old && !stuck.isDead()) {
          const gone = new Promise((resolve) => stuck.once("exit", resolve));
          stuck.kill("SIGKILL");
          await gone;
        }
      }
      slot.previous = undefined;
      if (replacement === undefined) {
        this.logger.error({ worker: slot.index }, "rolling restart stopped: a new worker did not start; the old workers keep serving");
        return;
      }
      if (old !== undefined && oldPeer !== undefined) await this.#drainWorker(old, oldPeer);
    }
    this.logger.info("rolling restart done");
  }

  async #drainWorker(worker: Worker, peer: IpcPeer): Promise<void> {
    // Its counts up to now, so the totals lose as little as possible of what it served.
    const last = await peer.call<MetricsSnapshot>("metrics").catch(() => undefined);
    if (last !== undefined) this.#totals.seen(worker, last);
    const exited = new Promise<void>((resolve) => (worker.isDead() ? resolve() : worker.once("exit", () => resolve())));
    await peer.call("shutdown").catch(() => worker.kill("SIGTERM"));
    const grace = this.#config.shutdownGrace + 2_000;
    const timer = setTimeout(() => worker.kill("SIGKILL"), grace);
    await exited;
    clearTimeout(timer);
  }

  /** SIGUSR1 after logrotate: the primary's log file and every worker's are reopened. */
  reopenLogs(): void {
    this.#logFile?.reopen();
    for (const peer of this.#readyPeers()) void peer.call("reopenLogs").catch(() => undefined);
  }

  /** Graceful shutdown of the whole tree: every worker drains (shutdownGrace), then the primary exits. */
  async shutdown(): Promise<void> {
    this.#stopping = true;
    this.#watcher?.close();
    await Promise.all([...this.#peers].map(([worker, peer]) => this.#drainWorker(worker, peer)));
    await this.#state?.close();
    this.logger.info("rampart stopped");
  }

  /** Every ready worker's metrics, aggregated; a worker starting, stopping or too slow is left out, not waited for. */
  async #workerMetrics(): Promise<string> {
    const ready = this.#slots.filter((slot) => slot.ready && slot.peer !== undefined && slot.worker !== undefined);
    const answered = new Map<Worker, MetricsSnapshot>();
    await Promise.all(
      ready.map(async (slot) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, METRICS_TIMEOUT_MS, undefined)));
        const worker = slot.worker!;
        const answer = await Promise.race([slot.peer!.call<MetricsSnapshot>("metrics").catch(() => undefined), late]).finally(() => clearTimeout(timer));
        if (answer === undefined) return;
        this.#totals.seen(worker, answer);
        answered.set(worker, answer);
      }),
    );
    return AggregatorRegistry.aggregate(this.#totals.withOthers(answered)).metrics();
  }

  /** Each slot's worker for GET /api/status. */
  #workerStatus(): WorkerStatus[] {
    return this.#slots.map((slot) => ({
      index: slot.index,
      pid: slot.worker?.process.pid ?? null,
      state: slot.givenUp ? "given-up" : slot.ready || slot.previous !== undefined ? "ready" : slot.worker !== undefined ? "starting" : "down",
      recentCrashes: slot.crashes.length,
    }));
  }

  /** Slots a worker serves: a ready one, or during a rolling restart the one it is replacing. */
  #serving(): number {
    return this.#slots.filter((slot) => slot.ready || slot.previous !== undefined).length;
  }

  #readyPeers(): IpcPeer[] {
    return this.#slots.filter((slot) => slot.ready && slot.peer !== undefined).map((slot) => slot.peer!);
  }
}

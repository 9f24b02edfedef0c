// Composition root: wires config, listeners, TLS, the request pipeline, the admin API and shutdown.
// Everything that depends on the config file lives in a Generation (assembly/generation.ts) that a reload
// replaces atomically; what must outlive a reload (listeners, metrics, the forwarder) lives here.
import { readFileSync } from "node:fs";
import { isIP, type AddressInfo } from "node:net";
import type http from "node:http";
import type { Http2Server } from "node:http2";
import type { Duplex } from "node:stream";
import { performance } from "node:perf_hooks";
import { problemsOf } from "./config/load.js";
import { restartOnlyChanges } from "./config/reload-scope.js";
import type { Config } from "./config/schema.js";
import { createLogger, logDestination, type Logger } from "./observability/logger.js";
import { AccessLog, type LineSink } from "./observability/access-log.js";
import { GatewayMetrics } from "./observability/metrics.js";
import { requestObserver } from "./pipeline/request-log.js";
import { BanManager } from "./guards/bans.js";
import { ClientConcurrency } from "./guards/client-concurrency.js";
import { canonicalIp } from "./guards/ip.js";
import { EventLoopLag } from "./observability/event-loop.js";
import { GatewayError } from "./pipeline/answers.js";
import { Linger } from "./pipeline/linger.js";
import { BodyProgress } from "./proxy/body-progress.js";
import { offenceTracker } from "./guards/jails.js";
import type { RequestObserver } from "./pipeline/pipeline.js";
import { createSharedState, type SharedState } from "./state/shared-state.js";
import { buildGeneration, retiredServices, type Generation } from "./assembly/generation.js";
import type { UpstreamTls } from "./upstream/upstream-tls.js";
import { Forwarder } from "./proxy/forwarder.js";
import { adminApi, type ReloadResult } from "./admin/admin-api.js";
import { ConfigHistory } from "./admin/config-history.js";
import { ReloadLedger } from "./admin/reload-ledger.js";
import { readConfigInput, type ConfigInput } from "./assembly/config-input.js";
import { createAdminServer, listenAdmin } from "./admin/admin-server.js";
import { ConnectionGate, type AcceptVerdict } from "./server/connection-gate.js";
import { alpnChallengeFilter } from "./tls/acme/alpn-challenge.js";
import { applyLimits, createHttpServer, createTlsEdge, handshakeTimeout, listen, plainEntry, type EdgeHooks, type Listener, type SocketFilter } from "./server/listeners.js";
import { applyHttp2Settings, createHttp2Server, resetStream } from "./server/http2-server.js";
import { Http2Sessions } from "./server/http2-sessions.js";
import { serveWithoutUpgrade, type Refusal } from "./server/odd-requests.js";
import { SendWatch } from "./server/send-watch.js";
import { plainHttpHandler } from "./server/plain-http.js";
import { drain } from "./server/shutdown.js";
import { AcmeManager } from "./tls/acme/acme-manager.js";
import { CertificateResolver } from "./tls/certificate-resolver.js";
import { ON_DEMAND_RESULTS, OnDemandPolicy } from "./tls/on-demand/on-demand-policy.js";
import { clientCaOf } from "./tls/client-ca.js";
import { TargetRegistry } from "./upstream/target-registry.js";
import { SplitRegistry } from "./routing/split.js";
import { RolloutManager } from "./routing/rollout-manager.js";
import type { IpcPeer } from "./state/ipc.js";

export interface GatewayOptions {
  readonly configFile: string;
  readonly env?: Record<string, string | undefined>;
  /** Defaults to a JSON logger on stdout at the config's log level. */
  readonly logger?: Logger;
  /** Where access-log lines go; defaults to buffered stdout. */
  readonly accessLog?: LineSink;
  /**
   * Set in a node:cluster worker: the primary serves the admin listener and, without Redis, keeps the
   * shared state this worker reaches through it.
   */
  readonly primary?: IpcPeer;
}

export interface GatewayAddresses {
  readonly http: AddressInfo;
  readonly https: AddressInfo;
  /** Undefined in a node:cluster worker (the primary serves the admin listener). */
  readonly admin: AddressInfo | undefined;
}


export class Gateway {
  readonly metrics: GatewayMetrics;
  /** Config generation and the last reload's result, for GET /api/status. */
  readonly configHistory: ConfigHistory;
  readonly #reloads: ReloadLedger;
  readonly logger: Logger;
  readonly #accessLog: AccessLog;
  readonly #reopenables: readonly { reopen(): void }[];
  #generation: Generation;
  #certificates!: CertificateResolver;
  #acme: AcmeManager | undefined;
  /** The exact route hosts of one generation, for on-demand TLS (built on the first unknown name after a reload). */
  #routeHosts: { readonly generation: Generation; readonly hosts: ReadonlySet<string> } | undefined;
  #draining = false;
  #ready = false;
  readonly #forwarder: Forwarder;
  readonly #targets: TargetRegistry;
  readonly #gate: ConnectionGate;
  readonly #state: SharedState;
  readonly #bans: BanManager;
  readonly #onFinished: RequestObserver;
  readonly #offences: ReturnType<typeof offenceTracker>;
  #http2: { readonly server: Http2Server; readonly sessions: Http2Sessions } | undefined;
  readonly #listeners: Listener[] = [];
  readonly #concurrency = new ClientConcurrency();
  readonly #splits = new SplitRegistry();
  readonly #rollouts: RolloutManager;
  readonly #bodies: BodyProgress;
  /** tls.clientAuth as the listener was built with it (restart-only): routes' client-cert stages follow it, not a reload. */
  readonly #clientCertificates: boolean;
  readonly #linger: Linger;
  readonly #sendWatch: SendWatch;
  readonly #eventLoop: EventLoopLag;
  readonly #poolSweep: NodeJS.Timeout;
  /** Why /readyz last said 503 ("" while ready): logged once per change, not per probe. */
  #notReadyReason = "";
  #admin: http.Server | undefined;
  #addresses: GatewayAddresses | undefined;
  #closing: Promise<void> | undefined;
  readonly #options: GatewayOptions;

  private constructor(options: GatewayOptions, config: Config, upstreamTls: ReadonlyMap<string, UpstreamTls>) {
    this.#options = options;
    this.metrics = new GatewayMetrics({ countReloads: options.primary === undefined, version: packageVersion() });
    this.#targets = new TargetRegistry(this.metrics);
    this.configHistory = new ConfigHistory(config);
    // log.file: both logs append to it, each through its own stream, reopened on SIGUSR1 (reopenLogs).
    const file = config.log.file === "" ? undefined : config.log.file;
    const fileStreams = file === undefined ? [] : [logDestination(file), logDestination(file)];
    this.#reopenables = fileStreams;
    this.logger = options.logger ?? createLogger(config.log.level, fileStreams[0] ?? 1);
    this.#accessLog = new AccessLog(options.accessLog ?? fileStreams[1]);
    // A worker's primary reports restart-only keys for the fleet (and applies listen and tls.* by replacing workers).
    this.#reloads = new ReloadLedger(this.configHistory, { reloads: this.metrics.configReloads, lastSuccess: this.metrics.lastReloadSuccess }, this.logger, options.primary === undefined);
    this.#forwarder = new Forwarder({
      logger: this.logger,
      hsts: () => this.config.tls.hsts,
      draining: () => this.#draining,
    });
    const storeUp = this.metrics.storeUp.labels(config.store.kind);
    this.#state = createSharedState(config.store, config.tls.certDir, () => this.#bans.list.list(), this.logger, options.primary);
    this.#state.onAvailability((up) => storeUp.set(up ? 1 : 0));
    this.#bans = new BanManager(config.bans, () => this.#state, this.metrics, this.logger, (ip) => this.#generation.guards.allowlist.has(ip));
    this.#offences = offenceTracker(this.#bans, this.logger);
    this.#onFinished = requestObserver(this.metrics, this.#accessLog, () => this.config.log.access, this.#offences.request);
    this.#gate = new ConnectionGate(() => this.config.limits, this.metrics, (ip) => this.#classifyConnection(ip));
    this.#clientCertificates = config.tls.clientAuth.ca !== "";
    this.#bodies = new BodyProgress(() => this.metrics.clientTimeouts.inc({ kind: "body" }));
    this.#linger = new Linger(
      () => this.config.limits,
      (outcome) => this.metrics.lingeringCloses.inc({ outcome }),
    );
    this.#sendWatch = new SendWatch(
      () => this.config.limits.sendTimeout,
      (count) => {
        this.metrics.clientTimeouts.inc({ kind: "send" }, count);
        this.logger.warn({ connections: count, sendTimeout: this.config.limits.sendTimeout }, "closed connections whose client stopped reading its response");
      },
    );
    this.#eventLoop = new EventLoopLag(this.metrics.eventLoopLag);
    this.metrics.trackSplits(() => this.#splits.entries());
    this.metrics.trackPools(() => [...this.#generation.services.values()].map((service) => ({ name: service.name, ...service.sockets() })));
    this.#rollouts = new RolloutManager(this.#state.rollouts, this.#state.certs, this.metrics, this.logger);
    this.#poolSweep = setInterval(() => this.#sweepPools(), 1_000).unref();
    this.#generation = buildGeneration(config, upstreamTls, this.#shared());
  }

  /** Loads the config file, binds every listener and resolves once the gateway is serving. */
  static async start(options: GatewayOptions): Promise<Gateway> {
    // The files the config names for TLS to targets too: an unusable one fails the start like a config error.
    const { config, upstreamTls } = readConfigInput(options.configFile, options.env);
    const gateway = new Gateway(options, config, upstreamTls);
    try {
      await gateway.#listen();
    } catch (error) {
      await gateway.close();
      throw error;
    }
    return gateway;
  }

  get config(): Config {
    return this.#generation.config;
  }

  get generation(): Generation {
    return this.#generation;
  }

  get certificates(): CertificateResolver {
    return this.#certificates;
  }

  get addresses(): GatewayAddresses {
    if (this.#addresses === undefined) throw new Error("the gateway is not listening");
    return this.#addresses;
  }

  /**
   * Re-reads the config file. A valid file replaces routes, services and policies for every new
   * request while in-flight ones finish on the old, and applies limits, log level and ACME names; an
   * invalid one changes nothing. Keys read only at start are reported (config/reload-scope.ts).
   */
  async reload(text?: string): Promise<ReloadResult> {
    let input: ConfigInput;
    try {
      // `text`: the file as a cluster primary read and validated it, so every worker loads the same bytes.
      input = readConfigInput(this.#options.configFile, this.#options.env, text);
    } catch (error) {
      return this.#reloads.rejected(problemsOf(error));
    }
    const { config, upstreamTls } = input;
    const previous = this.#generation;
    const next = buildGeneration(config, upstreamTls, this.#shared(), previous);
    this.#generation = next;
    for (const service of next.services.values()) service.start();
    for (const service of retiredServices(previous, next)) {
      service.stop();
      // Pools of services that are gone close once their in-flight requests had time to finish.
      setTimeout(() => service.close(), config.shutdownGrace).unref();
    }
    // What requests read through this.config (limits, tls.redirectHttp, adminToken...) follows by itself;
    // these hold a copy of their own.
    this.logger.level = config.log.level;
    for (const listener of this.#listeners) applyLimits(listener.server, config.limits);
    if (this.#http2 !== undefined) applyHttp2Settings(this.#http2.server, config.http2, config.limits);
    this.#acme?.setDomains(acmeDomains(config));
    return this.#reloads.applied(config, restartOnlyChanges(previous.config, config), { routes: config.routes.length, services: next.services.size });
  }

  /** Graceful shutdown: stop accepting, finish in-flight requests up to shutdownGrace, close the rest. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#ready = false;
    this.#draining = true;
    const started = Date.now();
    const clean = await drain(
      {
        fronts: this.#listeners.map((listener) => listener.front),
        servers: this.#listeners.map((listener) => listener.server),
        openConnections: () => this.#gate.open,
        goaway: () => this.#http2?.sessions.closeAll(),
        destroyAll: () => this.#gate.destroyAll(),
      },
      this.config.shutdownGrace,
    );
    for (const service of this.#generation.services.values()) service.close();
    clearInterval(this.#poolSweep);
    this.#bodies.close();
    this.#sendWatch.close();
    this.#eventLoop.close();
    this.#acme?.stop();
    this.#accessLog.close();
    this.#bans.stop();
    this.#rollouts.stop();
    await this.#state.close();
    if (this.#admin !== undefined) {
      this.#admin.closeAllConnections();
      await new Promise((resolve) => this.#admin!.close(resolve));
    }
    this.logger.info({ ms: Date.now() - started, clean }, "gateway stopped");
  }

  #shared() {
    return {
      bans: this.#bans,
      limiter: this.#state.limiter,
      quota: this.#state.quota,
      metrics: this.metrics,
      targets: this.#targets,
      logger: this.logger,
      forwarder: this.#forwarder,
      onFinished: this.#onFinished,
      concurrency: this.#concurrency,
      bodies: this.#bodies,
      linger: this.#linger,
      splits: this.#splits,
      rollouts: this.#rollouts,
      clientCertificates: this.#clientCertificates,
    };
  }

  /** Fails requests that waited for a pooled upstream socket longer than their service's connect timeout. */
  #sweepPools(): void {
    const now = performance.now();
    for (const service of this.#generation.services.values()) {
      service.sweepQueue(now, (request) =>
        request.destroy(new GatewayError("UPSTREAM_POOL_TIMEOUT", `every connection to ${service.name} stayed busy for ${service.connectTimeout} ms`)),
      );
    }
  }

  /** One access-log line for an answer given before the pipeline saw the request (parser refusals, CONNECT). */
  #logRefusal(refusal: Refusal): void {
    if (!this.config.log.access) return;
    this.#accessLog.write({
      requestId: refusal.requestId,
      clientIp: canonicalIp((refusal.socket as { remoteAddress?: string }).remoteAddress),
      method: refusal.method,
      host: "",
      path: refusal.path,
      status: refusal.status,
      bytes: 0,
      durationMs: 0,
      route: undefined,
      target: undefined,
      failure: refusal.reason,
    });
  }

  /** At accept, before any byte is read: allowlisted clients skip every limit; denied and banned ones are closed. */
  #classifyConnection(ip: string): AcceptVerdict {
    const guards = this.#generation.guards;
    if (guards.allowlist.has(ip)) return "exempt";
    if (guards.denylist.has(ip)) return "denied";
    if (this.#bans.find(ip) !== undefined) return "banned";
    return undefined;
  }

  #watchCertificateExpiry(): void {
    const expiry = this.metrics.certificateExpiry;
    const record = (info: { domain: string; notAfter: string }) => expiry.set({ domain: info.domain }, Date.parse(info.notAfter) / 1000);
    for (const info of this.#certificates.list()) record(info);
    this.#certificates.onChange(record);
  }

  /** The HTTP/2 server both listeners feed (h2 after ALPN, h2c after its preface), with its per-connection limits. */
  #createHttp2(config: Config): Http2Server {
    const server = createHttp2Server(config.http2, config.limits, (req, res, protocol) => {
      // limits.sendTimeout per stream: a client that stops reading (its flow-control window stays shut)
      // pins the stream's upstream request, as a slow reader pins an HTTP/1.1 connection's.
      this.#sendWatch.track(res.stream, resetStream);
      this.#generation.pipeline.handleRequest(req, res, protocol === "h2", protocol);
    });
    const sessions = new Http2Sessions(server, {
      http2: () => this.config.http2,
      limits: () => this.config.limits,
      metrics: this.metrics,
      logger: this.logger,
      onAbuse: (peerIp, reason) => {
        const guards = this.#generation.guards;
        // A trusted proxy's connection carries its other clients too: never jailed for one of them.
        if (guards.allowlist.has(peerIp) || guards.trustedProxies.has(peerIp)) return;
        this.#offences.h2Abuse(guards.jails.values(), peerIp, reason);
      },
    });
    this.#http2 = { server, sessions };
    return server;
  }

  /**
   * On-demand TLS: handshakes for names nothing serves go to the policy (tls/on-demand/), which asks,
   * rate-limits and orders through `acme`. A handshake waits at most tls.onDemand.handshakeTimeout, and
   * always ends 1 s before the listener's own handshake timeout would cut it off.
   */
  #enableOnDemand(config: Config, acme: AcmeManager): void {
    const decisions = this.metrics.onDemandDecisions;
    for (const result of ON_DEMAND_RESULTS) decisions.inc({ result }, 0);
    const policy = new OnDemandPolicy({
      config: config.tls.onDemand,
      issuer: acme,
      logger: this.logger,
      count: (result) => decisions.inc({ result }),
      handshakeWaitMs: Math.min(config.tls.onDemand.handshakeTimeout, Math.max(0, handshakeTimeout(config.limits) - 1_000)),
      configured: (name) => this.#isRouteHost(name),
    });
    acme.setOnDemandRenewalCheck((domain) => policy.allowsRenewal(domain));
    this.#certificates.setOnDemand(policy);
    this.logger.info({ suffixes: config.tls.onDemand.suffixes, rate: config.tls.onDemand.rate, handshakeWaitMs: policy.handshakeWaitMs }, "on-demand TLS enabled");
  }

  #isRouteHost(name: string): boolean {
    const generation = this.#generation;
    if (this.#routeHosts?.generation !== generation) this.#routeHosts = { generation, hosts: new Set(generation.routes.exactHosts()) };
    return this.#routeHosts.hosts.has(name);
  }

  /** With TLS-ALPN-01, the HTTPS listener answers validations itself (ALPN `acme-tls/1`); otherwise no filter, no cost. */
  #alpnChallenges(config: Config): SocketFilter | undefined {
    if (!config.tls.acme.enabled || config.tls.acme.challenge !== "tls-alpn-01") return undefined;
    return alpnChallengeFilter({
      // The names ACME certifies right now (a reload may add some): only those get a challenge answer.
      challenge: (domain) => (this.#acme?.has(domain) === true ? this.#state.certs.getChallenge(`tls-alpn-01:${domain}`) : Promise.resolve(undefined)),
      timeoutMs: handshakeTimeout(config.limits),
      logger: this.logger,
    });
  }

  /**
   * For /readyz: ready once listening, and while the gateway can make progress: no service whose pool
   * has been full with nothing completing for readiness.upstreamStall, and an event loop that keeps up.
   */
  readiness(): { ready: boolean; detail: { pendingCertificates: string[]; stalledServices: string[]; eventLoopLagSeconds: number; reason?: string } } {
    const { upstreamStall, eventLoopLag } = this.config.readiness;
    const now = performance.now();
    const stalledServices = [...this.#generation.services.values()].filter((service) => service.stalledFor(now) >= upstreamStall).map((service) => service.name);
    const lagSeconds = this.#eventLoop.seconds;
    let reason = this.#ready ? "" : "not listening";
    if (reason === "" && stalledServices.length > 0) reason = `upstream pool saturated with no response for ${upstreamStall} ms: ${stalledServices.join(", ")}`;
    if (reason === "" && eventLoopLag > 0 && lagSeconds * 1000 > eventLoopLag) reason = `event loop lag p99 ${lagSeconds.toFixed(3)} s over ${eventLoopLag} ms`;
    if (reason !== this.#notReadyReason && this.#ready) {
      if (reason === "") this.logger.info("ready again");
      else this.logger.warn({ reason }, "not ready: the gateway cannot make progress");
    }
    this.#notReadyReason = reason;
    const detail = { pendingCertificates: this.#acme?.pending() ?? [], stalledServices, eventLoopLagSeconds: lagSeconds };
    return { ready: reason === "", detail: reason === "" ? detail : { ...detail, reason } };
  }

  get bans(): BanManager {
    return this.#bans;
  }

  /** After logrotate moved log.file (SIGUSR1): write to a new file at the configured path. */
  reopenLogs(): void {
    this.#accessLog.flush();
    for (const stream of this.#reopenables) stream.reopen();
    this.logger.info({ file: this.config.log.file }, "log file reopened");
  }

  get rollouts(): RolloutManager {
    return this.#rollouts;
  }

  async #listen(): Promise<void> {
    const config = this.config;
    await this.#bans.start();
    // Read before any certificate is served (every SecureContext carries it); a bad file stops the start.
    const clientCa = clientCaOf(config.tls.clientAuth);
    this.#certificates = await CertificateResolver.create(config.tls, this.#generation.routes.exactHosts(), this.logger);
    this.#watchCertificateExpiry();
    if (config.tls.acme.enabled) {
      this.#acme = new AcmeManager(config.tls.acme, acmeDomains(config), this.#state.certs, this.#certificates, this.metrics, this.logger);
      const acme = this.#acme;
      this.#certificates.setErrorSource((domain) => acme.lastError(domain));
      await this.#acme.start();
      if (config.tls.onDemand.enabled) this.#enableOnDemand(config, this.#acme);
    }
    const handlers = {
      request: (req: http.IncomingMessage, res: http.ServerResponse, encrypted: boolean) => {
        if (this.#draining) res.shouldKeepAlive = false;
        this.#generation.pipeline.handleRequest(req, res, encrypted);
      },
      upgrade: (req: http.IncomingMessage, socket: Duplex, head: Buffer, encrypted: boolean) =>
        this.#generation.pipeline.handleUpgrade(req, socket, head, encrypted),
    };
    const edge: EdgeHooks = {
      metrics: this.metrics,
      logger: this.logger,
      sendWatch: this.#sendWatch,
      observeRefusal: (refusal) => this.#logRefusal(refusal),
    };
    const h2 = config.http2.enabled || config.http2.cleartext ? this.#createHttp2(config) : undefined;
    const tlsEdge = createTlsEdge(
      config.limits,
      {
        minVersion: config.tls.minVersion,
        defaultCertificate: this.#certificates.defaultCertificate(),
        sniCallback: (name, callback) => this.#certificates.sniCallback(name, callback),
        clientCa,
      },
      handlers,
      edge,
      config.http2.enabled ? h2 : undefined,
    );
    const toTls = (socket: Duplex) => tlsEdge.tls.emit("connection", socket);
    const httpsListener = await listen("https", config.listen.https, toTls, tlsEdge.http1, this.#gate, edge, this.#alpnChallenges(config));
    this.#listeners.push(httpsListener);

    const plain = plainHttpHandler({
      redirect: () => this.config.tls.redirectHttp,
      httpsPort: () => httpsListener.address().port,
      challenges: () => (this.#acme === undefined ? undefined : { keyAuthorization: (token) => this.#state.certs.getChallenge(`http-01:${token}`) }),
      serve: (req, res) => handlers.request(req, res, false),
    });
    const httpServer = createHttpServer(
      config.limits,
      plain,
      (req, socket, head) => {
        // With the redirect on, a WebSocket handshake over plain HTTP gets the same 308 as any request.
        if (this.config.tls.redirectHttp) serveWithoutUpgrade(req, socket, plain, edge.observeRefusal);
        else handlers.upgrade(req, socket, head, false);
      },
      edge,
    );
    const plainSockets = plainEntry(httpServer, config.http2.cleartext ? h2 : undefined, () => this.config.limits, edge);
    const httpListener = await listen("http", config.listen.http, plainSockets, httpServer, this.#gate, edge);
    this.#listeners.push(httpListener);

    let admin: AddressInfo | undefined;
    if (this.#options.primary === undefined) {
      this.#admin = createAdminServer(
        {
          token: () => this.config.adminToken,
          metrics: async () => ({ contentType: this.metrics.registry.contentType, text: await this.metrics.registry.metrics() }),
          ready: () => this.readiness(),
          api: adminApi(this),
        },
        this.logger,
      );
      admin = await listenAdmin(this.#admin, config.listen.admin);
    }
    for (const service of this.#generation.services.values()) service.start();
    this.#addresses = { http: httpListener.address(), https: httpsListener.address(), admin };
    this.#ready = true;
    this.logger.info(
      {
        http: formatAddress(this.#addresses.http),
        https: formatAddress(this.#addresses.https),
        admin: admin && formatAddress(admin),
        routes: config.routes.length,
      },
      "rampart listening",
    );
  }
}

/**
 * The names ACME orders for: tls.acme.domains, else every host a route names (no IPs, no localhost;
 * wildcard hosts only with DNS-01, the one challenge that can prove them).
 */
function acmeDomains(config: Config): string[] {
  const named = config.tls.acme.domains.length > 0 ? config.tls.acme.domains : config.routes.flatMap((route) => route.match.host ?? []);
  const wildcards = config.tls.acme.challenge === "dns-01";
  return [...new Set(named)].filter((host) => (wildcards || !host.startsWith("*.")) && !host.startsWith("[") && isIP(host) === 0 && host !== "localhost");
}

/** package.json's version (dist/src/main.js sits two levels below it). */
export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

function formatAddress(address: AddressInfo): string {
  return address.family === "IPv6" ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

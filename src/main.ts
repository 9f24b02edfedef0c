// Composition root: wires config, listeners, TLS, the request pipeline, the admin API and shutdown.
// Everything that depends on the config file lives in a Generation (pipeline/build.ts) that a reload
// replaces atomically; what must outlive a reload (listeners, metrics, the forwarder) lives here.
import type { AddressInfo } from "node:net";
import type http from "node:http";
import { ConfigError, formatProblem, loadConfigFile } from "./config/load.js";
import type { Config } from "./config/schema.js";
import { createLogger, type Logger } from "./observability/logger.js";
import { AccessLog, type LineSink } from "./observability/access-log.js";
import { GatewayMetrics } from "./observability/metrics.js";
import { requestObserver } from "./observability/request-log.js";
import { buildGeneration, retiredServices, type Generation } from "./pipeline/build.js";
import { Forwarder } from "./proxy/forwarder.js";
import { adminApi } from "./server/admin-api.js";
import { createAdminServer, listenAdmin } from "./server/admin.js";
import { ConnectionGate } from "./server/connection-gate.js";
import { createHttpServer, createHttpsServer, listen, type Listener } from "./server/listeners.js";
import { plainHttpHandler } from "./server/plain-http.js";
import { drain } from "./server/shutdown.js";
import { CertificateResolver } from "./tls/certificate-resolver.js";
import { TargetRegistry } from "./upstream/target-registry.js";

export interface GatewayOptions {
  readonly configFile: string;
  readonly env?: Record<string, string | undefined>;
  /** Defaults to a JSON logger on stdout at the config's log level. */
  readonly logger?: Logger;
  /** Where access-log lines go; defaults to buffered stdout. */
  readonly accessLog?: LineSink;
}

export interface GatewayAddresses {
  readonly http: AddressInfo;
  readonly https: AddressInfo;
  readonly admin: AddressInfo;
}

export type ReloadResult = { readonly ok: true } | { readonly ok: false; readonly problems: readonly string[] };

export class Gateway {
  readonly metrics = new GatewayMetrics();
  readonly logger: Logger;
  readonly #accessLog: AccessLog;
  #generation: Generation;
  #certificates!: CertificateResolver;
  #draining = false;
  #ready = false;
  readonly #forwarder: Forwarder;
  readonly #targets = new TargetRegistry(this.metrics);
  readonly #gate: ConnectionGate;
  readonly #listeners: Listener[] = [];
  #admin: http.Server | undefined;
  #addresses: GatewayAddresses | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    private readonly options: GatewayOptions,
    config: Config,
  ) {
    this.logger = options.logger ?? createLogger(config.log.level);
    this.#accessLog = new AccessLog(options.accessLog);
    this.#forwarder = new Forwarder({
      logger: this.logger,
      hsts: () => this.config.tls.hsts,
      draining: () => this.#draining,
    });
    this.#gate = new ConnectionGate(() => this.config.limits, this.metrics);
    this.#generation = buildGeneration(config, this.#shared());
  }

  /** Loads the config file, binds every listener and resolves once the gateway is serving. */
  static async start(options: GatewayOptions): Promise<Gateway> {
    const config = loadConfigFile(options.configFile, options.env);
    const gateway = new Gateway(options, config);
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
   * request while in-flight ones finish on the old; an invalid one changes nothing. Listener addresses
   * are bound once: a change to `listen` is reported and needs a restart.
   */
  async reload(): Promise<ReloadResult> {
    let config: Config;
    try {
      config = loadConfigFile(this.options.configFile, this.options.env);
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems.map(formatProblem) : [String(error)];
      this.metrics.configReloads.inc({ result: "failure" });
      this.logger.error({ problems }, "config reload rejected; the running config stays in force");
      return { ok: false, problems };
    }
    const previous = this.#generation;
    const next = buildGeneration(config, this.#shared(), previous);
    this.#generation = next;
    for (const service of next.services.values()) service.start();
    for (const service of retiredServices(previous, next)) {
      service.stop();
      // Pools of services that are gone close once their in-flight requests had time to finish.
      setTimeout(() => service.close(), config.shutdownGrace).unref();
    }
    if (JSON.stringify(previous.config.listen) !== JSON.stringify(config.listen)) {
      this.logger.warn("listen addresses changed: they take effect at the next restart");
    }
    this.metrics.configReloads.inc({ result: "success" });
    this.logger.info({ routes: config.routes.length, services: next.services.size }, "config reloaded");
    return { ok: true };
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
        destroyAll: () => this.#gate.destroyAll(),
      },
      this.config.shutdownGrace,
    );
    for (const service of this.#generation.services.values()) service.close();
    this.#forwarder.close();
    this.#accessLog.close();
    if (this.#admin !== undefined) {
      this.#admin.closeAllConnections();
      await new Promise((resolve) => this.#admin!.close(resolve));
    }
    this.logger.info({ ms: Date.now() - started, clean }, "gateway stopped");
  }

  #shared() {
    return {
      metrics: this.metrics,
      targets: this.#targets,
      logger: this.logger,
      forwarder: this.#forwarder,
      onFinished: requestObserver(this.metrics, this.#accessLog, () => this.config.log.access),
    };
  }

  async #listen(): Promise<void> {
    const config = this.config;
    this.#certificates = await CertificateResolver.create(config.tls, this.#generation.routes.exactHosts(), this.logger);
    const handlers = {
      request: (req: http.IncomingMessage, res: http.ServerResponse, encrypted: boolean) => {
        if (this.#draining) res.shouldKeepAlive = false;
        this.#generation.pipeline.handleRequest(req, res, encrypted);
      },
      upgrade: (req: http.IncomingMessage, socket: import("node:stream").Duplex, head: Buffer, encrypted: boolean) =>
        this.#generation.pipeline.handleUpgrade(req, socket, head, encrypted),
    };
    const httpsServer = createHttpsServer(
      config.limits,
      {
        minVersion: config.tls.minVersion,
        defaultCertificate: this.#certificates.defaultCertificate(),
        sniCallback: (name, callback) => this.#certificates.sniCallback(name, callback),
      },
      handlers,
      this.metrics,
      this.logger,
    );
    const httpsListener = await listen(config.listen.https, httpsServer, this.#gate, this.logger);
    this.#listeners.push(httpsListener);

    const plain = plainHttpHandler({
      redirect: () => this.config.tls.redirectHttp,
      httpsPort: () => httpsListener.address().port,
      challenges: () => undefined,
      serve: (req, res) => handlers.request(req, res, false),
    });
    const httpServer = createHttpServer(
      config.limits,
      plain,
      (req, socket, head) => {
        if (this.config.tls.redirectHttp) socket.destroy();
        else handlers.upgrade(req, socket, head, false);
      },
      this.metrics,
      this.logger,
    );
    const httpListener = await listen(config.listen.http, httpServer, this.#gate, this.logger);
    this.#listeners.push(httpListener);

    this.#admin = createAdminServer(
      {
        token: () => this.config.adminToken,
        metrics: async () => ({ contentType: this.metrics.registry.contentType, text: await this.metrics.registry.metrics() }),
        ready: () => ({ ready: this.#ready, detail: {} }),
        api: adminApi(this),
      },
      this.logger,
    );
    const admin = await listenAdmin(this.#admin, config.listen.admin);
    for (const service of this.#generation.services.values()) service.start();
    this.#addresses = { http: httpListener.address(), https: httpsListener.address(), admin };
    this.#ready = true;
    this.logger.info(
      {
        http: formatAddress(this.#addresses.http),
        https: formatAddress(this.#addresses.https),
        admin: formatAddress(admin),
        routes: config.routes.length,
      },
      "rampart listening",
    );
  }
}

function formatAddress(address: AddressInfo): string {
  return address.family === "IPv6" ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

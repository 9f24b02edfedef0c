// Builds everything that depends on one configuration (services, routes, stages) as one unit, so a
// reload can swap it in atomically or throw it away. Services whose config did not change are carried
// over, keeping their connection pools and target state.
import { isDeepStrictEqual } from "node:util";
import type { Config } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import type { BodyProgress } from "../proxy/body-progress.js";
import type { Forwarder } from "../proxy/forwarder.js";
import { compileHeaderEdits, type Route } from "../routing/route.js";
import { RouteTable } from "../routing/route-table.js";
import { Service } from "../upstream/service.js";
import type { TargetRegistry } from "../upstream/target-registry.js";
import { sameUpstreamTls, type UpstreamTls } from "../upstream/upstream-tls.js";
import type { BanManager } from "../guards/bans.js";
import type { ClientConcurrency } from "../guards/client-concurrency.js";
import { CidrSet } from "../guards/ip.js";
import { compileJails } from "../guards/jails.js";
import type { SplitRegistry } from "../routing/split.js";
import type { RolloutManager } from "../routing/rollout-manager.js";
import { compilePolicies } from "../guards/rate-limit.js";
import type { LimiterFactory } from "../state/limiters.js";
import type { QuotaFactory } from "../state/quota.js";
import type { BuildContext, GuardSet, RouteEntry } from "../stages/stage-factory.js";
import type { Linger } from "../pipeline/linger.js";
import { Pipeline, type RequestObserver } from "../pipeline/pipeline.js";
import { requestPrefix, routeChain } from "../stages/request-path.js";

export interface Generation {
  readonly config: Config;
  readonly guards: GuardSet;
  readonly pipeline: Pipeline;
  readonly routes: RouteTable<RouteEntry>;
  readonly services: ReadonlyMap<string, Service>;
}

export interface BuildShared {
  readonly bans: BanManager;
  readonly limiter: LimiterFactory;
  readonly quota: QuotaFactory;
  readonly metrics: GatewayMetrics;
  readonly targets: TargetRegistry;
  readonly logger: Logger;
  readonly forwarder: Forwarder;
  readonly onFinished: RequestObserver;
  readonly concurrency: ClientConcurrency;
  readonly bodies: BodyProgress;
  readonly linger: Linger;
  /** Split weights by route, kept across reloads (a rollout moves them). */
  readonly splits: SplitRegistry;
  readonly rollouts: RolloutManager;
  /** Whether the HTTPS listener asks clients for certificates: decided at start (tls.clientAuth is restart-only), whatever a reload says. */
  readonly clientCertificates: boolean;
}

/**
 * `upstreamTls`: the services' TLS files as loadServicesTls read them for this config. The caller reads
 * them with the config, so an unusable file is a config error and nothing here is built.
 */
export function buildGeneration(config: Config, upstreamTls: ReadonlyMap<string, UpstreamTls>, shared: BuildShared, previous?: Generation): Generation {
  const services = new Map<string, Service>();
  for (const [name, serviceConfig] of Object.entries(config.services)) {
    const old = previous?.services.get(name);
    const tls = upstreamTls.get(name);
    // Same config and same TLS file contents: the pool is kept. A CA or client certificate replaced
    // under the same path builds a new service (new agent and HTTP/2 sessions); targets keep their state.
    const keep = old !== undefined && isDeepStrictEqual(old.config, serviceConfig) && sameUpstreamTls(old.tls, tls);
    services.set(name, keep ? old : new Service(name, serviceConfig, shared.targets, shared.metrics, shared.logger, tls));
    // At every load, not per request: a setting nobody should run with in production must not go unnoticed.
    if (tls?.verify === false) {
      shared.logger.warn({ service: name }, `services.${name}.tls.verify is false: target certificates are NOT verified (anyone on the path can impersonate the targets); use tls.ca instead`);
    }
  }
  const guards: GuardSet = {
    bans: shared.bans,
    allowlist: new CidrSet(config.allowlist),
    denylist: new CidrSet(config.denylist),
    trustedProxies: new CidrSet(config.trustedProxies),
    jails: compileJails(config, shared.limiter),
    policies: compilePolicies(config, shared.quota),
    concurrency: shared.concurrency,
  };
  const allJails = [...guards.jails.values()];
  const build: BuildContext = {
    config,
    guards,
    metrics: shared.metrics,
    logger: shared.logger,
    forwarder: shared.forwarder,
    bodies: shared.bodies,
    clientCertificates: shared.clientCertificates,
  };
  const routes = new RouteTable<RouteEntry>(
    config.routes.map((route) => {
      // A route that answers by itself (respond) has no side: no service, no target, no forwarding.
      const sideWeights = route.respond !== undefined ? [] : route.split === undefined ? [[route.service!, 100] as const] : Object.entries(route.split.services);
      const sides = sideWeights.map(([name]) => Object.freeze({ name, service: services.get(name)! }));
      const split = route.split === undefined ? undefined : shared.splits.weightsFor(route.name, sideWeights);
      const compiled: Route = Object.freeze({
        name: route.name,
        match: route.match,
        sides: Object.freeze(sides),
        split,
        rollout: shared.rollouts.recorderFor(route.name, route.rollout, split),
        stripPrefix: route.stripPrefix,
        requestHeaders: compileHeaderEdits(route.requestHeaders),
        responseHeaders: compileHeaderEdits(route.responseHeaders),
        metrics: shared.metrics.forRoute(route.name),
        rateLimit: route.rateLimit === undefined ? undefined : guards.policies.get(route.rateLimit),
        jails: route.jails === undefined ? allJails : route.jails.map((name) => guards.jails.get(name)!),
        config: route,
      });
      const chain = routeChain.map((factory) => factory(compiled, build)).filter((stage) => stage !== undefined);
      return Object.freeze({ match: compiled.match, route: compiled, chain: Object.freeze(chain) });
    }),
  );
  shared.targets.retainOnly(new Set([...services.values()].flatMap((service) => service.targets)));
  shared.splits.retainOnly(new Set(config.routes.filter((route) => route.split !== undefined).map((route) => route.name)));
  shared.rollouts.retainOnly(new Set(config.routes.filter((route) => route.rollout !== undefined).map((route) => route.name)));
  const prefix = requestPrefix.map((factory) => factory({ ...build, routes }));
  return { config, guards, pipeline: new Pipeline(prefix, shared.onFinished, shared.logger, shared.linger), routes, services };
}

/** Services of `previous` that `next` no longer uses: their pools close once in-flight requests are done. */
export function retiredServices(previous: Generation, next: Generation): Service[] {
  const kept = new Set(next.services.values());
  return [...previous.services.values()].filter((service) => !kept.has(service));
}

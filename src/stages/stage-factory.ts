// What a stage factory may use when it is built for one configuration. Factories validate and
// precompute here (regexes, sets, label children) so the stage's run() does no setup per request.
// Two kinds (request-path.ts lists both): prefix factories build the stages every request runs; route
// factories build a route's own chain and return undefined when the route does not use their feature,
// so a route pays only for what it configures (Caddy's RouteList.Compile, Fastify's per-route context).
import type { Config } from "../config/schema.js";
import type { BanManager } from "../guards/bans.js";
import type { ClientConcurrency } from "../guards/client-concurrency.js";
import type { CidrSet } from "../guards/ip.js";
import type { Jail } from "../guards/jails.js";
import type { Policy } from "../guards/rate-limit.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import type { BodyProgress } from "../proxy/body-progress.js";
import type { Forwarder } from "../proxy/forwarder.js";
import type { Route } from "../routing/route.js";
import type { RouteMatcher, RouteTable } from "../routing/route-table.js";
import type { Stage } from "../pipeline/context.js";

/** The guards' view of one configuration: lists, compiled jails and policies, and the process's bans. */
export interface GuardSet {
  readonly bans: BanManager;
  readonly allowlist: CidrSet;
  readonly denylist: CidrSet;
  readonly trustedProxies: CidrSet;
  readonly jails: ReadonlyMap<string, Jail>;
  readonly policies: ReadonlyMap<string, Policy>;
  /** Requests in progress per client address; outlives reloads. */
  readonly concurrency: ClientConcurrency;
}

export interface BuildContext {
  readonly config: Config;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly forwarder: Forwarder;
  readonly guards: GuardSet;
  /** Request bodies still arriving, for limits.bodyTimeout; outlives reloads. */
  readonly bodies: BodyProgress;
  /** The HTTPS listener asks for client certificates (tls.clientAuth at start; a reload cannot change it). */
  readonly clientCertificates: boolean;
}

/** A compiled route with the stages only it runs, as the route table hands it to the route stage. */
export interface RouteEntry {
  readonly match: RouteMatcher;
  readonly route: Route;
  readonly chain: readonly Stage[];
}

export interface PrefixBuild extends BuildContext {
  readonly routes: RouteTable<RouteEntry>;
}

export type PrefixStageFactory = (build: PrefixBuild) => Stage;
/** undefined: the route does not use this feature and its chain skips it. */
export type RouteStageFactory = (route: Route, build: BuildContext) => Stage | undefined;

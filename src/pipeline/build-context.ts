// What a stage factory may use when it is built for one configuration. Factories validate and
// precompute here (regexes, sets, label children) so the stage's run() does no setup per request.
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
import type { RouteTable } from "../routing/route-table.js";
import type { Stage } from "./stage.js";

/** The guards' view of one configuration: lists, compiled jails and policies, and the process's bans. */
export interface GuardSet {
  readonly bans: BanManager;
  readonly allowlist: CidrSet;
  readonly denylist: CidrSet;
  readonly jails: ReadonlyMap<string, Jail>;
  readonly policies: ReadonlyMap<string, Policy>;
  /** Requests in progress per client address; outlives reloads. */
  readonly concurrency: ClientConcurrency;
}

export interface BuildContext {
  readonly config: Config;
  readonly routes: RouteTable<Route>;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly forwarder: Forwarder;
  readonly guards: GuardSet;
  /** Request bodies still arriving, for limits.bodyTimeout; outlives reloads. */
  readonly bodies: BodyProgress;
}

export type StageFactory = (build: BuildContext) => Stage;

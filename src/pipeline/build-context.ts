// What a stage factory may use when it is built for one configuration. Factories validate and
// precompute here (regexes, sets, label children) so the stage's run() does no setup per request.
import type { Config } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import type { Forwarder } from "../proxy/forwarder.js";
import type { Route } from "../routing/route.js";
import type { RouteTable } from "../routing/route-table.js";
import type { Stage } from "./stage.js";

export interface BuildContext {
  readonly config: Config;
  readonly routes: RouteTable<Route>;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly forwarder: Forwarder;
}

export type StageFactory = (build: BuildContext) => Stage;

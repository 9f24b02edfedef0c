// A route compiled from config: its service (or its split's services) resolved, header edits lower-cased,
// metrics bound.
import type { HeaderEdits, RouteConfig } from "../config/schema.js";
import type { Jail } from "../guards/jails.js";
import type { Policy } from "../guards/rate-limit.js";
import type { RouteMetrics } from "../observability/metrics.js";
import type { Service } from "../upstream/service.js";
import type { RouteMatcher } from "./route-table.js";
import type { SplitWeights } from "./split.js";
import type { RolloutRecorder } from "./rollout-manager.js";

export interface CompiledHeaderEdits {
  readonly set: readonly (readonly [name: string, value: string])[];
  readonly remove: readonly string[];
  /** Every name the edits set or remove: what never passes from the other side as it came. */
  readonly names: ReadonlySet<string>;
}

/** One service a route sends to; a route without a split has one side. */
export interface RouteSide {
  readonly name: string;
  readonly service: Service;
}

export interface Route {
  readonly name: string;
  readonly match: RouteMatcher;
  /** In config order; ctx.side indexes it (0 unless a split chose another). */
  readonly sides: readonly RouteSide[];
  /** The weights across `sides` when the route has a split (a rollout moves them). */
  readonly split: SplitWeights | undefined;
  /** Where finished requests go when the route has a progressive rollout. */
  readonly rollout: RolloutRecorder | undefined;
  readonly stripPrefix: string | undefined;
  readonly requestHeaders: CompiledHeaderEdits;
  readonly responseHeaders: CompiledHeaderEdits;
  readonly metrics: RouteMetrics;
  readonly rateLimit: Policy | undefined;
  readonly jails: readonly Jail[];
  readonly config: RouteConfig;
}

export function compileHeaderEdits(edits: HeaderEdits): CompiledHeaderEdits {
  const set = Object.entries(edits.set).map(([name, value]) => [name.toLowerCase(), value] as const);
  const remove = edits.remove.map((name) => name.toLowerCase());
  return Object.freeze({ set, remove, names: new Set([...remove, ...set.map(([name]) => name)]) });
}

/** The upstream path for a normalised request path once the route's stripPrefix is removed. */
export function stripRoutePrefix(path: string, prefix: string | undefined): string {
  if (prefix === undefined || prefix === "/") return path;
  const rest = path.slice(prefix.length);
  return rest === "" ? "/" : rest;
}

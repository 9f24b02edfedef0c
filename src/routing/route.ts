// A route compiled from config: its service resolved, header edits lower-cased, metrics bound.
import type { HeaderEdits, RouteConfig } from "../config/schema.js";
import type { Jail } from "../guards/jails.js";
import type { Policy } from "../guards/rate-limit.js";
import type { RouteMetrics } from "../observability/metrics.js";
import type { Service } from "../upstream/service.js";
import type { RouteMatcher } from "./route-table.js";

export interface CompiledHeaderEdits {
  readonly set: readonly (readonly [name: string, value: string])[];
  readonly remove: readonly string[];
}

export interface Route {
  readonly name: string;
  readonly match: RouteMatcher;
  readonly service: Service;
  readonly stripPrefix: string | undefined;
  readonly requestHeaders: CompiledHeaderEdits;
  readonly responseHeaders: CompiledHeaderEdits;
  readonly metrics: RouteMetrics;
  readonly rateLimit: Policy | undefined;
  readonly jails: readonly Jail[];
  readonly config: RouteConfig;
}

export function compileHeaderEdits(edits: HeaderEdits): CompiledHeaderEdits {
  return Object.freeze({
    set: Object.entries(edits.set).map(([name, value]) => [name.toLowerCase(), value] as const),
    remove: edits.remove.map((name) => name.toLowerCase()),
  });
}

/** The upstream path for a normalised request path once the route's stripPrefix is removed. */
export function stripRoutePrefix(path: string, prefix: string | undefined): string {
  if (prefix === undefined || prefix === "/") return path;
  const rest = path.slice(prefix.length);
  return rest === "" ? "/" : rest;
}

// What a reload changes, declared once beside the schema. Everything a request reads (routes, services,
// policies, jails, lists, trustedProxies, limits, log level, tls.redirectHttp and tls.hsts, the names
// ACME certifies, adminToken, readiness) takes effect on reload. The keys below are read once at start
// (listeners bound, the store connected, certificates and the ACME account loaded, files watched): a
// reload compares every one of them and reports those that changed, which apply after a restart.
// Traefik and Caddy reload everything by rebuilding the server; Rampart keeps its listeners and
// connections, so it says plainly what it did not apply.
import { isDeepStrictEqual } from "node:util";
import type { Config } from "./schema.js";

export const RESTART_ONLY_KEYS: readonly string[] = Object.freeze([
  "listen",
  "workers",
  "watch",
  "store",
  "bans",
  // The listeners' protocols and nghttp2's per-session memory are fixed when the servers are built.
  "http2.enabled",
  "http2.cleartext",
  "http2.maxSessionMemory",
  "tls.minVersion",
  "tls.selfSigned",
  "tls.certDir",
  "tls.certificates",
  "tls.acme.enabled",
  "tls.acme.directoryUrl",
  "tls.acme.email",
  "tls.acme.challenge",
  "tls.acme.renewBefore",
  "tls.acme.caFile",
  "tls.acme.eab",
  "tls.acme.checkInterval",
  "tls.acme.retry",
  "tls.acme.failedOrderDelay",
  "tls.acme.dns",
  // The handshake's client-certificate request and the on-demand issuer are built with the listeners.
  "tls.clientAuth",
  "tls.onDemand",
]);

/** The restart-only keys whose value differs between two configs, in declaration order. */
export function restartOnlyChanges(previous: Config, next: Config): string[] {
  return RESTART_ONLY_KEYS.filter((key) => !isDeepStrictEqual(valueAt(previous, key), valueAt(next, key)));
}

export function valueAt(config: Config, dottedKey: string): unknown {
  let value: unknown = config;
  for (const part of dottedKey.split(".")) value = (value as Record<string, unknown> | undefined)?.[part];
  return value;
}

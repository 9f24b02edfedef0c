// Rampart configurations for the benchmark. Metrics and the access log are always on; everything else is
// chosen per target so each scenario differs from its baseline only in what it measures.
import path from "node:path";

export interface RampartPorts {
  readonly http: number;
  readonly https: number;
  readonly admin: number;
}

export interface RampartOptions {
  /** Names the process, its config, log and state files (letters, digits and dashes). */
  readonly name: string;
  readonly ports: RampartPorts;
  /** Upstream URLs of the one service, every route's destination. */
  readonly targets: readonly string[];
  /**
   * The edge guards, none able to fire under this load: a denylist entry not matching 127.0.0.1, a
   * rate-limit policy far above any reachable rate on the route, and a jail on 401/403. Without them the
   * config defines no policy, jail or list at all (a route without `jails:` gets every jail).
   */
  readonly edgeGuards: boolean;
  /** Redis URL for `store.kind: redis`; memory otherwise. */
  readonly redisUrl?: string;
  /** `store.dir` (the memory store's bans.json); default a fresh directory under `dir`. */
  readonly stateDir?: string;
  /** YAML flow mappings for the service, e.g. "{ path: /, interval: 1s }"; omitted keys stay off. */
  readonly healthCheck?: string;
  readonly circuitBreaker?: string;
  readonly retry?: string;
  /** Extra node options for the process (not part of the config), e.g. `--inspect=127.0.0.1:PORT`. */
  readonly nodeArgs?: readonly string[];
  /** `log.level` (default info) and `log.access` (default true). */
  readonly logLevel?: string;
  readonly accessLog?: boolean;
  /** Extra rate-limit policies by name, as YAML flow mappings, e.g. { soak: "{ limit: 5, window: 1s }" }. */
  readonly rateLimits?: Readonly<Record<string, string>>;
  /**
   * The routes, all to the one service, replacing the default single route `all` on `/`; the edge guards'
   * rate limit and jail still apply to a route without `rateLimit` of its own.
   */
  readonly routes?: readonly BenchRoute[];
  /** The path start-up waits on for a 200 (default `/`): a config without a route on `/` answers it 404. */
  readonly readyPath?: string;
  /** More services beside `backend` (whose targets are `targets`), for routes that name them. */
  readonly services?: Readonly<Record<string, BenchService>>;
  /** `limits` as a YAML flow mapping, e.g. "{ maxRequestsInFlightPerIp: 1000 }"; omitted: Rampart's defaults. */
  readonly limits?: string;
  /** `http2` as a YAML flow mapping; omitted: Rampart's defaults (h2 by ALPN on the HTTPS listener). */
  readonly http2?: string;
  /** PEM files served on the HTTPS listener (`tls.certificates`, no self-signed one) instead of a self-signed certificate. */
  readonly certificate?: { readonly certFile: string; readonly keyFile: string };
  /** `tls.selfSigned` (default: on unless `certificate` is given). */
  readonly selfSigned?: boolean;
  /** More keys of the top-level `tls` block, as YAML lines without indentation, e.g. "clientAuth: { ca: ..., mode: optional }". */
  readonly tlsKeys?: readonly string[];
  /** The `backend` service's `tls` (TLS to https:// targets) as a YAML flow mapping. */
  readonly tls?: string;
  /** With edgeGuards: the denylist's CIDRs (default 203.0.113.0/24, which no bench client uses). */
  readonly denylist?: readonly string[];
  /** `trustedProxies`, CIDRs whose X-Forwarded-For names the client. */
  readonly trustedProxies?: readonly string[];
}

export interface BenchService {
  readonly targets: readonly string[];
  /** How Rampart speaks to the targets (default http1). */
  readonly protocol?: "http1" | "h2c" | "h2";
  /** `tls` (TLS to https:// targets) as a YAML flow mapping. */
  readonly tls?: string;
  /** YAML flow mappings, as for `backend`; omitted keys stay off. */
  readonly healthCheck?: string;
  readonly circuitBreaker?: string;
  readonly retry?: string;
}

export interface BenchRoute {
  readonly name: string;
  readonly pathPrefix: string;
  /** A policy of `rateLimits` (or `bench` with the edge guards). */
  readonly rateLimit?: string;
  /** The service (default `backend`); ignored with `split`. */
  readonly service?: string;
  /** A weighted split across services (names of `backend` and `services`) instead of `service`. */
  readonly split?: { readonly services: Readonly<Record<string, number>>; readonly sticky?: string };
  /** The route's `fault` as a YAML flow mapping, e.g. "{ delay: { percent: 0 }, abort: { percent: 0 } }". */
  readonly fault?: string;
  /** `requireClientCert: true` (needs `tls.clientAuth` in `tlsKeys`). */
  readonly requireClientCert?: boolean;
}

/** A breaker that this load cannot open: 50% errors over at least 20 requests in 10 s. */
export const BREAKER = "{ errorThresholdPercentage: 50, volumeThreshold: 20, window: 10s, resetTimeout: 30s }";

export function rampartConfig(dir: string, options: RampartOptions): string {
  const q = JSON.stringify;
  const stateDir = options.stateDir ?? path.join(dir, `${options.name}-state`);
  const store = options.redisUrl === undefined ? `{ kind: memory, dir: ${q(stateDir)} }` : `{ kind: redis, dir: ${q(stateDir)}, redis: { url: ${q(options.redisUrl)} } }`;
  const service = serviceKeys(options);
  const moreServices = Object.entries(options.services ?? {}).map(([name, more]) =>
    [
      `  ${name}:`,
      "    targets:",
      ...more.targets.map((url) => `      - url: ${q(url.replace(/\/$/, ""))}`),
      ...(more.protocol === undefined ? [] : [`    protocol: ${more.protocol}`]),
      ...serviceKeys(more),
    ].join("\n"),
  );
  const policies = [
    ...(options.edgeGuards ? ["  bench: { limit: 1000000000, window: 1s, key: ip }"] : []),
    ...Object.entries(options.rateLimits ?? {}).map(([name, policy]) => `  ${name}: ${policy}`),
  ];
  const guards =
    (options.edgeGuards ? `denylist: [${(options.denylist ?? ["203.0.113.0/24"]).join(", ")}]\n` : "") +
    (options.trustedProxies === undefined ? "" : `trustedProxies: [${options.trustedProxies.join(", ")}]\n`) +
    (policies.length > 0 ? `rateLimits:\n${policies.join("\n")}\n` : "") +
    (options.edgeGuards ? "jails:\n  bench: { when: { status: [401, 403] }, maxRetry: 1000000, findTime: 10m, banTime: 1m }\n" : "");
  const routes = (options.routes ?? [{ name: "all", pathPrefix: "/" }]).map((route) => {
    const rateLimit = route.rateLimit ?? (options.edgeGuards ? "bench" : undefined);
    return [
      `  - name: ${route.name}`,
      `    match: { pathPrefix: ${q(route.pathPrefix)} }`,
      ...(route.split === undefined
        ? [`    service: ${route.service ?? "backend"}`]
        : [
            `    split: { services: { ${Object.entries(route.split.services)
              .map(([name, weight]) => `${name}: ${weight}`)
              .join(", ")} }, sticky: ${q(route.split.sticky ?? "none")} }`,
          ]),
      ...(route.fault === undefined ? [] : [`    fault: ${route.fault}`]),
      ...(route.requireClientCert === true ? ["    requireClientCert: true"] : []),
      ...(rateLimit === undefined ? [] : [`    rateLimit: ${rateLimit}`]),
      ...(options.edgeGuards ? ["    jails: [bench]"] : []),
    ].join("\n");
  });
  const certificates =
    options.certificate === undefined ? "" : `  certificates: [{ certFile: ${q(options.certificate.certFile)}, keyFile: ${q(options.certificate.keyFile)} }]\n`;
  return `# Written by bench/ for one benchmark run: ${options.name}.
workers: 1
shutdownGrace: 1s
listen:
  http: 127.0.0.1:${options.ports.http}
  https: 127.0.0.1:${options.ports.https}
  admin: 127.0.0.1:${options.ports.admin}
log: { level: ${options.logLevel ?? "info"}, access: ${options.accessLog ?? true} }
${options.limits === undefined ? "" : `limits: ${options.limits}\n`}${options.http2 === undefined ? "" : `http2: ${options.http2}\n`}store: ${store}
tls:
  redirectHttp: false
  selfSigned: ${options.selfSigned ?? options.certificate === undefined}
  certDir: ${q(path.join(dir, `${options.name}-certs`))}
${certificates}${(options.tlsKeys ?? []).map((line) => `  ${line}\n`).join("")}${guards}services:
  backend:
    targets:
${options.targets.map((url) => `      - url: ${q(url.replace(/\/$/, ""))}`).join("\n")}
${service.join("\n")}
${moreServices.map((text) => `${text}\n`).join("")}routes:
${routes.join("\n")}
`;
}

/** A service's optional keys, as YAML lines. */
function serviceKeys(service: { readonly healthCheck?: string; readonly circuitBreaker?: string; readonly retry?: string; readonly tls?: string }): string[] {
  return [
    ...(service.tls === undefined ? [] : [`    tls: ${service.tls}`]),
    ...(service.healthCheck === undefined ? [] : [`    healthCheck: ${service.healthCheck}`]),
    ...(service.circuitBreaker === undefined ? [] : [`    circuitBreaker: ${service.circuitBreaker}`]),
    ...(service.retry === undefined ? [] : [`    retry: ${service.retry}`]),
  ];
}

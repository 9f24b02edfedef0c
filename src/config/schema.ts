// The one source of truth for the configuration: YAML keys, defaults, validation and the TypeScript
// types every other module uses (`Config` and friends below are inferred from this schema).
// Contract: ../shared/DESIGN.md, "Configuration (YAML)". Unknown keys are errors everywhere, because a
// typo such as `rateLimt:` must not silently switch a protection off.
import { z } from "zod";
import { checkReferences } from "./cross-checks.js";
import { cidr, duration, headerEdits, hostPattern, httpMethod, listenAddress, pathPrefix, size, statusRange, targetUrl, wholeNumber } from "./schema-primitives.js";

export type { ListenAddress } from "./schema-primitives.js";

const healthCheck = z.strictObject({
  path: z.string().startsWith("/").default("/health"),
  // The gRPC health protocol (grpc.health.v1.Health/Check, overall server status) instead of `path`;
  // for services whose protocol is h2c or h2.
  grpc: z.boolean().default(false),
  interval: duration.prefault("5s"),
  timeout: duration.prefault("2s"),
  healthyThreshold: wholeNumber().min(1).default(2),
  unhealthyThreshold: wholeNumber().min(1).default(3),
  expectStatus: statusRange.prefault("200-399"),
});

const upstreamTls = z.strictObject({
  // PEM file(s) of the CA that signs the targets' certificates; "" trusts the public roots.
  ca: z.string().default(""),
  // The name verified in (and sent as SNI to) every target; "" uses each target URL's host.
  serverName: z.string().default(""),
  // A client certificate and key (PEM files) for targets that require mTLS; both or neither.
  cert: z.string().default(""),
  key: z.string().default(""),
  // false accepts any certificate (logged as a warning at every load): for tests, never for production.
  verify: z.boolean().default(true),
});

const circuitBreaker = z.strictObject({
  errorThresholdPercentage: z.number().min(1).max(100).default(50),
  volumeThreshold: wholeNumber().min(1).default(10),
  window: duration.prefault("10s"),
  resetTimeout: duration.prefault("30s"),
});

const service = z.strictObject({
  targets: z
    .array(
      z.strictObject({
        url: targetUrl,
        weight: wholeNumber().min(0).max(1_000).default(1),
      }),
    )
    .min(1, "a service needs at least one target"),
  // How Rampart speaks to the targets: HTTP/1.1 with a keep-alive pool, or HTTP/2 (h2c: cleartext with
  // prior knowledge, h2: TLS with ALPN), which gRPC needs for trailers and streams both ways.
  protocol: z.enum(["http1", "h2c", "h2"]).default("http1"),
  // TLS towards https:// targets (and protocol h2): a private CA, the name to verify, a client
  // certificate for mTLS. Used by forwarding and health checks alike; reloaded with the config.
  tls: upstreamTls.optional(),
  balancer: z.enum(["round-robin", "least-requests", "ip-hash", "random"]).default("round-robin"),
  healthCheck: healthCheck.optional(),
  circuitBreaker: circuitBreaker.optional(),
  retry: z
    .strictObject({
      attempts: wholeNumber().min(0).max(10).default(2),
      // Retries may add at most this share of the service's requests (Linkerd/Envoy retry budgets), so a
      // failing fleet is not hammered by retry storms.
      budget: z.number().min(0).max(100).default(20),
    })
    .optional(),
  // Envoy's panic threshold, in percent of targets: below that share of eligible targets, balance over
  // every target rather than overload the few that are left. 0 disables it.
  panicThreshold: z.number().min(0).max(100).default(0),
  // A target that recovers is ramped up over this long (HAProxy's slowstart); "0s" disables it.
  slowStart: duration.prefault("0s"),
  timeouts: z
    .strictObject({
      connect: duration.prefault("2s"),
      response: duration.prefault("30s"),
    })
    .prefault({}),
  keepAlive: z
    .strictObject({
      maxSockets: wholeNumber().min(1).default(256),
      maxFreeSockets: wholeNumber().min(0).default(64),
      // Below the 5 s keep-alive timeout of Node backends, so Rampart drops an idle pooled socket before
      // the backend does and never sends a request onto a socket that is being closed.
      idleTimeout: duration.prefault("4s"),
    })
    .prefault({}),
});

const rateLimitKey = z.string().refine((key) => key === "ip" || key === "ip+route" || /^header:[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key), {
  message: 'expected "ip", "ip+route" or "header:<name>"',
});

const rateLimit = z.strictObject({
  limit: wholeNumber().min(1),
  window: duration,
  key: rateLimitKey.default("ip"),
});

const jail = z.strictObject({
  when: z
    .strictObject({
      status: z.array(wholeNumber().min(100).max(599)).optional(),
      path: z
        .string()
        .refine((source) => {
          try {
            new RegExp(source);
            return true;
          } catch {
            return false;
          }
        }, "not a valid regular expression")
        .optional(),
      method: z.array(httpMethod).optional(),
      rateLimited: z.boolean().optional(),
      // An HTTP/2 connection sent GOAWAY for a protocol-abuse limit (rapid reset, floods, invalid frames).
      h2Abuse: z.boolean().optional(),
    })
    .refine((when) => Object.keys(when).length > 0, "a jail needs at least one condition"),
  maxRetry: wholeNumber().min(1).default(5),
  findTime: duration.prefault("10m"),
  banTime: duration.prefault("1h"),
  banTimeIncrement: z
    .strictObject({
      factor: z.number().min(1).default(2),
      maxTime: duration.prefault("7d"),
    })
    .optional(),
});

const percent = z.number().min(0, "a percentage from 0 to 100").max(100, "a percentage from 0 to 100");

const splitSticky = z.string().refine((sticky) => sticky === "none" || sticky === "cookie" || sticky === "ip" || /^header:[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(sticky), {
  message: 'expected "none", "cookie", "ip" or "header:<name>"',
});

// Safe releases (DESIGN.md, "Contract, second round"): a weighted split across services, a progressive
// rollout that moves the weight by itself, and fault injection.
const split = z.strictObject({
  services: z.record(z.string(), wholeNumber().min(0).max(100)).refine((services) => Object.keys(services).length >= 1, "a split needs at least one service"),
  sticky: splitSticky.default("none"),
});

const rollout = z.strictObject({
  from: z.string(),
  to: z.string(),
  stepWeight: wholeNumber().min(1).max(100).default(10),
  maxWeight: wholeNumber().min(1, "maxWeight from 1 to 100").max(100, "maxWeight from 1 to 100").default(50),
  interval: duration.prefault("1m"),
  minRequests: wholeNumber().min(0).default(100),
  minSuccessRate: percent.default(99),
  maxP99Latency: duration.prefault("500ms"),
  failureThreshold: wholeNumber().min(1).default(5),
});

const fault = z.strictObject({
  delay: z.strictObject({ percent: percent.default(0), duration: duration.prefault("200ms") }).prefault({}),
  abort: z.strictObject({ percent: percent.default(0), status: wholeNumber().min(200).max(599).default(503) }).prefault({}),
  // X-Rampart-Fault-Delay / X-Rampart-Fault-Abort, from allowlisted clients or through trusted proxies only.
  headers: z.boolean().default(false),
  // Faults in progress at once; beyond, requests go through unharmed (counted as overflow).
  maxActive: wholeNumber().min(1).default(100),
});

const route = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, "route names are letters, digits, _ . and -"),
  match: z
    .strictObject({
      host: hostPattern.optional(),
      pathPrefix: pathPrefix.default("/"),
      methods: z.array(httpMethod).min(1).optional(),
    })
    .prefault({}),
  // Exactly one of `service`, `split` and `respond` (checked with the other cross-key rules).
  service: z.string().optional(),
  split: split.optional(),
  // The route answers by itself, with no upstream (Caddy's `respond`): a welcome page, a maintenance
  // notice, a fixed robots.txt. Guards (rate limit, jails, faults) still apply.
  respond: z
    .strictObject({
      status: wholeNumber().min(200).max(599).default(200),
      body: z.string().default(""),
      contentType: z.string().min(1).default("text/plain; charset=utf-8"),
    })
    .optional(),
  rollout: rollout.optional(),
  fault: fault.optional(),
  rateLimit: z.string().optional(),
  jails: z.array(z.string()).optional(),
  stripPrefix: pathPrefix.optional(),
  // With tls.clientAuth: requests without a verified client certificate get 403 on this route.
  requireClientCert: z.boolean().default(false),
  // With tls.clientAuth: the verified certificate's subject goes upstream in this header (a value sent
  // by the client in it is always removed); "" sends none.
  clientCertHeader: z.string().regex(/^([!#$%&'*+.^_`|~0-9A-Za-z-]+)?$/, "expected a header name").default("X-Client-Cert-Subject"),
  requestHeaders: headerEdits,
  responseHeaders: headerEdits,
  // Service level objective (DESIGN.md, "Contract, second round"): `rampart rules` turns it into Prometheus
  // recording rules and burn-rate alerts. Objectives stop short of 100%: that leaves no error budget to burn.
  // The latency threshold is rounded up to a histogram bucket there (largest: 60s).
  slo: z
    .strictObject({
      availability: z.number().gt(0, "a percentage above 0 and below 100").lt(100, "a percentage above 0 and below 100").optional(),
      latency: z
        .strictObject({
          threshold: duration.refine((ms) => ms > 0 && ms <= 60_000, "a latency threshold above 0 and at most 60s (the largest latency bucket)"),
          objective: z.number().gt(0, "a percentage above 0 and below 100").lt(100, "a percentage above 0 and below 100"),
        })
        .optional(),
      window: duration.prefault("30d"),
    })
    .refine((slo) => slo.availability !== undefined || slo.latency !== undefined, "an slo needs availability, latency or both")
    .optional(),
});

const acmeDirectoryPresets: Readonly<Record<string, string>> = {
  letsencrypt: "https://acme-v02.api.letsencrypt.org/directory",
  "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
};

// A DNS name and port: "127.0.0.1:53", "[::1]:5353", "ns1.example.com" (port 53).
const dnsServer = z.string().regex(/^(\[[0-9a-f:.]+\]|[^\s:[\]]+)(:\d{1,5})?$/i, "expected host or host:port");

// Generic DNS-01 providers (lego-compatible), no vendor SDKs. Secrets belong in ${VAR} references.
const acmeDns = z
  .strictObject({
    provider: z.enum(["rfc2136", "exec", "httpreq", "acme-dns"]),
    // Dynamic DNS UPDATE (RFC 2136) signed with TSIG (RFC 8945), to any authoritative server that accepts it.
    rfc2136: z
      .strictObject({
        server: dnsServer,
        // The zone to update ("example.com."); "" finds it from the SOA of the record's name.
        zone: z.string().default(""),
        keyName: z.string().min(1),
        algorithm: z.enum(["hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha1", "hmac-md5"]).default("hmac-sha256"),
        // The TSIG secret, base64.
        secret: z.string().min(1),
        ttl: wholeNumber().min(0).default(60),
        timeout: duration.prefault("10s"),
      })
      .optional(),
    // lego's exec provider: `command present|cleanup FQDN VALUE` (FQDN ends with a dot).
    exec: z.strictObject({ command: z.string().min(1), timeout: duration.prefault("60s") }).optional(),
    // lego's httpreq provider: POST {fqdn, value} as JSON to <url>/present and <url>/cleanup.
    httpreq: z.strictObject({ url: z.string().url(), username: z.string().default(""), password: z.string().default("") }).optional(),
    // The acme-dns server protocol: POST <url>/update {subdomain, txt} with X-Api-User / X-Api-Key;
    // _acme-challenge.NAME must be a CNAME to <subdomain>.<acme-dns zone>.
    acmeDns: z.strictObject({ url: z.string().url(), username: z.string().min(1), password: z.string().min(1), subdomain: z.string().min(1) }).optional(),
    // Where propagation is checked ("host:port"); empty: the system's resolvers.
    resolvers: z.array(dnsServer).default([]),
    propagationTimeout: duration.prefault("60s"),
    propagationInterval: duration.prefault("3s"),
  })
  .refine((dns) => dns[dns.provider === "acme-dns" ? "acmeDns" : dns.provider] !== undefined, {
    message: "the provider's own block is missing (for example rfc2136: {server, keyName, secret})",
  });

const tls = z
  .strictObject({
    redirectHttp: z.boolean().default(true),
    hsts: z.string().default("max-age=31536000"),
    minVersion: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.2"),
    selfSigned: z.boolean().default(true),
    certDir: z.string().min(1).default("./certs"),
    certificates: z.array(z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) })).default([]),
    acme: z
      .strictObject({
        enabled: z.boolean().default(false),
        directoryUrl: z
          .string()
          .transform((name) => acmeDirectoryPresets[name] ?? name)
          .refine((url) => /^https?:\/\//.test(url), "expected letsencrypt, letsencrypt-staging or a directory URL")
          .prefault("letsencrypt-staging"),
        email: z.string().default(""),
        domains: z.array(hostPattern).default([]),
        challenge: z.enum(["http-01", "tls-alpn-01", "dns-01"]).default("http-01"),
        // DNS-01 (the only challenge for wildcard names): which provider publishes the TXT record.
        dns: acmeDns.optional(),
        renewBefore: duration.prefault("30d"),
        caFile: z.string().default(""),
        eab: z.strictObject({ kid: z.string().default(""), hmacKey: z.string().default("") }).prefault({}),
        // Rampart extensions. How often certificates are checked for renewal (±10% jitter).
        checkInterval: duration.prefault("1h"),
        // Backoff while the ACME server cannot be reached: doubling from `initial` up to `max`.
        retry: z.strictObject({ initial: duration.prefault("1m"), max: duration.prefault("1h") }).prefault({}),
        // After an order fails validation the name is not ordered again for this long: Let's Encrypt's
        // failed-validation limit is easy to burn.
        failedOrderDelay: duration.prefault("1h"),
      })
      .prefault({}),
    // On-demand TLS (opt-in): a certificate obtained during the first handshake for a name the config
    // does not list, once `ask` allows it (Caddy's on_demand_tls).
    onDemand: z
      .strictObject({
        enabled: z.boolean().default(false),
        // GET <ask>?domain=NAME; any 2xx allows the name. Required when enabled.
        ask: z.string().default(""),
        // Names must end in one of these (".example.com" or "example.com"); empty: any name ask allows.
        suffixes: z.array(z.string().regex(/^\.?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i, "expected a domain suffix such as .example.com").transform((s) => s.toLowerCase())).default([]),
        // Orders per name and in total per window: a burst of random SNI names cannot burn the CA's limits.
        rate: z.strictObject({ perName: wholeNumber().min(1).default(3), total: wholeNumber().min(1).default(10), window: duration.prefault("1m") }).prefault({}),
        // A handshake waits this long for a new certificate, then gets the fallback while the order goes on.
        handshakeTimeout: duration.prefault("5s"),
        // How long ask's answers are remembered (Rampart extension).
        askTimeout: duration.prefault("3s"),
        allowTtl: duration.prefault("1h"),
        denyTtl: duration.prefault("5m"),
      })
      .prefault({}),
    // Client certificates at the edge (opt-in): verified against `ca`; `require` refuses the handshake
    // without one, `optional` leaves it to routes with requireClientCert.
    clientAuth: z
      .strictObject({
        ca: z.string().default(""),
        mode: z.enum(["optional", "require"]).default("optional"),
      })
      .prefault({}),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    listen: z
      .strictObject({
        http: listenAddress.prefault("0.0.0.0:8080"),
        https: listenAddress.prefault("0.0.0.0:8443"),
        admin: listenAddress.prefault("127.0.0.1:9901"),
      })
      .prefault({}),
    adminToken: z.string().default(""),
    // Reload when the config file changes, as on SIGHUP (Rampart extension).
    watch: z.boolean().default(false),
    workers: z.union([wholeNumber().min(1).max(256), z.literal("auto")]).default(1),
    trustedProxies: z.array(cidr).default([]),
    shutdownGrace: duration.prefault("10s"),
    limits: z
      .strictObject({
        maxHeaderSize: size.prefault("16KiB"),
        maxBodySize: size.prefault("10MiB"),
        headersTimeout: duration.prefault("10s"),
        requestTimeout: duration.prefault("60s"),
        idleTimeout: duration.prefault("30s"),
        // A response whose bytes do not move for this long (the client stopped reading) is aborted both ways.
        sendTimeout: duration.prefault("30s"),
        // A request body that does not move for this long is answered 408 and its upstream attempt aborted.
        bodyTimeout: duration.prefault("10s"),
        // Behind a NAT every client shares one address: raise this rather than lock them all out.
        maxConnectionsPerIp: wholeNumber().min(1).default(256),
        // Requests one client address may have in progress at once (429 beyond): what bounds how many
        // upstream sockets a slow reader or slow uploader can pin.
        maxRequestsInFlightPerIp: wholeNumber().min(1).default(64),
        // Header lines per request (431 beyond); Node would otherwise drop lines past the 2,000th silently.
        maxHeaderCount: wholeNumber().min(1).max(10_000).default(100),
        // After answering before a request body was read (413, 429, 403, ...), incoming bytes are
        // discarded for at most this long and this many bytes before the connection closes, so the
        // client reads the answer instead of a reset (nginx's lingering close).
        // Request bodies up to this size are read whole before a target is contacted (nginx's request
        // buffering, bounded): a slow upload then holds no upstream socket. Larger bodies stream once
        // this much has arrived. "0" streams every body at once.
        requestBuffer: size.prefault("64KiB"),
        lingerTime: duration.prefault("10s"),
        lingerBytes: size.prefault("8MiB"),
      })
      .prefault({}),
    // When /readyz turns 503 because the gateway cannot make progress (Rampart extension).
    // HTTP/2 towards clients: ALPN h2 on the HTTPS listener, optionally h2c on the HTTP listener, and
    // the per-connection limits that keep one client from exhausting the gateway (rapid reset, floods).
    http2: z
      .strictObject({
        enabled: z.boolean().default(true),
        // h2c with prior knowledge on the HTTP listener, for deployments behind another TLS terminator.
        cleartext: z.boolean().default(false),
        maxConcurrentStreams: wholeNumber().min(1).max(10_000).default(100),
        // Then GOAWAY: the client opens a new connection, which passes the connection gate again.
        maxRequestsPerConnection: wholeNumber().min(1).default(1_000),
        // Client stream resets allowed per connection: a burst, refilled at `resetRate` per second
        // (CVE-2023-44487, "rapid reset"); beyond, GOAWAY and an h2Abuse offence.
        resetBurst: wholeNumber().min(1).default(1_000),
        resetRate: z.number().min(0).default(33),
        // nghttp2's memory budget per connection (header tables, queued frames), MiB.
        maxSessionMemory: wholeNumber().min(1).max(1_024).default(10),
      })
      .prefault({}),
    readiness: z
      .strictObject({
        // A service whose connection pool is full and has completed no response for this long.
        upstreamStall: duration.prefault("30s"),
        // The event loop's delay (p99 over the last few seconds) above this; "0s" turns the check off.
        eventLoopLag: duration.prefault("2s"),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
        access: z.boolean().default(true),
        // Both logs go to this file instead of stdout ("" = stdout); SIGUSR1 reopens it (logrotate).
        file: z.string().default(""),
      })
      .prefault({}),
    store: z
      .strictObject({
        kind: z.enum(["memory", "redis"]).default("memory"),
        dir: z.string().min(1).default("./state"),
        redis: z
          .strictObject({
            url: z.string().default("redis://127.0.0.1:6379"),
            cluster: z.array(z.string()).default([]),
            keyPrefix: z.string().default("rampart:"),
          })
          .prefault({}),
        onStoreFailure: z.enum(["open", "closed"]).default("open"),
      })
      .prefault({}),
    tls,
    rateLimits: z.record(z.string(), rateLimit).default({}),
    jails: z.record(z.string(), jail).default({}),
    // Rampart extension: how bans are keyed and bounded.
    bans: z
      .strictObject({
        // An IPv6 client owns a whole prefix (a /64 is one subscriber); banning one address of it is useless.
        ipv6Prefix: wholeNumber().min(48).max(128).default(64),
        // Bans kept at most; past it an expired ban is dropped first, else the oldest.
        maxEntries: wholeNumber().min(1).default(2_000_000),
      })
      .prefault({}),
    allowlist: z.array(cidr).default([]),
    denylist: z.array(cidr).default([]),
    services: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, "service names are letters, digits, _ . and -"), service).default({}),
    routes: z.array(route).default([]),
  })
  // Run even after other fields failed, so `rampart validate` lists cross-reference problems in the same pass
  // (zod skips refinements after a failed field by default).
  .superRefine(checkReferences, { when: () => true });

export type Config = z.output<typeof configSchema>;
export type RouteConfig = Config["routes"][number];
export type ServiceConfig = Config["services"][string];
export type TargetConfig = ServiceConfig["targets"][number];
export type JailConfig = Config["jails"][string];
export type RateLimitConfig = Config["rateLimits"][string];
export type StoreConfig = Config["store"];
export type AcmeConfig = Config["tls"]["acme"];
export type AcmeDnsConfig = NonNullable<AcmeConfig["dns"]>;
export type OnDemandConfig = Config["tls"]["onDemand"];
export type ClientAuthConfig = Config["tls"]["clientAuth"];
export type UpstreamTlsConfig = NonNullable<ServiceConfig["tls"]>;
export type HealthCheckConfig = NonNullable<ServiceConfig["healthCheck"]>;
export type CircuitBreakerConfig = NonNullable<ServiceConfig["circuitBreaker"]>;
export type LimitsConfig = Config["limits"];
export type Http2Config = Config["http2"];
export type TlsConfig = Config["tls"];
export type HeaderEdits = RouteConfig["requestHeaders"];
export type SplitConfig = NonNullable<RouteConfig["split"]>;
export type RolloutConfig = NonNullable<RouteConfig["rollout"]>;
export type FaultConfig = NonNullable<RouteConfig["fault"]>;

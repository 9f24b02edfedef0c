// The rules that span keys (a route's service exists, a split's weights, DNS-01 needs a provider, mTLS
// needs cert and key...), run by the schema's superRefine after the shapes. Because that runs even after
// other fields failed (so `rampart validate` lists every problem in one pass), fields may still hold raw
// or invalid input here: every access is guarded.
import type { z } from "zod";

type Ctx = z.RefinementCtx;

export function checkReferences(config: unknown, ctx: Ctx): void {
  const root = asRecord(config) ?? {};
  const services = asRecord(root.services);
  const rateLimits = asRecord(root.rateLimits);
  const jails = asRecord(root.jails);
  const routeNames = new Set<string>();
  (Array.isArray(root.routes) ? root.routes : []).forEach((value: unknown, index) => {
    const route = asRecord(value);
    if (!route) return;
    const at = (...rest: (string | number)[]) => ["routes", index, ...rest];
    if (typeof route.name === "string") {
      if (routeNames.has(route.name)) report(ctx, at("name"), `duplicate route name "${route.name}"`);
      routeNames.add(route.name);
    }
    // Object.hasOwn, not `in`: `service: constructor` must not resolve through Object.prototype.
    if (services && typeof route.service === "string" && !Object.hasOwn(services, route.service)) {
      report(ctx, at("service"), `unknown service "${route.service}"`);
    }
    checkSplit(ctx, route, services, at);
    if (rateLimits && typeof route.rateLimit === "string" && !Object.hasOwn(rateLimits, route.rateLimit)) {
      report(ctx, at("rateLimit"), `unknown rate limit "${route.rateLimit}"`);
    }
    if (jails && Array.isArray(route.jails)) {
      route.jails.forEach((name: unknown, jailIndex) => {
        if (typeof name === "string" && !Object.hasOwn(jails, name)) report(ctx, at("jails", jailIndex), `unknown jail "${name}"`);
      });
    }
    const pathPrefix = asRecord(route.match)?.pathPrefix;
    const stripPrefix = route.stripPrefix;
    if (
      typeof stripPrefix === "string" &&
      typeof pathPrefix === "string" &&
      !hasIssue(ctx, at("stripPrefix")) &&
      !hasIssue(ctx, at("match")) &&
      !isPathPrefixOf(stripPrefix, pathPrefix)
    ) {
      report(ctx, at("stripPrefix"), `"${stripPrefix}" is not a prefix of the route's pathPrefix "${pathPrefix}"`);
    }
  });
  if (services) {
    for (const [name, value] of Object.entries(services)) {
      const service = asRecord(value);
      const protocol = typeof service?.protocol === "string" ? service.protocol : "http1";
      const scheme = protocol === "h2" ? "https:" : "http:";
      const targets = Array.isArray(service?.targets) ? service.targets : [];
      targets.forEach((target: unknown, index) => {
        const url = asRecord(target)?.url;
        if (protocol !== "http1" && typeof url === "string" && URL.canParse(url) && new URL(url).protocol !== scheme) {
          report(ctx, ["services", name, "targets", index, "url"], `protocol ${protocol} needs ${scheme}// targets`);
        }
      });
      if (asRecord(service?.healthCheck)?.grpc === true && protocol === "http1") {
        report(ctx, ["services", name, "healthCheck", "grpc"], "the gRPC health protocol needs protocol: h2c or h2");
      }
    }
  }
  const http2 = asRecord(root.http2);
  if (http2?.cleartext === true && asRecord(root.tls)?.redirectHttp !== false) {
    report(ctx, ["http2", "cleartext"], "h2c on the HTTP listener needs tls.redirectHttp: false (otherwise it only redirects)");
  }
  const adminHost = asRecord(asRecord(root.listen)?.admin)?.host;
  if (typeof adminHost === "string" && !isLoopback(adminHost) && root.adminToken === "") {
    report(ctx, ["listen", "admin"], "an admin address off loopback needs adminToken (set RAMPART_ADMIN_TOKEN)");
  }
  const acme = asRecord(asRecord(root.tls)?.acme);
  if (acme?.enabled === true && Array.isArray(acme.domains) && acme.challenge !== "dns-01") {
    acme.domains.forEach((domain: unknown, index) => {
      if (typeof domain === "string" && domain.startsWith("*.")) {
        report(ctx, ["tls", "acme", "domains", index], "wildcard names need the DNS-01 challenge (tls.acme.challenge: dns-01 with tls.acme.dns)");
      }
    });
  }
  if (acme?.challenge === "dns-01" && acme.dns === undefined) {
    report(ctx, ["tls", "acme", "dns"], "challenge dns-01 needs tls.acme.dns (provider: rfc2136 | exec | httpreq | acme-dns)");
  }
  checkTlsExtras(ctx, root);
}

/** On-demand TLS needs ACME and an ask endpoint; client auth needs a CA; mTLS to targets needs cert and key together. */
function checkTlsExtras(ctx: Ctx, root: Record<string, unknown>): void {
  const tls = asRecord(root.tls);
  const onDemand = asRecord(tls?.onDemand);
  if (onDemand?.enabled === true) {
    if (typeof onDemand.ask !== "string" || !/^https?:\/\//.test(onDemand.ask)) {
      report(ctx, ["tls", "onDemand", "ask"], "on-demand TLS needs an ask URL (http://... answering 2xx for names to certify)");
    }
    if (asRecord(tls?.acme)?.enabled !== true) report(ctx, ["tls", "onDemand", "enabled"], "on-demand TLS needs tls.acme.enabled: true");
    if (asRecord(tls?.acme)?.challenge === "dns-01") report(ctx, ["tls", "onDemand", "enabled"], "on-demand TLS uses http-01 or tls-alpn-01 (names not known in advance have no DNS provider zone)");
  }
  const clientAuth = asRecord(tls?.clientAuth);
  const clientAuthOn = typeof clientAuth?.ca === "string" && clientAuth.ca !== "";
  if (clientAuth?.mode === "require" && !clientAuthOn) report(ctx, ["tls", "clientAuth", "ca"], "mode require needs the CA that signs client certificates");
  (Array.isArray(root.routes) ? root.routes : []).forEach((value: unknown, index) => {
    if (asRecord(value)?.requireClientCert === true && !clientAuthOn) {
      report(ctx, ["routes", index, "requireClientCert"], "requireClientCert needs tls.clientAuth.ca");
    }
  });
  for (const [name, value] of Object.entries(asRecord(root.services) ?? {})) {
    const upstream = asRecord(asRecord(value)?.tls);
    if (upstream !== undefined && (upstream.cert === undefined || upstream.cert === "") !== (upstream.key === undefined || upstream.key === "")) {
      report(ctx, ["services", name, "tls", upstream.cert ? "key" : "cert"], "a client certificate needs both cert and key");
    }
  }
}

/** A route names `service` or `split` (not both); a split's services exist and not every weight is 0; a rollout moves between two of them. */
function checkSplit(ctx: Ctx, route: Record<string, unknown>, services: Record<string, unknown> | undefined, at: (...rest: (string | number)[]) => (string | number)[]): void {
  const split = asRecord(route.split);
  const targets = [route.service, split, route.respond].filter((value) => value !== undefined).length;
  if (targets === 0) report(ctx, at("service"), 'missing required key "service" (or "split", or "respond")');
  if (targets > 1) report(ctx, at(route.respond !== undefined ? "respond" : "split"), 'a route names one of "service", "split" and "respond"');
  const weights = asRecord(split?.services);
  if (weights !== undefined) {
    for (const name of Object.keys(weights)) {
      if (services && !Object.hasOwn(services, name)) report(ctx, at("split", "services", name), `unknown service "${name}"`);
    }
    const values = Object.values(weights);
    if (values.length > 0 && values.every((weight) => weight === 0)) report(ctx, at("split", "services"), "every weight is 0: the split would send traffic nowhere");
  }
  const rollout = asRecord(route.rollout);
  if (rollout === undefined) return;
  if (weights === undefined) {
    report(ctx, at("rollout"), "a rollout needs a split (its from and to are two of the split's services)");
    return;
  }
  for (const key of ["from", "to"] as const) {
    const name = rollout[key];
    if (typeof name === "string" && !Object.hasOwn(weights, name)) report(ctx, at("rollout", key), `"${name}" is not one of the route's split services`);
  }
  if (rollout.from === rollout.to) report(ctx, at("rollout", "to"), "a rollout moves traffic between two different services");
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function report(ctx: Ctx, path: (string | number)[], message: string): void {
  ctx.addIssue({ code: "custom", path, message });
}

function hasIssue(ctx: Ctx, path: readonly (string | number)[]): boolean {
  return ctx.issues.some((issue) => path.every((key, i) => issue.path?.[i] === key));
}

function isPathPrefixOf(prefix: string, path: string): boolean {
  return prefix === "/" || path === prefix || path.startsWith(prefix + "/");
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

// `rampart validate`: the schema's verdict (config/load.ts) plus what `start` would otherwise be the first
// to find out: certificate and key files that cannot be read, parsed or paired, a file with no routes,
// listeners that would collide. Warnings (exit 0) for a host-specific route that takes requests from
// host-less routes, and with --check-targets for a service none of whose targets accepts a connection.
// Every line keeps the loader's format, FILE:LINE:COL key: message, with "warning: " before warnings.
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { resolve } from "node:path";
import { LineCounter, parseDocument, type Document } from "yaml";
import { ConfigError, formatProblem, loadConfigFile, loadConfigText, renderPath, type ConfigProblem } from "../config/load.js";
import type { Env, PathKey } from "../config/interpolate.js";
import { Locator } from "../config/locate.js";
import type { Config, ListenAddress } from "../config/schema.js";
import { prefixMatches } from "../routing/route-table.js";
import { inspectPemPair, type CertificateDetails } from "../tls/certificate-details.js";
import { clientCaOf } from "../tls/client-ca.js";
import { loadUpstreamTls } from "../upstream/upstream-tls.js";
import { configJsonSchema } from "./json-schema.js";
import { didYouMean } from "./suggest.js";
import { readFailure } from "../config/read-failure.js";

export interface Diagnostic extends ConfigProblem {
  readonly severity: "error" | "warning";
}

export interface ValidateOptions {
  readonly env?: Env;
  /** Try a TCP connection to every target (1 s each, all at once). */
  readonly checkTargets?: boolean;
  readonly connectTimeoutMs?: number;
  /** For certificate validity warnings; defaults to now. */
  readonly now?: number;
}

export interface ValidateResult {
  readonly config: Config | undefined;
  readonly diagnostics: readonly Diagnostic[];
}

/** `FILE:LINE:COL key: message`, or `FILE:LINE:COL key: warning: message`. */
export function formatDiagnostic(diagnostic: Diagnostic): string {
  return formatProblem(diagnostic.severity === "warning" ? { ...diagnostic, message: `warning: ${diagnostic.message}` } : diagnostic);
}

export async function validateFile(file: string, options: ValidateOptions = {}): Promise<ValidateResult> {
  const env = options.env ?? process.env;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return fromLoader(file, env);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const locator = new Locator(doc, lineCounter);
  let config: Config;
  try {
    config = loadConfigText(text, file, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { config: undefined, diagnostics: error.problems.map((problem) => ({ ...withSuggestion(problem, doc), severity: "error" })) };
  }
  const found: Diagnostic[] = [];
  const add = (severity: Diagnostic["severity"], path: readonly PathKey[], message: string, at: "key" | "value" = "key") => {
    const where = at === "key" ? locator.key(path) : locator.value(path);
    found.push({ file, line: where.line, col: where.col, path: renderPath(path), message, severity });
  };

  checkNotEmpty(doc, config, add);
  checkListeners(config, add);
  checkCertificates(config, add, options.now ?? Date.now());
  checkUpstreamTls(config, add);
  checkShadowedRoutes(config, add);
  if (options.checkTargets === true) await checkTargets(config, add, options.connectTimeoutMs ?? 1_000);
  found.sort((a, b) => a.line - b.line || a.col - b.col);
  return { config: found.some((d) => d.severity === "error") ? undefined : config, diagnostics: found };
}

/** The loader's own verdict on a file it cannot read ("no such file", "permission denied"...). */
function fromLoader(file: string, env: Env): ValidateResult {
  try {
    return { config: loadConfigFile(file, env), diagnostics: [] };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { config: undefined, diagnostics: error.problems.map((problem) => ({ ...problem, severity: "error" })) };
  }
}

type Add = (severity: Diagnostic["severity"], path: readonly PathKey[], message: string, at?: "key" | "value") => void;

// ---------------------------------------------------------------- did you mean

/** `routes[0].rateLimt` → ["routes", 0, "rateLimt"]; the inverse of renderPath. */
export function parsePath(text: string): PathKey[] | undefined {
  if (text === "(root)") return [];
  const path: PathKey[] = [];
  const token = /^(?:\.?([A-Za-z_][\w-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\])/;
  let rest = text;
  while (rest !== "") {
    const match = token.exec(rest);
    if (match === null) return undefined;
    path.push(match[1] ?? (match[2] !== undefined ? Number(match[2]) : (JSON.parse(match[3]!) as string)));
    rest = rest.slice(match[0].length);
  }
  return path;
}

type JsonNode = { properties?: Record<string, JsonNode>; additionalProperties?: JsonNode | boolean; items?: JsonNode; anyOf?: JsonNode[] };

/** The keys the schema allows in the object at `path` (empty when it is a map of free names). */
let jsonSchema: JsonNode | undefined;

export function knownKeys(path: readonly PathKey[]): string[] {
  jsonSchema ??= configJsonSchema() as JsonNode;
  let node: JsonNode | undefined = jsonSchema;
  const pick = (candidate: JsonNode | undefined, want: "object" | "array") =>
    candidate?.anyOf?.find((option) => (want === "object" ? option.properties !== undefined || typeof option.additionalProperties === "object" : option.items !== undefined)) ?? candidate;
  for (const key of path) {
    if (typeof key === "number") node = pick(node, "array")?.items;
    else {
      const object = pick(node, "object");
      node = object?.properties?.[key] ?? (typeof object?.additionalProperties === "object" ? object.additionalProperties : undefined);
    }
  }
  return Object.keys(pick(node, "object")?.properties ?? {});
}

/** The names a reference may take: `unknown service "apii"` looks among the file's services. */
const REFERENCES: readonly [RegExp, string][] = [
  [/^unknown service "(.*)"$/, "services"],
  [/^unknown rate limit "(.*)"$/, "rateLimits"],
  [/^unknown jail "(.*)"$/, "jails"],
];

/** The problem with ` (did you mean "rateLimit"?)` appended when a close name exists. */
export function withSuggestion(problem: ConfigProblem, doc: Document): ConfigProblem {
  const unknownKey = /^unknown key "(.*)"$/.exec(problem.message);
  if (unknownKey !== null) {
    const path = parsePath(problem.path);
    if (path === undefined) return problem;
    return { ...problem, message: problem.message + didYouMean(unknownKey[1]!, knownKeys(path.slice(0, -1))) };
  }
  for (const [pattern, section] of REFERENCES) {
    const match = pattern.exec(problem.message);
    if (match === null) continue;
    let names: string[] = [];
    try {
      const raw = doc.toJS() as Record<string, unknown> | null;
      const map = raw?.[section];
      if (typeof map === "object" && map !== null) names = Object.keys(map);
    } catch {
      // An alias the loader already reported.
    }
    return { ...problem, message: problem.message + didYouMean(match[1]!, names) };
  }
  return problem;
}

// ---------------------------------------------------------------- routes

function checkNotEmpty(doc: Document, config: Config, add: Add): void {
  const contents = doc.contents as { items?: unknown[] } | null;
  if (contents === null || (Array.isArray(contents.items) && contents.items.length === 0)) {
    add("error", [], "the file is empty: a gateway needs at least one service and one route");
  } else if (config.routes.length === 0) {
    add("error", ["routes"], "no routes: every request would be answered 404 (add at least one route)");
  }
}

/**
 * Route matching tries every route of the request's host (exact, then "*.") before any host-less route
 * (routing/route-table.ts), longest prefix first within each. So a host-specific route whose prefix is
 * a host-less route's, or covers it, takes all of that host's requests there: sometimes meant (a
 * per-host version of the route), often not. Each host-less route is reported once per host, at the
 * host route that actually takes its requests (the longest covering prefix).
 */
function checkShadowedRoutes(config: Config, add: Add): void {
  const taken = new Map<number, { index: number; prefix: string }[]>();
  const hosts = new Set(config.routes.flatMap((route) => route.match.host ?? []));
  config.routes.forEach((other, otherIndex) => {
    if (other.match.host !== undefined) return;
    for (const host of hosts) {
      let winner: number | undefined;
      config.routes.forEach((route, index) => {
        if (route.match.host !== host || !prefixMatches(route.match.pathPrefix, other.match.pathPrefix) || !covers(route.match.methods, other.match.methods)) return;
        if (winner === undefined || route.match.pathPrefix.length > config.routes[winner]!.match.pathPrefix.length) winner = index;
      });
      if (winner === undefined) continue;
      const list = taken.get(winner) ?? [];
      list.push({ index: otherIndex, prefix: other.match.pathPrefix });
      taken.set(winner, list);
    }
  });
  for (const [index, shadowed] of taken) {
    const route = config.routes[index]!;
    const host = route.match.host!;
    const names = shadowed.map((s) => `"${config.routes[s.index]!.name}" (routes[${s.index}], ${s.prefix})`).join(", ");
    const one = shadowed.length === 1;
    add(
      "warning",
      ["routes", index, "match", "host"],
      `route "${route.name}" takes every ${host} request under ${route.match.pathPrefix}, so host-less route${one ? "" : "s"} ${names} never see${one ? "s" : ""} ${host}: a host's routes are all tried before host-less ones`,
    );
  }
}

/** True when a route limited to `outer` methods takes every request a route limited to `inner` would. */
function covers(outer: readonly string[] | undefined, inner: readonly string[] | undefined): boolean {
  if (outer === undefined) return true;
  return inner !== undefined && inner.every((method) => outer.includes(method));
}

// ---------------------------------------------------------------- listeners

const LISTENERS = ["http", "https", "admin"] as const;

function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::";
}

function isLoopbackName(host: string): boolean {
  return host === "localhost" || host === "127.0.0.1" || host === "::1";
}

/** Whether binding both would fail with EADDRINUSE: same port, and the same host, or one of them every interface. */
export function collide(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  return a.host === b.host || isWildcard(a.host) || isWildcard(b.host) || (a.host === "localhost" && isLoopbackName(b.host)) || (b.host === "localhost" && isLoopbackName(a.host));
}

function checkListeners(config: Config, add: Add): void {
  const show = (address: ListenAddress) => (address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`);
  LISTENERS.forEach((name, index) => {
    for (const earlier of LISTENERS.slice(0, index)) {
      const a = config.listen[earlier];
      const b = config.listen[name];
      if (collide(a, b)) add("error", ["listen", name], `${show(b)} collides with listen.${earlier} (${show(a)}): both cannot bind the same port`, "value");
    }
  });
}

// ---------------------------------------------------------------- certificates

function checkCertificates(config: Config, add: Add, now: number): void {
  const keyTypes = new Map<string, number>();
  config.tls.certificates.forEach((files, index) => {
    const at = (key: string) => ["tls", "certificates", index, key];
    const certFile = resolve(files.certFile);
    const keyFile = resolve(files.keyFile);
    let cert: string;
    let key: string;
    try {
      cert = readFileSync(certFile, "utf8");
    } catch (error) {
      add("error", at("certFile"), `cannot read certificate file "${certFile}": ${readFailure(error)}`, "value");
      return;
    }
    try {
      key = readFileSync(keyFile, "utf8");
    } catch (error) {
      add("error", at("keyFile"), `cannot read private key file "${keyFile}": ${readFailure(error)}`, "value");
      return;
    }
    let details: CertificateDetails;
    try {
      // What start runs (tls/certificate-resolver.ts): parse both, and the key must belong to the certificate.
      details = inspectPemPair({ cert, key }, { cert: certFile, key: keyFile });
    } catch (error) {
      const message = (error as Error).message;
      add("error", at(message.startsWith("certificate ") ? "certFile" : "keyFile"), message, "value");
      return;
    }
    keyTypes.set(details.keyType, keyTypes.get(details.keyType) ?? index);
    if (details.notAfter.getTime() <= now) add("warning", at("certFile"), `certificate "${certFile}" expired on ${details.notAfter.toISOString()}`, "value");
    else if (details.notBefore.getTime() > now) add("warning", at("certFile"), `certificate "${certFile}" is not valid before ${details.notBefore.toISOString()}`, "value");
  });
  // Rampart's own certificates (self-signed, ACME) are ECDSA: see tls/certificate-resolver.ts.
  if (config.tls.selfSigned || config.tls.acme.enabled) keyTypes.set("ec", keyTypes.get("ec") ?? -1);
  if (keyTypes.size > 1) {
    const first = [...keyTypes.values()].find((index) => index >= 0) ?? 0;
    add("warning", ["tls", "certificates", first], `certificates of different key types (${[...keyTypes.keys()].join(", ")}): clients that send no SNI name will be refused; use ECDSA P-256 certificates`);
  }
  if (config.tls.acme.enabled && config.tls.acme.caFile !== "") {
    try {
      readFileSync(resolve(config.tls.acme.caFile), "utf8");
    } catch (error) {
      add("error", ["tls", "acme", "caFile"], `cannot read "${config.tls.acme.caFile}": ${readFailure(error)}`, "value");
    }
  }
  if (config.tls.clientAuth.ca !== "") {
    try {
      // What start runs: the file read and every certificate in it parsed.
      clientCaOf(config.tls.clientAuth);
    } catch (error) {
      add("error", ["tls", "clientAuth", "ca"], (error as Error).message.replace(/^tls\.clientAuth\.ca: /, ""), "value");
    }
  }
}

/** services.*.tls files: what start and every reload run (upstream/upstream-tls.ts), each problem at its key. */
function checkUpstreamTls(config: Config, add: Add): void {
  for (const [name, service] of Object.entries(config.services)) {
    if (service.tls !== undefined) loadUpstreamTls(service.tls, (key, message) => add("error", ["services", name, "tls", key], message, "value"));
  }
}

// ---------------------------------------------------------------- targets

/** Resolves with the failure ("ECONNREFUSED", "timeout") or undefined once connected. */
export function tryConnect(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const finish = (result: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      done(result);
    };
    const timer = setTimeout(() => finish(`no answer within ${timeoutMs / 1000} s`), timeoutMs);
    socket.once("connect", () => finish(undefined));
    socket.once("error", (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
  });
}

async function checkTargets(config: Config, add: Add, timeoutMs: number): Promise<void> {
  const services = Object.entries(config.services);
  const results = await Promise.all(
    services.map(async ([name, service]) => {
      const failures = await Promise.all(
        service.targets.map(async (target) => {
          const url = new URL(target.url);
          const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
          const host = url.hostname.replace(/^\[|\]$/g, "");
          const failure = await tryConnect(host, port, timeoutMs);
          return failure === undefined ? undefined : `${url.host} (${failure})`;
        }),
      );
      return { name, failures };
    }),
  );
  for (const { name, failures } of results) {
    if (failures.length > 0 && failures.every((failure) => failure !== undefined)) {
      add("warning", ["services", name, "targets"], `no target of service "${name}" accepts a TCP connection: ${failures.join(", ")}`);
    }
  }
}

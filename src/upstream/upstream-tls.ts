// TLS towards a service's targets (`services.*.tls`): the CA to trust, the name to verify, a client
// certificate for mTLS. The files are read and checked once per config load, so a missing or broken
// file is a load error naming the service and the file (a reload with one keeps the running config),
// and no request ever touches the disk. Forwarding (the keep-alive agent, HTTP/2 sessions) and health
// probes take the very same options: a target whose certificate the proxy would refuse never looks
// healthy, and one that passes its probes is one requests can reach.
import { readFileSync } from "node:fs";
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import { resolve } from "node:path";
import { checkServerIdentity, createSecureContext, type ConnectionOptions, type PeerCertificate, type SecureContext } from "node:tls";
import { configErrorAt, type FoundProblem } from "../config/located-problems.js";
import type { Config, UpstreamTlsConfig } from "../config/schema.js";
import { socketHost } from "./target.js";
import { readFailure } from "../config/read-failure.js";

/** What a service's TLS settings resolve to, built once per config load and frozen. */
export interface UpstreamTls {
  readonly verify: boolean;
  /**
   * The files' contents as loaded. A reload compares them, not just the paths: a CA or client
   * certificate replaced under the same name must take effect, and unchanged ones keep the pool.
   */
  readonly pem: Readonly<{ ca: string; cert: string; key: string }>;
  /** Merged into every TLS connection to the service's targets (see targetTlsOptions for the per-target part). */
  readonly options: Readonly<ConnectionOptions>;
}

/** The keys of `services.*.tls` that name files. */
export type TlsFileKey = "ca" | "cert" | "key";

/**
 * The TLS settings of every service that has a `tls` block, read from the files now. An unusable file
 * throws a ConfigError naming the service's key, the file and why, at its line in `file` (the config,
 * whose `text` is used when given).
 */
export function loadServicesTls(config: Config, file: string, text?: string): ReadonlyMap<string, UpstreamTls> {
  const loaded = new Map<string, UpstreamTls>();
  const problems: FoundProblem[] = [];
  for (const [name, service] of Object.entries(config.services)) {
    if (service.tls === undefined) continue;
    const settings = loadUpstreamTls(service.tls, (key, message) => void problems.push({ path: ["services", name, "tls", key], message }));
    if (settings !== undefined) loaded.set(name, settings);
  }
  if (problems.length > 0) throw configErrorAt(file, text, problems);
  return loaded;
}

/** One service's settings, or undefined after reporting each unusable file through `problem`. */
export function loadUpstreamTls(config: UpstreamTlsConfig, problem: (key: TlsFileKey, message: string) => void): UpstreamTls | undefined {
  let failed = false;
  const report = (key: TlsFileKey) => (message: string): undefined => {
    failed = true;
    problem(key, message);
    return undefined;
  };
  // "" for a key not set. A file that is set but empty fails its check below: it must never read as
  // "no CA" (the public roots) or "no client certificate".
  let ca: string | undefined = "";
  if (config.ca !== "") {
    ca = readPem(config.ca, "CA", report("ca"));
    if (ca !== undefined) checkCertificates(config.ca, ca, "CA", report("ca"));
  }
  let cert: string | undefined = "";
  let key: string | undefined = "";
  // The schema requires both or neither.
  if (config.cert !== "" && config.key !== "") {
    cert = readPem(config.cert, "client certificate", report("cert"));
    key = readPem(config.key, "client key", report("key"));
    if (cert !== undefined && key !== undefined) checkPair(config, cert, key, report);
  }
  if (failed || ca === undefined || cert === undefined || key === undefined) return undefined;

  let secureContext: SecureContext;
  try {
    // One context per load, shared by every connection: Node would otherwise parse the PEMs again for
    // each new connection, and the https.Agent would fold them into the pool key of every request.
    // `ca` replaces Node's bundled public roots rather than adding to them: a target behind a private
    // CA must present a certificate from that CA, and no public CA can issue one Rampart would accept
    // for it (the reason to pin a CA at all). Without `ca`, the public roots apply.
    secureContext = createSecureContext({ ...(ca === "" ? {} : { ca }), ...(cert === "" ? {} : { cert, key }) });
  } catch (error) {
    problem(cert === "" ? "ca" : "cert", `cannot use the TLS files (${messageOf(error)})`);
    return undefined;
  }
  const options: ConnectionOptions = { secureContext };
  const name = config.serverName;
  // Node sends no SNI for a target given by IP (RFC 6066 forbids IP literals there): serverName is how
  // such a target gets a name to send and to be verified against.
  if (name !== "" && isIP(name) === 0) options.servername = name;
  if (!config.verify) {
    // Any certificate, any name: for a test bench. Logged as a warning at every load (assembly/generation.ts).
    options.rejectUnauthorized = false;
    options.checkServerIdentity = () => undefined;
  } else if (name !== "") {
    // The name verified, whatever host the connection was opened to (a target's IP), for the agent,
    // HTTP/2 sessions and probes alike; Node would otherwise check the host it connected to.
    options.checkServerIdentity = (_host: string, certificate: PeerCertificate) => checkServerIdentity(name, certificate);
  }
  return Object.freeze({ verify: config.verify, pem: Object.freeze({ ca, cert, key }), options: Object.freeze(options) });
}

/**
 * The options for one connection to `url` (an HTTP/2 session, a probe): the service's, plus the SNI
 * name taken from the target's host when the service names none. An IP literal gets no SNI at all.
 */
export function targetTlsOptions(tls: UpstreamTls | undefined, url: URL): ConnectionOptions {
  const host = socketHost(url);
  const own: ConnectionOptions = isIP(host) === 0 ? { servername: host } : {};
  return tls === undefined ? own : { ...own, ...tls.options };
}

/** Whether two loads of a service's settings would build the same connections. */
export function sameUpstreamTls(a: UpstreamTls | undefined, b: UpstreamTls | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.verify === b.verify && a.pem.ca === b.pem.ca && a.pem.cert === b.pem.cert && a.pem.key === b.pem.key;
}

function readPem(file: string, what: string, fail: (message: string) => undefined): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    return fail(`cannot read ${what} file "${resolve(file)}" (${readFailure(error)})`);
  }
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate in the file parses, and there is at least one (a bundle of several is fine); the first is returned. */
function checkCertificates(file: string, pem: string, what: string, fail: (message: string) => undefined): X509Certificate | undefined {
  const blocks = pem.match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) return fail(`${what} file "${resolve(file)}" holds no PEM certificate`);
  const parsed: X509Certificate[] = [];
  for (const [index, block] of blocks.entries()) {
    try {
      parsed.push(new X509Certificate(block));
    } catch (error) {
      return fail(`${what} file "${resolve(file)}": certificate ${index + 1} cannot be parsed (${messageOf(error)})`);
    }
  }
  return parsed[0];
}

/** The client certificate parses, the key parses, and the key is the certificate's. */
function checkPair(config: UpstreamTlsConfig, cert: string, key: string, report: (key: TlsFileKey) => (message: string) => undefined): void {
  const certificate = checkCertificates(config.cert, cert, "client certificate", report("cert"));
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    report("key")(`client key file "${resolve(config.key)}" holds no usable private key (${messageOf(error)})`);
    return;
  }
  if (certificate !== undefined && !certificate.checkPrivateKey(privateKey)) {
    report("key")(`the key in "${resolve(config.key)}" does not belong to the certificate in "${resolve(config.cert)}"`);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

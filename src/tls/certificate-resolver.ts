// Chooses the certificate for each TLS handshake from the SNI name. Everything costly (file reads, PEM
// parsing, SecureContext creation) happens when a certificate is loaded or installed; a handshake only
// looks a name up in a Map.
//
// Key types: when the server's default context holds a certificate of one key type and the SNI context
// another, OpenSSL keeps both on the connection and picks by key type, so clients get the default
// certificate (ECDSA default + RSA SNI: TLS 1.3 clients; RSA default + ECDSA SNI: TLS 1.2 clients).
// Rampart makes only ECDSA P-256 certificates; if operators add static certificates of another type,
// the resolver offers no default certificate, so named clients always get the right one and only
// clients sending no SNI are refused.
//
// On-demand TLS (tls.onDemand, src/tls/on-demand/): only a name the Map does not know goes to the
// on-demand policy; its handshake waits (at most handshakeWaitMs) for a new certificate, then takes
// whatever the Map holds by then, else the fallback, else fails.
import { resolve } from "node:path";
import { createSecureContext, type SecureContext } from "node:tls";
import type { TlsConfig } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";
import { readPemPair } from "./cert-files.js";
import { certificateCovers, inspectPemPair, type CertificateDetails } from "./certificate-details.js";
import { tlsProfile } from "./cipher-profile.js";
import { clientCaContextOptions } from "./client-ca.js";
import type { CertificateSource, PemPair } from "../state/pem-pair.js";
import { renewalTime } from "./renewal-time.js";
import { loadOrCreateSelfSigned } from "./self-signed-store.js";
import { SniIndex } from "./sni-index.js";

export type { CertificateSource, PemPair } from "../state/pem-pair.js";

/** One served name, as reported by GET /api/certificates. Times are ISO 8601. */
export interface CertificateInfo {
  readonly domain: string;
  readonly notAfter: string;
  readonly issuer: string;
  readonly source: CertificateSource;
  /** When an ACME certificate is due for renewal; null for certificates Rampart does not renew. */
  readonly nextRenewal: string | null;
  /** Why the last ACME order for this name failed (cleared by the next success); null when none did. */
  readonly lastError?: { readonly code: string; readonly message: string; readonly at: string } | null;
}

export type SniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;

export type CertificateListener = (info: CertificateInfo) => void;

/** Certificates obtained during handshakes (tls/on-demand/on-demand-policy.ts). */
export interface OnDemandCertificates {
  /**
   * Called for a name no certificate serves: undefined to answer at once (with the fallback), or a
   * promise that settles once the name has its certificate or will not get one now.
   */
  certificateFor(servername: string): Promise<unknown> | undefined;
  /** The longest a handshake waits for that promise, in ms; then it gets the fallback. */
  readonly handshakeWaitMs: number;
}

interface ServedCertificate {
  readonly pem: PemPair;
  readonly details: CertificateDetails;
  readonly source: CertificateSource;
  readonly context: SecureContext;
  readonly nextRenewal?: Date;
}

export interface InstallOptions {
  /** The renewal the caller has planned; by default computed from tls.acme.renewBefore for ACME certificates. */
  readonly nextRenewal?: Date;
}

export class CertificateResolver {
  readonly #index = new SniIndex<ServedCertificate>();
  readonly #listeners = new Set<CertificateListener>();
  readonly #tls: TlsConfig;
  readonly #logger: Logger;
  readonly #selfSigned: ServedCertificate | undefined;
  /** Serves names no certificate claims: the self-signed one, else the first static one. */
  readonly #fallback: ServedCertificate | undefined;
  readonly #defaultServed: ServedCertificate | undefined;
  #onDemand: OnDemandCertificates | undefined;
  #lastErrorOf: ((domain: string) => CertificateInfo["lastError"]) | undefined;

  private constructor(tls: TlsConfig, logger: Logger, statics: readonly ServedCertificate[], selfSigned: ServedCertificate | undefined) {
    this.#tls = tls;
    this.#logger = logger;
    this.#selfSigned = selfSigned;
    this.#fallback = selfSigned ?? statics[0];
    const keyTypes = new Set([...statics, ...(selfSigned ? [selfSigned] : [])].map((served) => served.details.keyType));
    if (keyTypes.size > 1) {
      logger.warn(
        { keyTypes: [...keyTypes] },
        "certificates of different key types are configured; clients that send no SNI name will be refused (use ECDSA P-256 certificates)",
      );
    } else {
      this.#defaultServed = this.#fallback;
    }
    for (const served of statics) this.#indexStatic(served);
  }

  /**
   * Loads the static certificates (a missing, unreadable or mismatched pair is an error naming the file)
   * and, when `tls.selfSigned` is on, the stored self-signed certificate for `hostnames`, generating it
   * when it is missing, expiring within 7 days or not naming every host.
   */
  static async create(tls: TlsConfig, hostnames: readonly string[], logger: Logger): Promise<CertificateResolver> {
    const statics: ServedCertificate[] = [];
    for (const [index, files] of tls.certificates.entries()) {
      const certFile = resolve(files.certFile);
      const keyFile = resolve(files.keyFile);
      try {
        const pem = await readPemPair({ certFile, keyFile });
        statics.push(serve(pem, inspectPemPair(pem, { cert: certFile, key: keyFile }), "static", tls));
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`tls.certificates[${index}]: ${reason}`, { cause: error });
      }
    }
    let selfSigned: ServedCertificate | undefined;
    if (tls.selfSigned) {
      const stored = await loadOrCreateSelfSigned(resolve(tls.certDir), hostnames, logger);
      selfSigned = serve(stored.pem, stored.details, "self-signed", tls);
    }
    return new CertificateResolver(tls, logger, statics, selfSigned);
  }

  /**
   * The HTTPS listener's SNICallback (server/listeners.ts); an arrow so it needs no binding. It answers only through
   * `cb`, exactly once, and never throws: Node 20.20 and 24 turn a throw here into one refused handshake,
   * but earlier releases that `engines` still allows (20.0.0 checked) make it an uncaught exception,
   * which kills the process, or, under the CLI's handler, leaves the client hanging until the handshake timeout.
   */
  readonly sniCallback: SniCallback = (servername, cb) => {
    const answer = this.#contextFor(servername);
    if (answer instanceof Error) cb(answer);
    else if (answer instanceof Promise) this.#awaitOnDemand(servername, answer, cb);
    else cb(null, answer);
  };

  /** Where list() finds each name's last failed ACME order (the ACME manager, once it runs). */
  setErrorSource(lastError: ((domain: string) => CertificateInfo["lastError"]) | undefined): void {
    this.#lastErrorOf = lastError;
  }

  /** Turns on-demand TLS on (once ACME runs) or off. */
  setOnDemand(onDemand: OnDemandCertificates | undefined): void {
    this.#onDemand = onDemand;
  }

  /**
   * The certificate for the server's default context, served to clients that send no SNI name.
   * Undefined when there is none, or when mixed key types make a default unsafe (see the top of this file).
   */
  defaultCertificate(): { key: string; cert: string } | undefined {
    return this.#defaultServed ? { key: this.#defaultServed.pem.key, cert: this.#defaultServed.pem.cert } : undefined;
  }

  /**
   * Serves `pem` for `domain` (a host or "*.example.com") from the next handshake on, replacing what
   * served that name before. Throws, keeping the previous certificate, when the pair is unusable or the
   * certificate does not name `domain`.
   */
  install(domain: string, pem: PemPair, source: CertificateSource, options: InstallOptions = {}): CertificateInfo {
    const name = domain.toLowerCase();
    const details = inspectPemPair(pem, { cert: `certificate for ${name}`, key: `private key for ${name}` });
    if (!certificateCovers(details, name)) {
      throw new Error(`the certificate for "${name}" names only ${details.dnsNames.join(", ") || "no DNS name"}`);
    }
    const defaultKeyType = this.#defaultServed?.details.keyType;
    if (defaultKeyType !== undefined && details.keyType !== defaultKeyType) {
      this.#logger.warn(
        { domain: name, keyType: details.keyType, defaultKeyType },
        "installed certificate's key type differs from the default certificate's; some clients will get the default one",
      );
    }
    const served = { ...serve(pem, details, source, this.#tls), nextRenewal: options.nextRenewal };
    this.#index.set(name, served);
    const info = this.#describe(name, served);
    this.#logger.info({ ...info }, "certificate installed");
    for (const listener of this.#listeners) {
      try {
        listener(info);
      } catch (error) {
        this.#logger.error({ err: error }, "certificate listener failed");
      }
    }
    return info;
  }

  /** Calls `listener` after every install; returns the function that unsubscribes it. */
  onChange(listener: CertificateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** One entry per name served, sorted by name. */
  list(): CertificateInfo[] {
    const infos = [...this.#index.entries()].map(([domain, served]) => this.#describe(domain, served));
    for (const name of this.#selfSigned?.details.dnsNames ?? []) {
      // The self-signed certificate only answers for names that no other certificate serves.
      const taken = name.startsWith("*.") ? this.#index.peek(name) : this.#index.get(name);
      if (taken === undefined && this.#selfSigned) infos.push(this.#describe(name, this.#selfSigned));
    }
    infos.sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
    const lastErrorOf = this.#lastErrorOf;
    return lastErrorOf === undefined ? infos : infos.map((info) => ({ ...info, lastError: lastErrorOf(info.domain) ?? null }));
  }

  #contextFor(servername: unknown): SecureContext | Error | Promise<unknown> {
    try {
      if (!isServerName(servername)) {
        // The client's doing, so only at debug: a scanner must not be able to flood the log.
        this.#logger.debug({ servername }, "malformed SNI name refused");
        return new Error("malformed SNI name");
      }
      const served = this.#index.get(servername);
      if (served !== undefined) return served.context;
      // Only names nothing serves go on: the known names' path above stays one Map lookup.
      const pending = this.#onDemand?.certificateFor(servername);
      if (pending !== undefined) return pending;
      return this.#fallback?.context ?? new Error(`no certificate for "${servername}"`);
    } catch (error) {
      this.#logger.error({ err: error, servername }, "certificate lookup failed; handshake refused");
      return new Error("certificate lookup failed", { cause: error });
    }
  }

  /**
   * Answers the handshake once `pending` settles or handshakeWaitMs passes, whichever is first: with the
   * certificate the Map holds by then, else the fallback, else an error (fail closed). `cb` is called
   * exactly once, and nothing thrown escapes into a timer or a promise.
   */
  #awaitOnDemand(servername: string, pending: Promise<unknown>, cb: (err: Error | null, ctx?: SecureContext) => void): void {
    let answered = false;
    const answer = () => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      let context: SecureContext | Error;
      try {
        context = this.#index.get(servername)?.context ?? this.#fallback?.context ?? new Error(`no certificate for "${servername}"`);
      } catch (error) {
        context = new Error("certificate lookup failed", { cause: error });
      }
      try {
        if (context instanceof Error) cb(context);
        else cb(null, context);
      } catch (error) {
        this.#logger.error({ err: error, servername }, "SNI callback failed");
      }
    };
    const timer = setTimeout(answer, this.#onDemand?.handshakeWaitMs ?? 0);
    pending.then(answer, answer);
  }

  #indexStatic(served: ServedCertificate): void {
    const { dnsNames, notAfter } = served.details;
    if (dnsNames.length === 0) {
      this.#logger.warn({ issuer: served.details.issuer }, "a static certificate names no DNS host; it only serves as a fallback");
    }
    if (notAfter.getTime() <= Date.now()) {
      this.#logger.warn({ names: dnsNames, notAfter: notAfter.toISOString() }, "a static certificate has expired");
    }
    for (const name of dnsNames) {
      if (!this.#index.setIfAbsent(name, served)) {
        this.#logger.warn({ name }, "two static certificates name the same host; the first one listed is used");
      }
    }
  }

  #describe(domain: string, served: ServedCertificate): CertificateInfo {
    const { notBefore, notAfter, issuer } = served.details;
    const nextRenewal =
      served.nextRenewal ?? (served.source === "acme" ? renewalTime(notBefore, notAfter, this.#tls.acme.renewBefore) : undefined);
    return { domain, notAfter: notAfter.toISOString(), issuer, source: served.source, nextRenewal: nextRenewal?.toISOString() ?? null };
  }
}

// RFC 6066 sends an ASCII host name, and OpenSSL refuses one over 255 bytes; anything else (spaces,
// control or non-ASCII characters, a non-string from a caller outside Node) names no certificate.
const SERVER_NAME = /^[\x21-\x7e]{1,255}$/;

function isServerName(name: unknown): name is string {
  return typeof name === "string" && SERVER_NAME.test(name);
}

function serve(pem: PemPair, details: CertificateDetails, source: CertificateSource, tls: TlsConfig): ServedCertificate {
  // With tls.clientAuth, every context carries the client CA: after SNI, OpenSSL verifies against this one.
  const context = createSecureContext({ ...tlsProfile(tls.minVersion), ...clientCaContextOptions(tls.clientAuth), key: pem.key, cert: pem.cert });
  return { pem, details, source, context };
}

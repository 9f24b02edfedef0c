// The CA that signs client certificates (tls.clientAuth.ca), read once and put into every context that
// terminates client TLS. It must be in the SNI contexts too, not only in the server's own: once the
// SNICallback hands OpenSSL another SecureContext, the client's certificate is verified against that
// context's store (measured on Node 20: a context without the CA leaves every client unauthorized), and
// a context with no `ca` at all would trust Node's public root CAs instead.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { SecureContextOptions, TlsOptions } from "node:tls";
import type { ClientAuthConfig } from "../config/schema.js";
import { readFailure } from "../config/read-failure.js";

export interface ClientCa {
  /** The absolute path, for messages. */
  readonly file: string;
  /** The file's PEM text: one or more CA certificates. */
  readonly pem: string;
  /** `require`: a client without a valid certificate fails the handshake. */
  readonly require: boolean;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

// tls.clientAuth is restart-only (config/reload-scope.ts), so the config object the gateway started with
// is the one every later call (an ACME install, an on-demand certificate) passes: keyed by it, the file
// is read once, at start, and a certificate installed an hour later gets the same CA.
const loaded = new WeakMap<ClientAuthConfig, ClientCa | undefined>();

/**
 * The client CA of this configuration, undefined when client certificates are off (`ca: ""`). Throws,
 * naming the file, when it cannot be read or holds no valid certificate.
 */
export function clientCaOf(clientAuth: ClientAuthConfig): ClientCa | undefined {
  if (loaded.has(clientAuth)) return loaded.get(clientAuth);
  const ca = clientAuth.ca === "" ? undefined : readClientCa(resolve(clientAuth.ca), clientAuth.mode === "require");
  loaded.set(clientAuth, ca);
  return ca;
}

/** What every SecureContext that serves clients adds: the CA to verify them against, if any. */
export function clientCaContextOptions(clientAuth: ClientAuthConfig): Pick<SecureContextOptions, "ca"> {
  const ca = clientCaOf(clientAuth);
  return ca === undefined ? {} : { ca: ca.pem };
}

function readClientCa(file: string, require: boolean): ClientCa {
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`tls.clientAuth.ca: cannot read "${file}": ${readFailure(error)}`, { cause: error });
  }
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error(`tls.clientAuth.ca: "${file}" holds no PEM certificate`);
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new Error(`tls.clientAuth.ca: certificate ${index + 1} in "${file}" is invalid: ${(error as Error).message}`, { cause: error });
    }
  }
  return { file, pem, require };
}

/** The HTTPS server's options: ask every client for a certificate; in `require` mode, refuse the handshake without a valid one. */
export function clientAuthServerOptions(ca: ClientCa | undefined): Pick<TlsOptions, "ca" | "requestCert" | "rejectUnauthorized"> {
  if (ca === undefined) return {};
  // `optional`: Node completes the handshake whatever the client sent and sets socket.authorized;
  // the routes decide (requireClientCert).
  return { ca: ca.pem, requestCert: true, rejectUnauthorized: ca.require };
}

// TLS-ALPN-01 (RFC 8737) on the HTTPS listener. The validation certificate must be chosen by the ALPN
// protocol `acme-tls/1`, which Node's SNICallback never sees, so this filter reads the ClientHello
// before the HTTPS server does: a client offering `acme-tls/1` for a name with a pending challenge gets
// a handshake with the challenge certificate, then the connection is closed (RFC 8737 section 3);
// every other client gets its bytes put back and goes on to the HTTPS server untouched.
import type { Socket } from "node:net";
import tls from "node:tls";
import type { Logger } from "../../observability/logger.js";
import { MAX_CLIENT_HELLO_BYTES, readClientHello, type ClientHello } from "./client-hello.js";
import { tlsProfile } from "../cipher-profile.js";

export const ACME_TLS_ALPN = "acme-tls/1";

/** Bytes read while looking for a ClientHello before giving up and passing the connection on. */
const PEEK_LIMIT = MAX_CLIENT_HELLO_BYTES + 1024;

export interface AlpnChallengeOptions {
  /** The stored TLS-ALPN-01 answer for `domain`: JSON `{key, cert}` (PEM), or undefined when none is pending. */
  readonly challenge: (domain: string) => Promise<string | undefined>;
  /** How long a client may take to send its ClientHello, and again to finish a validation handshake. */
  readonly timeoutMs: number;
  readonly logger: Logger;
}

interface Peeked {
  readonly bytes: Buffer;
  /** Undefined when the bytes are not a ClientHello: the HTTPS server deals with them as before. */
  readonly hello: ClientHello | undefined;
}

/** The socket filter for the HTTPS listener when `tls.acme.challenge` is `tls-alpn-01`. */
/** Resolves true to hand the socket on, false when the filter took care of it (answered or destroyed). */
export type SocketFilter = (socket: Socket) => Promise<boolean>;

export function alpnChallengeFilter(options: AlpnChallengeOptions): SocketFilter {
  return async (socket) => {
    const peeked = await peekClientHello(socket, options.timeoutMs);
    if (peeked === undefined) {
      // Silent until the timeout, or gone before a ClientHello: no handshake can follow.
      socket.destroy();
      return false;
    }
    const domain = peeked.hello?.serverName;
    const context = domain !== undefined && peeked.hello?.alpn.includes(ACME_TLS_ALPN) ? await challengeContext(domain, options) : undefined;
    if (socket.destroyed) return false;
    try {
      socket.unshift(peeked.bytes);
    } catch (error) {
      options.logger.debug({ err: error }, "connection ended while its ClientHello was read");
      socket.destroy();
      return false;
    }
    if (context === undefined) return true;
    answerValidation(socket, context, domain!, options);
    return false;
  };
}

/**
 * Reads from `socket` until the bytes hold a complete ClientHello, certainly are none, or reach the
 * limit; then pauses it, so nothing more is consumed, and returns what was read for `unshift`.
 * Undefined when the client closed or stayed silent for `timeoutMs`.
 */
export function peekClientHello(socket: Socket, timeoutMs: number): Promise<Peeked | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: Peeked | undefined) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onGone);
      socket.off("close", onGone);
      socket.pause();
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      const bytes = chunks.length === 1 ? chunk : Buffer.concat(chunks, size);
      const read = readClientHello(bytes);
      if (read.status === "complete") finish({ bytes, hello: read.hello });
      else if (read.status === "invalid" || size >= PEEK_LIMIT) finish({ bytes, hello: undefined });
    };
    const onGone = () => finish(undefined);
    const timer = setTimeout(onGone, timeoutMs);
    socket.on("data", onData);
    socket.once("end", onGone);
    socket.once("close", onGone);
  });
}

/** The secure context of the pending challenge for `domain`; undefined when there is none or it is unusable. */
async function challengeContext(domain: string, options: AlpnChallengeOptions): Promise<tls.SecureContext | undefined> {
  try {
    const stored = await options.challenge(domain);
    if (stored === undefined) return undefined;
    const pem: unknown = JSON.parse(stored);
    if (!isPemPair(pem)) throw new Error("the stored TLS-ALPN-01 challenge is not {key, cert}");
    // This context handles the whole handshake, so it needs the listener's profile; RFC 8737 validators use TLS 1.2+.
    return tls.createSecureContext({ ...tlsProfile("TLSv1.2"), key: pem.key, cert: pem.cert });
  } catch (error) {
    options.logger.warn({ err: error, domain }, "TLS-ALPN-01 challenge unavailable; the connection gets the normal handshake");
    return undefined;
  }
}

/** Completes the handshake with the challenge certificate, then closes: no data is exchanged. */
function answerValidation(socket: Socket, context: tls.SecureContext, domain: string, options: AlpnChallengeOptions): void {
  const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context, ALPNProtocols: [ACME_TLS_ALPN] });
  const timer = setTimeout(() => secure.destroy(), options.timeoutMs);
  secure.on("error", (error: NodeJS.ErrnoException) => {
    options.logger.debug({ code: error.code, message: error.message, domain }, "TLS-ALPN-01 validation handshake failed");
    secure.destroy();
  });
  secure.once("secure", () => {
    options.logger.info({ domain }, "answered a TLS-ALPN-01 validation");
    secure.end();
  });
  secure.once("close", () => {
    clearTimeout(timer);
    socket.destroy();
  });
  // Read (and drop) whatever follows, so the client's close is seen and the socket goes away.
  secure.resume();
}

function isPemPair(value: unknown): value is { key: string; cert: string } {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.key === "string" && typeof record.cert === "string";
}

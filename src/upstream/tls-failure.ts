// Which upstream failures are TLS failures: an unknown CA, a wrong name, an expired certificate, a
// refused client certificate, a handshake the two sides could not agree on. They are counted apart
// (rampart_upstream_errors_total{kind="tls"}, /api/upstreams) because they are configuration or
// certificate problems an operator fixes, not a target that is down.

/** OpenSSL's verification codes as Node names them, and Node's own TLS and OpenSSL error codes. */
const TLS_CODE =
  /^(ERR_TLS_|ERR_SSL_|ERR_OSSL_|CERT_|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT|UNABLE_TO_|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_EXCEEDED|ERROR_IN_CERT_)/;

/**
 * The TLS error behind `error`, or undefined when it is no TLS failure. Looks one level into `cause`:
 * an HTTP/2 stream fails with ERR_HTTP2_STREAM_CANCEL caused by its session's handshake error, and a
 * GatewayError wraps what the socket reported.
 */
export function tlsFailure(error: unknown): NodeJS.ErrnoException | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 3; current = current.cause, depth++) {
    const failure = current as NodeJS.ErrnoException & { library?: unknown };
    if ((typeof failure.code === "string" && TLS_CODE.test(failure.code)) || failure.library === "SSL routines") return failure;
  }
  return undefined;
}

/** "CERT_HAS_EXPIRED: certificate has expired": the code for alerts and searches, the words for people. */
export function describeTlsFailure(error: NodeJS.ErrnoException): string {
  return error.code === undefined || error.message.startsWith(error.code) ? error.message : `${error.code}: ${error.message}`;
}

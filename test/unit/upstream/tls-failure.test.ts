// Which upstream errors are TLS failures (kind "tls"), including one wrapped as an HTTP/2 stream's
// cause, and how they are worded for /api/upstreams.
import assert from "node:assert/strict";
import { test } from "node:test";
import { describeTlsFailure, tlsFailure } from "../../../src/upstream/tls-failure.js";

function withCode(code: string, message = "x", extra: Record<string, unknown> = {}): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code, ...extra });
}

test("verification, name, alert and OpenSSL errors are TLS failures", () => {
  for (const code of [
    "CERT_HAS_EXPIRED",
    "CERT_NOT_YET_VALID",
    "DEPTH_ZERO_SELF_SIGNED_CERT",
    "SELF_SIGNED_CERT_IN_CHAIN",
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    "ERR_TLS_CERT_ALTNAME_INVALID",
    "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
    "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
    "ERR_SSL_WRONG_VERSION_NUMBER",
    "HOSTNAME_MISMATCH",
    "INVALID_CA",
    "INVALID_PURPOSE",
  ]) {
    assert.ok(tlsFailure(withCode(code)), code);
  }
  // Node's EPROTO carries OpenSSL's library name.
  assert.ok(tlsFailure(withCode("EPROTO", "wrong version number", { library: "SSL routines" })));
});

test("connection failures, resets, timeouts and non-errors are not", () => {
  for (const code of ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ERR_HTTP2_STREAM_CANCEL", "EPROTO"]) assert.equal(tlsFailure(withCode(code)), undefined, code);
  assert.equal(tlsFailure(new Error("socket hang up")), undefined);
  assert.equal(tlsFailure("CERT_HAS_EXPIRED"), undefined);
  assert.equal(tlsFailure(undefined), undefined);
});

test("the TLS error behind a wrapper (an HTTP/2 stream cancelled by its session's handshake error) is found", () => {
  const cause = withCode("CERT_HAS_EXPIRED", "certificate has expired");
  const stream = Object.assign(new Error("The pending stream has been canceled", { cause }), { code: "ERR_HTTP2_STREAM_CANCEL" });
  assert.equal(tlsFailure(stream), cause);
});

test("worded as code and message, without repeating a code the message starts with", () => {
  assert.equal(describeTlsFailure(withCode("CERT_HAS_EXPIRED", "certificate has expired")), "CERT_HAS_EXPIRED: certificate has expired");
  assert.equal(describeTlsFailure(withCode("X", "X: already there")), "X: already there");
});

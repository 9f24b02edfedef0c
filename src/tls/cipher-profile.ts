// Rampart's TLS profile: Mozilla's "intermediate" server configuration
// (https://wiki.mozilla.org/Security/Server_Side_TLS), with no DHE suites. Node's defaults also
// accept CBC, CCM, ARIA, DHE and RSA-key-exchange suites under TLS 1.2, and testssl.sh flagged the CBC
// ones as potentially vulnerable to LUCKY13. So TLS 1.2 gets ECDHE key exchange with AEAD ciphers only,
// TLS 1.3 its three standard suites, and the client picks the suite (Mozilla: "cipher preference:
// client chooses"; Node's TLS server would otherwise prefer its own order).
//
// Used for every context that terminates client TLS: the HTTPS server's own options (where OpenSSL
// takes the cipher list, groups and preference from for every connection), each SNI context the
// certificate resolver makes, and the TLS-ALPN-01 challenge context.
import type { SecureContextOptions } from "node:tls";

/** TLS 1.3 suites, in Mozilla's order. */
export const TLS13_CIPHERSUITES = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"] as const;

/** TLS 1.2 suites (OpenSSL names): ECDHE + AEAD only, in Mozilla's order. */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
] as const;

/** Key-exchange groups, in preference order. */
export const ECDH_CURVES = ["X25519", "prime256v1", "secp384r1"] as const;

/** The profile as `tls.createSecureContext` / `https.createServer` options; `minVersion` is tls.minVersion. */
export function tlsProfile(minVersion: "TLSv1.2" | "TLSv1.3"): SecureContextOptions {
  return {
    // Node sends the TLS_* names to SSL_CTX_set_ciphersuites and the rest to SSL_CTX_set_cipher_list.
    ciphers: [...TLS13_CIPHERSUITES, ...TLS12_CIPHERS].join(":"),
    ecdhCurve: ECDH_CURVES.join(":"),
    honorCipherOrder: false,
    minVersion,
  };
}

/**
 * When an issued certificate is due for renewal: `renewBefore` ahead of expiry, or when a third of its
 * lifetime remains, whichever is earlier (DESIGN.md, tls.acme.renewBefore). The lifetime rule renews
 * long-lived certificates earlier than `renewBefore` alone would. For a certificate living no longer
 * than `renewBefore`, the result falls at or before its start: it is due at once, so a scheduler must
 * not treat that as a loop-free plan.
 */
export function renewalTime(notBefore: Date, notAfter: Date, renewBefore: number): Date {
  const expiry = notAfter.getTime();
  const lifetime = expiry - notBefore.getTime();
  return new Date(Math.min(expiry - renewBefore, expiry - lifetime / 3));
}

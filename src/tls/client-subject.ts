// The verified client certificate's subject, as the routes send it upstream (clientCertHeader).
//
// Format: RFC 4514 (LDAP distinguished name), for the usual string attributes the same text OpenSSL prints
// with XN_FLAG_RFC2253, which is nginx's $ssl_client_s_dn: the most specific RDN first ("CN=alice,O=Example,C=US"),
// multi-valued RDNs joined by "+", short attribute names (CN, O, OU, C, L, ST, UID, emailAddress, ...; an
// unknown attribute as its dotted OID), and in values `, + " \ < > ;` escaped with a backslash, as are a
// leading space or "#" and a trailing space. Every byte outside printable ASCII (control characters, the
// UTF-8 bytes of non-ASCII text) is written as \XX, so the header value is always plain ASCII:
// "CN=J\C3\B6rg" is Jörg.
//
// The subject is taken once per connection, when the handshake completes and `authorized` is decided,
// and kept on the socket: a renegotiation later on the connection cannot swap in another subject, and
// keep-alive requests and HTTP/2 streams pay one property read.
import type { TLSSocket } from "node:tls";

const SUBJECT = Symbol("rampart.clientCertSubject");

type Tagged = { [SUBJECT]?: string };

/** After the handshake (the HTTPS listener's secureConnection): remembers the subject if the client's certificate verified. */
export function recordClientSubject(socket: TLSSocket): void {
  if (!socket.authorized) return;
  const certificate = socket.getPeerX509Certificate();
  if (certificate !== undefined) (socket as TLSSocket & Tagged)[SUBJECT] = rfc4514Subject(certificate.subject);
}

/**
 * The verified subject of the connection a request came on; undefined without a verified certificate
 * (plain HTTP, no certificate, one the CA did not sign). An HTTP/2 request's `socket` is Node's proxy
 * to the TLS socket, which reads the property from the socket itself.
 */
export function verifiedClientSubject(socket: object): string | undefined {
  return (socket as Tagged)[SUBJECT];
}

/**
 * Node's X509Certificate#subject (OpenSSL's multi-line form: one RDN a line, in certificate order, values
 * already escaped as RFC 2253 asks, multi-valued RDNs as "CN=a + UID=7") in RFC 4514 order. A line
 * break or " + " inside a value cannot be mistaken for a separator: OpenSSL writes those as "\0A" and "\+".
 */
export function rfc4514Subject(multiline: string): string {
  if (multiline === "") return "";
  return asciiOnly(
    multiline
      .split("\n")
      .reverse()
      .map((rdn) => rdn.split(" + ").reverse().join("+"))
      .join(","),
  );
}

// Not printable ASCII: control characters, DEL and everything above (as UTF-16 code units).
const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]+/g;

/** Writes each UTF-8 byte of a non-ASCII run (and any control character) as \XX. */
function asciiOnly(text: string): string {
  return text.replace(NOT_PRINTABLE_ASCII, (run) => {
    let escaped = "";
    for (const byte of Buffer.from(run, "utf8")) escaped += `\\${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    return escaped;
  });
}

// Client certificates for the tls.clientAuth tests, made with the openssl CLI (ECDSA P-256): a client CA
// with two clients it signed, and a second CA with a client claiming the same name, which no gateway trusts.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface ClientCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

export interface ClientCertificates {
  /** The client CA's certificate file (tls.clientAuth.ca). */
  readonly caFile: string;
  /** Subject /O=Example/CN=alice, signed by the client CA. */
  readonly alice: ClientCertificate;
  /** Signed by the client CA; its subject has characters RFC 4514 escapes (see TRICKY_SUBJECT). */
  readonly tricky: ClientCertificate;
  /** Subject /O=Example/CN=alice too, but signed by another CA. */
  readonly mallory: ClientCertificate;
}

/** openssl -subj syntax (with -multivalue-rdn): a comma, a multi-valued RDN, a leading "#", quotes and UTF-8. */
export const TRICKY_SUBJECT = '/C=US/O=Example, Inc./CN=bob+UID=7/OU=#ops\\+dev "<1>";/CN=Jörg \\\\ ';
/** The same subject as the gateway sends it upstream. */
export const TRICKY_RFC4514 = 'CN=J\\C3\\B6rg \\\\\\ ,OU=\\#ops\\+dev \\"\\<1\\>\\"\\;,UID=7+CN=bob,O=Example\\, Inc.,C=US';

export function makeClientCertificates(dir: string): ClientCertificates {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore", timeout: 30_000 });
  const newCa = (name: string, subject: string) =>
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "30",
      "-subj", subject, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  const newClient = (name: string, subject: string, ca: string): ClientCertificate => {
    run("req", "-utf8", "-multivalue-rdn", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
    run("x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-out", `${name}.pem`, "-days", "30");
    const certFile = join(dir, `${name}.pem`);
    const keyFile = join(dir, `${name}.key`);
    return { certFile, keyFile, cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
  };
  newCa("client-ca", "/CN=rampart test client CA");
  newCa("other-ca", "/CN=rampart test other CA");
  return {
    caFile: join(dir, "client-ca.pem"),
    alice: newClient("alice", "/O=Example/CN=alice", "client-ca"),
    tricky: newClient("tricky", TRICKY_SUBJECT, "client-ca"),
    mallory: newClient("mallory", "/O=Example/CN=alice", "other-ca"),
  };
}

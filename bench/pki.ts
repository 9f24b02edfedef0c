// Throwaway certificate authorities for the certs scenario, made with the openssl CLI in the scenario's
// directory (ECDSA P-256, the key type Rampart uses everywhere): CAs, server certificates and client
// certificates. Files are <dir>/<name>.pem and <dir>/<name>.key. (test/helpers/test-pki.ts does the same
// for the tests, in a temp directory of its own.)
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { which } from "./processes.js";

export interface PemFiles {
  readonly cert: string;
  readonly key: string;
}

export interface Pki {
  /** A self-signed CA `name`; returns its certificate's path. */
  ca(name: string): string;
  /** A certificate `name` signed by CA `issuer`, with these subjectAltNames ("DNS:x", "IP:127.0.0.1"); `client` makes it a client certificate. */
  issue(name: string, issuer: string, options?: { readonly san?: readonly string[]; readonly client?: boolean }): PemFiles;
}

export function makePki(dir: string): Pki {
  const openssl = which("openssl");
  if (openssl === undefined) throw new Error("openssl is not installed (apt-get install -y openssl): the certs scenario makes its certificates with it");
  mkdirSync(dir, { recursive: true });
  const run = (...args: string[]) => execFileSync(openssl, args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 });
  const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  return {
    ca(name) {
      run("req", "-x509", ...newKey, "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", `/CN=${name} bench CA`,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
      return path.join(dir, `${name}.pem`);
    },
    issue(name, issuer, options = {}) {
      const usage = options.client === true ? "clientAuth" : "serverAuth";
      const san = options.san ?? [];
      writeFileSync(path.join(dir, `${name}.ext`), [`extendedKeyUsage=${usage}`, ...(san.length === 0 ? [] : [`subjectAltName=${san.join(",")}`])].join("\n") + "\n");
      run("req", ...newKey, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/O=Bench/CN=${name}`);
      run("x509", "-req", "-in", `${name}.csr`, "-CA", `${issuer}.pem`, "-CAkey", `${issuer}.key`, "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", `${name}.ext`);
      return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
    },
  };
}

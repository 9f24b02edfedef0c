// Throwaway certificate authorities for tests of TLS to targets: CAs, server and client certificates
// made with openssl in a temp directory (ECDSA P-256, the key type Rampart uses everywhere), and
// node:https / node:http2 backends that present them. Files are named <name>.pem / <name>.key.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import type http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";

export interface Pki {
  readonly dir: string;
  /** A self-signed CA: `${name}.pem`, `${name}.key`. Returns the certificate's path. */
  ca(name: string): string;
  /**
   * A certificate `name` signed by CA `issuer` (or self-signed when issuer is undefined) with these
   * subjectAltNames ("DNS:x", "IP:127.0.0.1"). `days: -1` makes one that has already expired.
   */
  issue(name: string, issuer: string | undefined, options?: { san?: readonly string[]; days?: number; client?: boolean }): { cert: string; key: string };
  /** The file's text. */
  read(file: string): string;
  /** Path of a file in the directory (for files a test writes itself). */
  path(name: string): string;
  remove(): Promise<void>;
}

export async function makePki(): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), "rampart-pki-"));
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  return {
    dir,
    ca(name) {
      run("req", "-x509", ...newKey, "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "30", "-subj", `/CN=${name} test CA`,
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
      return join(dir, `${name}.pem`);
    },
    issue(name, issuer, options = {}) {
      const usage = options.client === true ? "clientAuth" : "serverAuth";
      const extensions = [`extendedKeyUsage=${usage}`, ...(options.san === undefined || options.san.length === 0 ? [] : [`subjectAltName=${options.san.join(",")}`])];
      writeFileSync(join(dir, `${name}.ext`), extensions.join("\n") + "\n");
      const days = String(options.days ?? 30);
      if (issuer === undefined) {
        run("req", "-x509", ...newKey, "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", days, "-subj", `/CN=${name}`, "-addext", extensions.at(-1)!);
      } else {
        run("req", ...newKey, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
        run("x509", "-req", "-in", `${name}.csr`, "-CA", `${issuer}.pem`, "-CAkey", `${issuer}.key`, "-CAcreateserial", "-out", `${name}.pem`, "-days", days, "-extfile", `${name}.ext`);
      }
      return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
    },
    read: (file) => readFileSync(file, "utf8"),
    path: (name) => join(dir, name),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface TlsBackend {
  readonly port: number;
  /** https://127.0.0.1:port */
  readonly url: string;
  /** Per request: the SNI name the client sent (false for none) and the client certificate's CN ("" for none). */
  readonly seen: { path: string; servername: string | false; clientCn: string }[];
  close(): Promise<void>;
}

export interface TlsBackendOptions {
  readonly cert: string;
  readonly key: string;
  /** Require a client certificate signed by this CA (mTLS). */
  readonly clientCa?: string;
  /** An HTTP/2 server (ALPN h2 only) instead of HTTPS/1.1. */
  readonly h2?: boolean;
}

/** An HTTPS (or h2) backend on 127.0.0.1:0 answering 200 "ok <path>" to everything, and 101 to WebSocket upgrades. */
export async function startTlsBackend(options: TlsBackendOptions): Promise<TlsBackend> {
  const seen: TlsBackend["seen"] = [];
  const tlsOptions = {
    cert: readFileSync(options.cert),
    key: readFileSync(options.key),
    ...(options.clientCa === undefined ? {} : { ca: readFileSync(options.clientCa), requestCert: true, rejectUnauthorized: true }),
  };
  const sockets = new Set<Socket>();
  const answer = (path: string, socket: TLSSocket) => {
    const peer = socket.getPeerCertificate();
    seen.push({ path, servername: socket.servername ?? false, clientCn: typeof peer.subject?.CN === "string" ? peer.subject.CN : "" });
    return `ok ${path}`;
  };
  const server = options.h2 === true
    ? http2.createSecureServer(tlsOptions, (req, res) => res.writeHead(200, { "content-type": "text/plain" }).end(answer(req.url, req.socket as TLSSocket)))
    : https.createServer(tlsOptions, (req, res) => res.writeHead(200, { "content-type": "text/plain" }).end(answer(req.url ?? "", req.socket as TLSSocket)));
  // WebSocket upgrades (HTTPS/1.1 only): 101, then the socket echoes what it receives.
  server.on("upgrade", (req: http.IncomingMessage, socket: TLSSocket) => {
    answer(req.url ?? "", socket);
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    socket.on("error", () => {});
    socket.pipe(socket);
  });
  server.on("secureConnection", (socket: TLSSocket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  // Refused handshakes are the point of several tests; they must not crash anything.
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `https://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

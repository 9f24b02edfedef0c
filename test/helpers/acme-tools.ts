// Tools for the ACME integration tests: a verifying TLS handshake and HTTPS request against pebble's
// issuing root, the admin endpoints the tests read (/api/certificates, /readyz), and a small TCP
// forwarder that lets pebble's single HTTP-01 port reach several gateway instances.
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { request } from "./client.js";

export interface ServedCertificate {
  /** True when the chain verified against the given root and the name matched (rejectUnauthorized). */
  readonly authorized: boolean;
  readonly fingerprint256: string;
  readonly subjectaltname: string;
  /** Epoch ms. */
  readonly notAfter: number;
  readonly issuer: string;
}

/**
 * A real TLS handshake with `servername`, verified against `ca` (pebble's issuing root): resolves only
 * when the chain and the name verify, rejects otherwise.
 */
export function verifiedHandshake(port: number, servername: string, ca: string): Promise<ServedCertificate> {
  return handshake({ host: "127.0.0.1", port, servername, ca, rejectUnauthorized: true });
}

/** The certificate served for `servername`, without verifying it (the self-signed fallback included). */
export function servedCertificate(port: number, servername: string): Promise<ServedCertificate> {
  return handshake({ host: "127.0.0.1", port, servername, rejectUnauthorized: false });
}

function handshake(options: tls.ConnectionOptions): Promise<ServedCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(options, () => {
      const peer = socket.getPeerCertificate();
      resolve({
        authorized: socket.authorized,
        fingerprint256: peer.fingerprint256,
        subjectaltname: peer.subjectaltname ?? "",
        notAfter: Date.parse(peer.valid_to),
        issuer: String(peer.issuer.CN ?? ""),
      });
      socket.end();
    });
    socket.once("error", reject);
  });
}

/**
 * A GET through the gateway over a fresh, verified TLS connection (SNI and Host `servername`); resolves
 * with the status and the fingerprint of the certificate that was served, rejects on any TLS or HTTP error.
 */
export function verifiedGet(port: number, servername: string, ca: string, path = "/"): Promise<{ status: number; fingerprint256: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", port, path, servername, ca, rejectUnauthorized: true, agent: false, headers: { host: servername } },
      (res) => {
        const fingerprint256 = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
        res.resume();
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, fingerprint256 }));
      },
    );
    req.on("error", reject);
    req.setTimeout(5_000, () => req.destroy(new Error("request timed out")));
    req.end();
  });
}

export interface CertificateEntry {
  readonly domain: string;
  readonly notAfter: string;
  readonly issuer: string;
  readonly source: string;
  readonly nextRenewal: string | null;
}

export async function listCertificates(adminPort: number): Promise<CertificateEntry[]> {
  const response = await request({ port: adminPort, path: "/api/certificates" });
  if (response.status !== 200) throw new Error(`GET /api/certificates answered ${response.status}: ${response.body}`);
  return response.json<CertificateEntry[]>();
}

/** The entry for `domain` in /api/certificates, undefined when it is not listed. */
export async function certificateEntry(adminPort: number, domain: string): Promise<CertificateEntry | undefined> {
  return (await listCertificates(adminPort)).find((entry) => entry.domain === domain);
}

/** True when /api/certificates lists every name in `names` with an ACME certificate (source "acme"). */
export async function allIssuedByAcme(adminPort: number, names: readonly string[]): Promise<boolean> {
  const entries = await listCertificates(adminPort);
  return names.every((name) => entries.find((entry) => entry.domain === name)?.source === "acme");
}

export async function pendingCertificates(adminPort: number): Promise<string[]> {
  const response = await request({ port: adminPort, path: "/readyz" });
  return response.json<{ pendingCertificates: string[] }>().pendingCertificates;
}

/** One connection the forwarder passed on: where it went, what was asked, and the status answered. */
export interface ForwardedExchange {
  readonly target: number;
  readonly host: string;
  readonly path: string;
  status: number;
}

export interface TcpForwarder {
  readonly exchanges: readonly ForwardedExchange[];
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1:`port` and passes each connection on to the loopback port `pick` chooses from
 * the first request's head (Host without port, path), recording the status line of the answer. Pebble
 * sends one plain HTTP/1.1 request per validation connection.
 */
export async function startTcpForwarder(port: number, pick: (host: string, path: string) => number | Promise<number>): Promise<TcpForwarder> {
  const exchanges: ForwardedExchange[] = [];
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  };

  const forward = (client: net.Socket, head: Buffer, exchange: ForwardedExchange) => {
    if (client.destroyed) return;
    exchanges.push(exchange);
    const upstream = net.connect(exchange.target, "127.0.0.1", () => {
      upstream.write(head);
      client.pipe(upstream);
      client.resume();
    });
    track(upstream);
    let answer = "";
    upstream.on("data", (data: Buffer) => {
      if (exchange.status === 0) {
        answer += data.toString("latin1");
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer);
        if (status) exchange.status = Number(status[1]);
      }
      client.write(data);
    });
    upstream.on("end", () => client.end());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
  };

  const server = net.createServer((client) => {
    track(client);
    client.on("error", () => client.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const text = head.toString("latin1");
      if (!text.includes("\r\n\r\n")) return;
      client.off("data", onData);
      client.pause();
      const path = /^[A-Z]+ (\S+)/.exec(text)?.[1] ?? "";
      const host = (/\r\nhost:\s*([^\r\n]*)/i.exec(text)?.[1] ?? "").trim().replace(/:\d+$/, "").toLowerCase();
      Promise.resolve(pick(host, path)).then(
        (target) => forward(client, head, { target, host, path, status: 0 }),
        () => client.destroy(),
      );
    };
    client.on("data", onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    exchanges,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

// For the guard tests (access lists, bans, jails, rate limits): a fixture with one backend for the
// suite and a gateway per test, and two probes that tell a connection refused at accept (closed before
// any TLS byte) from an admitted one.
import net from "node:net";
import { after, before } from "node:test";
import tls from "node:tls";
import { startBackend, type Backend, type Handler } from "./backend.js";
import { perTest, started } from "./fixtures.js";
import type { ConfigObject, GatewayOptions, TestGateway } from "./gateway.js";

export interface GuardsFixture {
  /** The suite's backend (startBackend(handler)): started before the first test, closed after the last. */
  readonly backend: Backend;
  /** A gateway on `config` with shutdownGrace 1s (unless `config` says otherwise), closed after the test. */
  start(config: ConfigObject, options?: GatewayOptions): Promise<TestGateway>;
  /** Runs `cleanup` after the current test, before the gateways started earlier in it are closed. */
  defer(cleanup: () => unknown): void;
}

export function guardsFixture(handler?: Handler): GuardsFixture {
  let backend: Backend | undefined;
  before(async () => {
    backend = await startBackend(handler);
  });
  const scope = perTest();
  after(async () => {
    await backend?.close();
  });
  return {
    get backend() {
      return started(backend, "backend");
    },
    start: (config, options) => scope.gateway({ shutdownGrace: "1s", ...config }, options),
    defer: scope.defer,
  };
}

/** A TLS handshake attempt: "secure" when it completes, "closed" when the server ends the connection first. */
export function tlsHandshake(port: number, options: { localAddress?: string; ms?: number } = {}): Promise<"secure" | "closed" | "timeout"> {
  const { localAddress, ms = 2_000 } = options;
  return new Promise((resolve) => {
    // localAddress: another loopback source (127.0.0.2), to be a client other than the test itself.
    const tcp = net.connect({ host: "127.0.0.1", port, localAddress });
    tcp.on("error", () => {});
    const socket = tls.connect({ socket: tcp, servername: "localhost", rejectUnauthorized: false });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve("timeout");
    }, ms);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve("secure");
    });
    socket.on("error", () => {});
    socket.once("close", () => {
      clearTimeout(timer);
      resolve("closed");
    });
  });
}

/**
 * A bare TCP connection that sends nothing. An admitted connection stays open (the server waits for a
 * ClientHello or a request line); one refused at accept is closed at once, with no byte sent.
 */
export function tcpProbe(port: number, ms = 800): Promise<{ readonly closed: boolean; readonly bytes: number }> {
  return new Promise((resolve) => {
    let bytes = 0;
    const socket = net.connect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      resolve({ closed: false, bytes });
      socket.destroy();
    }, ms);
    socket.on("data", (chunk: Buffer) => (bytes += chunk.length));
    socket.on("error", () => {});
    socket.once("close", () => {
      clearTimeout(timer);
      resolve({ closed: true, bytes });
    });
  });
}

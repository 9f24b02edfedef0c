// Real node:http backends on loopback port 0 for integration tests. Each counts the TCP connections it
// accepted, so tests can prove upstream keep-alive reuse. Also: a free loopback port (a dead target,
// or a port to start something on).
import http from "node:http";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";

export interface Backend {
  readonly server: http.Server;
  readonly port: number;
  readonly url: string;
  /** TCP connections accepted so far. */
  connections: number;
  /** Requests seen so far, newest last. */
  readonly requests: http.IncomingMessage[];
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** 401 `{"error":"bad credentials"}` on /login, 200 with a JSON echo of the URL elsewhere: offences for a jail. */
export const rejectLogins: Handler = (req, res) => {
  if (req.url?.startsWith("/login")) res.writeHead(401, { "content-type": "application/json" }).end('{"error":"bad credentials"}');
  else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ url: req.url }));
};

/** A loopback port nobody listens on right now: bind port 0, read it, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * `count` distinct free ports: each listener stays open until all are bound, since a port freed by one
 * freePort() call can be the very one the kernel hands to the next.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
      });
    }
    return servers.map((server) => (server.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/** Answers 200 with a JSON echo of method, url and headers unless a handler is given. */
export async function startBackend(handler?: Handler): Promise<Backend> {
  const sockets = new Set<Socket>();
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req);
    if (handler) return handler(req, res);
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
    res.writeHead(200, { "content-type": "application/json" }).end(body);
  });
  const backend = {
    server,
    port: 0,
    url: "",
    connections: 0,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  server.on("connection", (socket: Socket) => {
    backend.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  backend.port = (server.address() as AddressInfo).port;
  backend.url = `http://127.0.0.1:${backend.port}`;
  return backend;
}

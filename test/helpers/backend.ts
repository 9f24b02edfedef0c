// Real node:http backends on loopback port 0 for integration tests. Each counts the TCP connections it
// accepted, so tests can prove upstream keep-alive reuse.
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

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

// One HTTP/2 connection per target for services with `protocol: h2c | h2` (gRPC), the HTTP/2
// counterpart of the HTTP/1.1 keep-alive agent: every request is a stream on it, so there is no pool
// of sockets to size, only a connection to replace once it is closing (GOAWAY) or gone.
import http2, { type ClientHttp2Session } from "node:http2";
import type { Logger } from "../observability/logger.js";
import type { Target } from "./target.js";
import { targetTlsOptions, type UpstreamTls } from "./upstream-tls.js";

export class Http2Pool {
  readonly #serviceName: string;
  readonly #logger: Logger;
  readonly #tls: UpstreamTls | undefined;
  readonly #sessions = new Map<Target, ClientHttp2Session>();
  #closed = false;

  constructor(serviceName: string, logger: Logger, tls?: UpstreamTls) {
    this.#serviceName = serviceName;
    this.#logger = logger;
    this.#tls = tls;
  }

  /** The target's connection, opened now if it has none that takes new streams. */
  session(target: Target): ClientHttp2Session {
    const current = this.#sessions.get(target);
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    // h2 (TLS): the service's CA, name to verify and client certificate; h2c ignores them.
    const session = http2.connect(target.url.origin, targetTlsOptions(this.#tls, target.url));
    session.on("error", (error: NodeJS.ErrnoException) => {
      // Each stream on it gets its own error (the request's answer); this is for the log only.
      this.#logger.debug({ service: this.#serviceName, target: target.key, code: error.code, message: error.message }, "upstream HTTP/2 connection error");
    });
    // GOAWAY from the target: streams it accepted finish, new ones go on a new connection.
    session.on("goaway", () => this.#forget(target, session));
    session.once("close", () => this.#forget(target, session));
    // A connection with no stream must not keep the process alive at shutdown.
    session.unref();
    if (this.#closed) session.close();
    else this.#sessions.set(target, session);
    return session;
  }

  /** Connections open now. */
  get open(): number {
    return this.#sessions.size;
  }

  /** Closes every connection once its streams finish (a retired service, shutdown). */
  close(): void {
    this.#closed = true;
    for (const session of this.#sessions.values()) session.close();
    this.#sessions.clear();
  }

  #forget(target: Target, session: ClientHttp2Session): void {
    if (this.#sessions.get(target) === session) this.#sessions.delete(target);
  }
}

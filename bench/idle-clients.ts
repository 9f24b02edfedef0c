// The idle scenario's client: holds many keep-alive HTTP/1.1 connections open to one server, each having
// sent one GET and read its whole answer, then left idle (bench/scenarios/idle.ts measures the server's
// memory meanwhile). Connection i binds to source address i mod A of 127.0.0.2, 127.0.0.3, … (A = enough
// addresses for at most PER_ADDRESS connections each), so a per-address connection cap is never reached
// and the connections being opened at one time are spread over every address.
//   node dist/bench/idle-clients.js PORT TOTAL PER_ADDRESS CONCURRENCY
// Commands, one per line on stdin; each answer is one JSON line on stdout:
//   open K   opens K more connections (at most CONCURRENCY connecting at once)
//            → {"event":"opened","ok":…,"failed":…,"open":…,"statuses":{…},"errors":{…},"seconds":…}
//   status   → {"event":"status","open":…,"closedByServer":…,"unexpectedBytes":…}
//   close    closes every connection → {"event":"closed","closed":…}
// stdin ending (or SIGTERM/SIGINT) closes everything and exits.
import net from "node:net";
import readline from "node:readline";

const [portText, totalText, perAddressText, concurrencyText] = process.argv.slice(2);
const port = Number(portText);
const total = Number(totalText);
const perAddress = Number(perAddressText);
const concurrency = Number(concurrencyText);
if (![port, total, perAddress, concurrency].every((n) => Number.isInteger(n) && n > 0) || port > 65_535) {
  console.error("usage: node dist/bench/idle-clients.js PORT TOTAL PER_ADDRESS CONCURRENCY");
  process.exit(2);
}

const HOST = "127.0.0.1";
const ANSWER_TIMEOUT_MS = 15_000;
const addressCount = Math.ceil(total / perAddress);
const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUser-Agent: rampart-bench-idle\r\nAccept: */*\r\n\r\n`);

/** The a-th source address: 127.0.0.2 … 127.0.0.254, then 127.0.1.2 …; never .0, .1 or .255 in the last byte. */
function sourceAddress(a: number): string {
  const rest = Math.floor(a / 253);
  return `127.${Math.floor(rest / 256) % 256}.${rest % 256}.${2 + (a % 253)}`;
}

const open = new Set<net.Socket>();
let nextIndex = 0;
let closedByServer = 0;
let unexpectedBytes = 0;

function print(message: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(message) + "\n");
}

class Failure extends Error {}

/** Parses one response from `data` (headers, then a Content-Length or chunked body); undefined until complete. */
function complete(data: Buffer): { readonly status: number; readonly close: boolean } | undefined {
  const end = data.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const head = data.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? "")?.[1]);
  if (!Number.isInteger(status)) throw new Failure("malformed status line");
  const headers = new Map<string, string>();
  for (const line of head.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim().toLowerCase());
  }
  const close = (headers.get("connection") ?? "").split(",").some((token) => token.trim() === "close");
  let at = end + 4;
  if ((headers.get("transfer-encoding") ?? "").includes("chunked")) {
    for (;;) {
      const lineEnd = data.indexOf("\r\n", at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(data.subarray(at, lineEnd).toString("latin1"), 16);
      if (!Number.isInteger(size) || size < 0) throw new Failure("malformed chunk size");
      if (size === 0) {
        // No trailers expected: the last chunk is followed by an empty line.
        return data.indexOf("\r\n\r\n", lineEnd) >= 0 ? { status, close } : undefined;
      }
      at = lineEnd + 2 + size + 2;
      if (data.length < at) return undefined;
    }
  }
  const length = Number(headers.get("content-length") ?? "0");
  return data.length >= at + length ? { status, close } : undefined;
}

/** Opens connection `index`, sends the GET and resolves the status once the whole answer is read; the socket stays open. */
function connectOne(index: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port, localAddress: sourceAddress(index % addressCount), noDelay: true });
    let received = Buffer.alloc(0);
    let done = false;
    const fail = (error: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Failure("no complete answer in time")), ANSWER_TIMEOUT_MS);
    socket.once("connect", () => socket.write(request));
    socket.on("error", fail);
    socket.on("close", () => {
      if (!done) fail(new Failure("closed before the answer was complete"));
      // closeAll() empties `open` first: a socket still in it was closed by the server.
      else if (open.delete(socket)) closedByServer += 1;
    });
    socket.on("data", (chunk: Buffer) => {
      if (done) {
        unexpectedBytes += chunk.length;
        return;
      }
      received = Buffer.concat([received, chunk]);
      let answer: ReturnType<typeof complete>;
      try {
        answer = complete(received);
      } catch (error) {
        fail(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (answer === undefined) return;
      if (answer.close) {
        fail(new Failure(`status ${answer.status} with Connection: close`));
        return;
      }
      done = true;
      clearTimeout(timer);
      received = Buffer.alloc(0);
      open.add(socket);
      resolve(answer.status);
    });
  });
}

async function openMore(count: number): Promise<void> {
  const started = Date.now();
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  const end = nextIndex + count;
  const worker = async () => {
    while (nextIndex < end) {
      const index = nextIndex++;
      try {
        const status = await connectOne(index);
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === 200) ok += 1;
        else failed += 1;
      } catch (error) {
        failed += 1;
        const key = error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : String(error);
        errors[key] = (errors[key] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  print({ event: "opened", ok, failed, open: open.size, statuses, errors, seconds: (Date.now() - started) / 1_000 });
}

function closeAll(): number {
  const sockets = [...open];
  open.clear();
  for (const socket of sockets) socket.destroy();
  return sockets.length;
}

function exit(): void {
  closeAll();
  process.exit(0);
}

// Commands run one after another, in the order they came.
let queue = Promise.resolve();
const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const [command, argument] = line.trim().split(/\s+/);
  queue = queue.then(async () => {
    if (command === "open") await openMore(Math.max(0, Math.floor(Number(argument))));
    else if (command === "status") print({ event: "status", open: open.size, closedByServer, unexpectedBytes });
    else if (command === "close") print({ event: "closed", closed: closeAll() });
    else if (command !== "") print({ event: "error", message: `unknown command ${JSON.stringify(line)}` });
  });
});
lines.on("close", () => void queue.then(exit));
process.once("SIGTERM", exit);
process.once("SIGINT", exit);

// A full garbage collection in a child started with `--inspect=127.0.0.1:PORT`, through the DevTools
// protocol (HeapProfiler.collectGarbage), so memory can be read with only live objects left; and the V8
// heap in use read in the same session right after it (Runtime.getHeapUsage), with nothing allocated by
// a scrape in between.
import WebSocket from "ws";

interface Reply {
  readonly id?: unknown;
  readonly result?: unknown;
  readonly error?: { readonly message?: unknown };
}

function call(socket: WebSocket, id: number, method: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off("message", onMessage);
      reject(new Error(`inspector: ${method} timed out`));
    }, timeoutMs);
    const onMessage = (data: WebSocket.RawData) => {
      const message = JSON.parse(data.toString()) as Reply;
      if (message.id !== id) return;
      clearTimeout(timer);
      socket.off("message", onMessage);
      if (message.error !== undefined) reject(new Error(`inspector: ${method}: ${String(message.error.message)}`));
      else resolve(message.result);
    };
    socket.on("message", onMessage);
    socket.send(JSON.stringify({ id, method }));
  });
}

/** Runs `work` on a DevTools session with the inspected process after a full GC. */
async function afterFullGc<T>(inspectPort: number, timeoutMs: number, work: (socket: WebSocket) => Promise<T>): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${inspectPort}/json/list`, { signal: AbortSignal.timeout(5_000) });
  const targets = (await response.json()) as readonly { readonly webSocketDebuggerUrl?: string }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (url === undefined) throw new Error(`inspector on port ${inspectPort}: no debugger URL`);
  const socket = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
    });
    // Twice: the first pass can leave objects that only become unreachable once finalizers ran.
    await call(socket, 1, "HeapProfiler.collectGarbage", timeoutMs);
    await call(socket, 2, "HeapProfiler.collectGarbage", timeoutMs);
    return await work(socket);
  } finally {
    socket.close();
  }
}

export async function collectGarbage(inspectPort: number, timeoutMs = 30_000): Promise<void> {
  await afterFullGc(inspectPort, timeoutMs, async () => undefined);
}

/** Forces a full GC in the inspected process and resolves its V8 heap used afterwards, in MB. */
export function heapUsedAfterGcMb(inspectPort: number, timeoutMs = 30_000): Promise<number> {
  return afterFullGc(inspectPort, timeoutMs, async (socket) => {
    const usage = (await call(socket, 3, "Runtime.getHeapUsage", timeoutMs)) as { readonly usedSize?: unknown } | undefined;
    if (typeof usage?.usedSize !== "number") throw new Error("inspector: Runtime.getHeapUsage gave no usedSize");
    return usage.usedSize / 1_048_576;
  });
}

// A full garbage collection in a child started with `--inspect=127.0.0.1:PORT`, through the DevTools
// protocol (HeapProfiler.collectGarbage), so memory can be read with only live objects left.
import WebSocket from "ws";

function call(socket: WebSocket, id: number, method: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`inspector: ${method} timed out`)), timeoutMs);
    const onMessage = (data: WebSocket.RawData) => {
      const message = JSON.parse(data.toString()) as { id?: unknown; error?: { message?: unknown } };
      if (message.id !== id) return;
      clearTimeout(timer);
      socket.off("message", onMessage);
      if (message.error !== undefined) reject(new Error(`inspector: ${method}: ${String(message.error.message)}`));
      else resolve();
    };
    socket.on("message", onMessage);
    socket.send(JSON.stringify({ id, method }));
  });
}

export async function collectGarbage(inspectPort: number, timeoutMs = 30_000): Promise<void> {
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
  } finally {
    socket.close();
  }
}

// A small request/response and broadcast protocol over node:cluster's IPC channel, for the state the
// primary keeps for its workers when there is no Redis (bans, ACME certificates and challenges, locks)
// and for the primary's commands (reload, shutdown, admin calls). Messages carry a `rampart` tag so
// they never mix with prom-client's or rate-limiter-flexible's own messages on the same channel.
import type { Worker } from "node:cluster";
import { CodedError } from "../observability/coded-error.js";

const TIMEOUT_MS = 10_000;

export type IpcErrorCode =
  /** No answer within the call's timeout (the other side busy, stopped, or gone). */
  | "IPC_TIMEOUT"
  /** The other side has no handler by that name (a worker and a primary of different versions). */
  | "IPC_UNKNOWN_METHOD"
  /** The handler threw or rejected; `remoteCode` carries its own code when it had one. */
  | "IPC_REMOTE_FAILED"
  /** IpcPeer.toPrimary() outside a node:cluster worker. */
  | "IPC_NOT_A_WORKER";

/** A failed IPC call: which method, why, and the remote failure's own code when there was one. */
export class IpcError extends CodedError<IpcErrorCode> {
  constructor(
    code: IpcErrorCode,
    message: string,
    readonly remoteCode?: string,
  ) {
    super(code, message);
  }
}

/** A handler's failure as it crosses the channel: its message, and its code when it has one. */
interface Failure {
  readonly message: string;
  readonly code?: string;
  readonly unknownMethod?: boolean;
}

type Message =
  | { readonly rampart: "call"; readonly id: number; readonly method: string; readonly args: readonly unknown[] }
  | { readonly rampart: "result"; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly rampart: "result"; readonly id: number; readonly ok: false; readonly value: Failure }
  | { readonly rampart: "event"; readonly name: string; readonly payload: unknown };

function isMessage(value: unknown): value is Message {
  return typeof value === "object" && value !== null && "rampart" in value;
}

export type Handler = (...args: never[]) => unknown;
export type Handlers = Readonly<Record<string, Handler>>;

/** One side of an IPC channel: `process` in a worker, a cluster Worker in the primary. */
interface Endpoint {
  send(message: Message): unknown;
  on(event: "message", listener: (message: unknown) => void): unknown;
}

export class IpcPeer {
  readonly #endpoint: Endpoint;
  readonly #handlers: Handlers;
  #nextId = 1;
  readonly #pending = new Map<number, { readonly method: string; resolve(value: unknown): void; reject(error: Error): void; readonly timer: NodeJS.Timeout }>();
  readonly #events = new Map<string, ((payload: unknown) => void)[]>();

  constructor(endpoint: Endpoint, handlers: Handlers = {}) {
    this.#endpoint = endpoint;
    this.#handlers = handlers;
    endpoint.on("message", (message) => {
      if (isMessage(message)) this.#receive(message);
    });
  }

  /** The worker side's peer: the primary, through `process`. */
  static toPrimary(handlers: Handlers = {}): IpcPeer {
    if (process.send === undefined) throw new IpcError("IPC_NOT_A_WORKER", "not a cluster worker");
    return new IpcPeer({ send: (message) => process.send!(message), on: (event, listener) => process.on(event, listener) }, handlers);
  }

  /** The primary side's peer for one worker. */
  static toWorker(worker: Worker, handlers: Handlers): IpcPeer {
    return new IpcPeer({ send: (message) => worker.isConnected() && worker.send(message), on: (event, listener) => worker.on(event, listener) }, handlers);
  }

  call<T>(method: string, ...args: unknown[]): Promise<T> {
    return this.callWithin<T>(TIMEOUT_MS, method, ...args);
  }

  /** call() with its own timeout, for calls a request waits on (quota leases). */
  callWithin<T>(timeoutMs: number, method: string, ...args: unknown[]): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new IpcError("IPC_TIMEOUT", `IPC call ${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.#pending.set(id, { method, resolve: resolve as (value: unknown) => void, reject, timer });
      this.#endpoint.send({ rampart: "call", id, method, args });
    });
  }

  emit(name: string, payload: unknown): void {
    this.#endpoint.send({ rampart: "event", name, payload });
  }

  on(name: string, listener: (payload: unknown) => void): void {
    const listeners = this.#events.get(name) ?? [];
    listeners.push(listener);
    this.#events.set(name, listeners);
  }

  #receive(message: Message): void {
    if (message.rampart === "event") {
      for (const listener of this.#events.get(message.name) ?? []) listener(message.payload);
      return;
    }
    if (message.rampart === "result") {
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return;
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.ok) {
        pending.resolve(message.value);
      } else {
        const { message: text, code, unknownMethod } = message.value;
        pending.reject(new IpcError(unknownMethod === true ? "IPC_UNKNOWN_METHOD" : "IPC_REMOTE_FAILED", `IPC call ${pending.method} failed: ${text}`, code));
      }
      return;
    }
    const handler = this.#handlers[message.method] as ((...args: readonly unknown[]) => unknown) | undefined;
    const id = message.id;
    if (handler === undefined) {
      this.#endpoint.send({ rampart: "result", id, ok: false, value: { message: `unknown IPC method ${message.method}`, unknownMethod: true } });
      return;
    }
    Promise.resolve()
      .then(() => handler(...message.args))
      .then(
        (value) => this.#endpoint.send({ rampart: "result", id, ok: true, value }),
        (error: unknown) => this.#endpoint.send({ rampart: "result", id, ok: false, value: failureOf(error) }),
      );
  }
}

function failureOf(error: unknown): Failure {
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? { message: error.message, code } : { message: error.message };
}

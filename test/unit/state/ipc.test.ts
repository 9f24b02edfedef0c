// The IPC protocol between a primary and its workers, over a pair of in-memory endpoints (the module
// alone; the cluster tests run it over node:cluster's real channel): results, coded failures that keep
// the remote error's own code, unknown methods, timeouts, events.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import { IpcError, IpcPeer, type Handlers } from "../../../src/state/ipc.js";
import { CodedError } from "../../../src/observability/coded-error.js";

/** Two peers whose messages cross asynchronously, as they would over a channel. */
function pair(handlers: Handlers): { readonly caller: IpcPeer; readonly callee: IpcPeer; readonly silence: () => void } {
  const toCallee = new EventEmitter();
  const toCaller = new EventEmitter();
  let silent = false;
  const endpoint = (inbox: EventEmitter, outbox: EventEmitter) => ({
    send: (message: unknown) => setImmediate(() => silent || outbox.emit("message", message)),
    on: (event: "message", listener: (message: unknown) => void) => inbox.on(event, listener),
  });
  const caller = new IpcPeer(endpoint(toCaller, toCallee));
  const callee = new IpcPeer(endpoint(toCallee, toCaller), handlers);
  return { caller, callee, silence: () => (silent = true) };
}

class StoreFailure extends CodedError<"STORE_DOWN"> {}

describe("IpcPeer", () => {
  test("a call resolves with the handler's value", async () => {
    const { caller } = pair({ add: (a: number, b: number) => a + b });
    assert.equal(await caller.call<number>("add", 2, 3), 5);
  });

  test("a handler's failure rejects with IPC_REMOTE_FAILED, naming the call and keeping the remote code", async () => {
    const { caller } = pair({
      save: () => {
        throw new StoreFailure("STORE_DOWN", "redis is down");
      },
    });
    const error = await caller.call("save").then(
      () => assert.fail("resolved"),
      (rejected: unknown) => rejected,
    );
    assert.ok(error instanceof IpcError);
    assert.equal(error.code, "IPC_REMOTE_FAILED");
    assert.equal(error.remoteCode, "STORE_DOWN");
    assert.match(error.message, /IPC call save failed: redis is down/);
  });

  test("an unknown method rejects with IPC_UNKNOWN_METHOD", async () => {
    const { caller } = pair({});
    await assert.rejects(caller.call("nothing"), (error: unknown) => error instanceof IpcError && error.code === "IPC_UNKNOWN_METHOD" && /unknown IPC method nothing/.test(error.message));
  });

  test("no answer within the timeout rejects with IPC_TIMEOUT", async () => {
    const { caller, silence } = pair({ slow: () => 1 });
    silence();
    // IPC timers are unref'd (they must not keep a process alive): this one keeps the test's loop running.
    const hold = setTimeout(() => {}, 1_000);
    await assert.rejects(caller.callWithin(20, "slow"), (error: unknown) => error instanceof IpcError && error.code === "IPC_TIMEOUT" && /slow timed out after 20 ms/.test(error.message));
    clearTimeout(hold);
  });

  test("events reach every listener on the other side", async () => {
    const { caller, callee } = pair({});
    const seen: unknown[] = [];
    callee.on("ban", (payload) => seen.push(payload));
    callee.on("ban", (payload) => seen.push(payload));
    caller.emit("ban", { ip: "192.0.2.1" });
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(seen, [{ ip: "192.0.2.1" }, { ip: "192.0.2.1" }]);
  });

  test("toPrimary outside a cluster worker is IPC_NOT_A_WORKER", () => {
    assert.throws(() => IpcPeer.toPrimary(), (error: unknown) => error instanceof IpcError && error.code === "IPC_NOT_A_WORKER");
  });
});

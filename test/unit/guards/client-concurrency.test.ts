import assert from "node:assert/strict";
import { test } from "node:test";
import { ClientConcurrency } from "../../../src/guards/client-concurrency.js";

test("an address holds at most `limit` slots; releasing one lets the next in; other addresses are apart", () => {
  const concurrency = new ClientConcurrency();
  for (let i = 0; i < 3; i++) assert.ok(concurrency.tryAcquire("192.0.2.1", 3));
  assert.ok(!concurrency.tryAcquire("192.0.2.1", 3), "the fourth is refused");
  assert.ok(concurrency.tryAcquire("192.0.2.2", 3), "another address is not affected");
  concurrency.release("192.0.2.1");
  assert.ok(concurrency.tryAcquire("192.0.2.1", 3));
});

test("addresses that hold nothing are forgotten, so the map stays as small as the clients in progress", () => {
  const concurrency = new ClientConcurrency();
  concurrency.tryAcquire("192.0.2.1", 2);
  concurrency.tryAcquire("192.0.2.1", 2);
  concurrency.tryAcquire("2001:db8::1", 2);
  assert.equal(concurrency.addresses, 2);
  concurrency.release("192.0.2.1");
  concurrency.release("192.0.2.1");
  concurrency.release("2001:db8::1");
  assert.equal(concurrency.addresses, 0);
});

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { encodeName, readAnswer, signedUpdate, type TsigKey } from "../../../../../src/tls/acme/dns/dns-update-message.js";

const key: TsigKey = { name: "Rampart-Key", algorithm: "hmac-sha256", secret: Buffer.alloc(32, 1) };

describe("DNS UPDATE wire format", () => {
  test("names are length-prefixed lowercase labels ending in a zero byte; long labels are refused", () => {
    assert.deepEqual(encodeName("_ACME-challenge.Example.com."), Buffer.from("\x0f_acme-challenge\x07example\x03com\x00", "latin1"));
    assert.deepEqual(encodeName("example.com"), encodeName("example.com."));
    assert.throws(() => encodeName(`${"a".repeat(64)}.com`), /longer than 63 bytes/);
  });

  test("an UPDATE: opcode 5, one zone, one update, the TSIG record last with the key and algorithm names", () => {
    const { id, message, mac } = signedUpdate({ zone: "example.com.", name: "_acme-challenge.example.com.", value: "v".repeat(300), ttl: 60, action: "add" }, key, 1_700_000_000);
    assert.equal(message.readUInt16BE(0), id);
    assert.equal((message.readUInt16BE(2) >> 11) & 0xf, 5);
    assert.deepEqual([4, 6, 8, 10].map((at) => message.readUInt16BE(at)), [1, 0, 1, 1]);
    assert.equal(mac.length, 32);
    assert.ok(message.includes(Buffer.concat([encodeName("rampart-key"), Buffer.from([0, 250, 0, 255])])), "TSIG owner is the lowercased key name, type 250, class ANY");
    assert.ok(message.includes(encodeName("hmac-sha256.")));
    // A 300-byte value is two character-strings (255 + 45).
    assert.ok(message.includes(Buffer.concat([Buffer.from([255]), Buffer.from("v".repeat(255))])));
    assert.ok(message.includes(Buffer.concat([Buffer.from([45]), Buffer.from("v".repeat(45))])));
  });

  test("a deletion uses class NONE and TTL 0, so only that value goes", () => {
    const { message } = signedUpdate({ zone: "example.com.", name: "a.example.com.", value: "x", ttl: 60, action: "delete" }, key);
    assert.ok(message.includes(Buffer.concat([encodeName("a.example.com."), Buffer.from([0, 16, 0, 254, 0, 0, 0, 0])])));
  });

  test("answers: the response code is read; an unsigned answer is not verified; an answer to another id is refused", () => {
    const request = signedUpdate({ zone: "example.com.", name: "a.example.com.", value: "x", ttl: 60, action: "add" }, key);
    const answer = Buffer.alloc(12);
    answer.writeUInt16BE(request.id, 0);
    answer.writeUInt16BE(0xa800 | 9, 2); // QR, UPDATE, NOTAUTH
    assert.deepEqual(readAnswer(answer, request, key), { rcode: "NOTAUTH", tsigError: undefined, verified: false });
    answer.writeUInt16BE((request.id + 1) & 0xffff, 0);
    assert.throws(() => readAnswer(answer, request, key), /another query/);
  });
});

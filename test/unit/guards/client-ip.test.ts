// Client IP extraction: the socket peer unless it is a trusted proxy, then the right-most untrusted
// X-Forwarded-For hop. Spoofing from an untrusted peer must never work.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { resolveClientIp } from "../../../src/guards/client-ip.js";
import { canonicalIp, CidrSet } from "../../../src/guards/ip.js";

const none = new CidrSet([]);
const loopback = new CidrSet(["127.0.0.1/32"]);
const proxies = new CidrSet(["127.0.0.0/8", "10.0.0.0/8", "2001:db8:aa::/48"]);

describe("canonicalIp", () => {
  test("IPv4-mapped IPv6 becomes plain IPv4", () => {
    assert.equal(canonicalIp("::ffff:1.2.3.4"), "1.2.3.4");
    assert.equal(canonicalIp("::ffff:127.0.0.1"), "127.0.0.1");
    assert.equal(canonicalIp("::FFFF:1.2.3.4"), "1.2.3.4", "the prefix is matched whatever its case");
  });

  test("IPv4 unchanged, IPv6 lower-cased", () => {
    assert.equal(canonicalIp("203.0.113.7"), "203.0.113.7");
    assert.equal(canonicalIp("2001:DB8::1"), "2001:db8::1");
    assert.equal(canonicalIp("::1"), "::1");
  });

  test("anything that is not an address is the empty string", () => {
    for (const value of [undefined, "", "unknown", "1.2.3", "1.2.3.4.5", "256.1.1.1", "::ffff:999.1.1.1", "[::1]", "1.2.3.4:80", " 1.2.3.4", "<script>"]) {
      assert.equal(canonicalIp(value), "", String(value));
    }
  });
});

describe("CidrSet", () => {
  test("matches addresses and subnets of both families", () => {
    assert.equal(proxies.has("127.5.6.7"), true);
    assert.equal(proxies.has("10.255.0.1"), true);
    assert.equal(proxies.has("11.0.0.1"), false);
    assert.equal(proxies.has("2001:db8:aa:1::5"), true);
    assert.equal(proxies.has("2001:db8:ab::5"), false);
    assert.equal(new CidrSet(["192.0.2.1"]).has("192.0.2.1"), true);
    assert.equal(new CidrSet(["192.0.2.1"]).has("192.0.2.2"), false);
  });

  test("an empty set and an empty address never match", () => {
    assert.equal(none.has("127.0.0.1"), false);
    assert.equal(proxies.has(""), false);
  });
});

describe("resolveClientIp", () => {
  test("without trusted proxies the socket peer is the client, whatever X-Forwarded-For says", () => {
    assert.deepEqual(resolveClientIp("127.0.0.1", "203.0.113.7", none), { ip: "127.0.0.1", viaTrustedProxy: false });
    assert.deepEqual(resolveClientIp("::ffff:198.51.100.1", "203.0.113.7", none), { ip: "198.51.100.1", viaTrustedProxy: false });
  });

  test("an untrusted peer cannot spoof its address", () => {
    assert.deepEqual(resolveClientIp("198.51.100.1", "203.0.113.7, 127.0.0.1", proxies), { ip: "198.51.100.1", viaTrustedProxy: false });
  });

  test("a trusted peer without X-Forwarded-For is the client", () => {
    assert.deepEqual(resolveClientIp("127.0.0.1", undefined, proxies), { ip: "127.0.0.1", viaTrustedProxy: false });
  });

  test("the right-most untrusted hop is the client", () => {
    // 10.0.0.1 is not trusted by `loopback`, so it is the client; 203.0.113.7 is what it claimed.
    assert.deepEqual(resolveClientIp("127.0.0.1", "203.0.113.7, 10.0.0.1", loopback), { ip: "10.0.0.1", viaTrustedProxy: true });
    assert.deepEqual(resolveClientIp("127.0.0.1", "203.0.113.7, 10.0.0.1", proxies), { ip: "203.0.113.7", viaTrustedProxy: true });
    // Left of the client is whatever the client wrote: ignored.
    assert.deepEqual(resolveClientIp("127.0.0.1", "1.1.1.1, 2.2.2.2, 203.0.113.7, 10.0.0.1", proxies).ip, "203.0.113.7");
  });

  test("the peer is canonicalised before the trust check", () => {
    assert.equal(resolveClientIp("::ffff:127.0.0.1", "203.0.113.7", loopback).ip, "203.0.113.7");
  });

  test("when every hop is trusted, the left-most one is the client", () => {
    assert.deepEqual(resolveClientIp("127.0.0.1", "10.0.0.9, 10.0.0.1", proxies), { ip: "10.0.0.9", viaTrustedProxy: true });
  });

  test("hops are trimmed, ports removed and IPv4-mapped addresses normalised", () => {
    assert.equal(resolveClientIp("127.0.0.1", "  203.0.113.7:51234 ,10.0.0.1:80", proxies).ip, "203.0.113.7");
    assert.equal(resolveClientIp("127.0.0.1", "[2001:db8::7]:443", proxies).ip, "2001:db8::7");
    assert.equal(resolveClientIp("127.0.0.1", "2001:DB8::7", proxies).ip, "2001:db8::7");
    assert.equal(resolveClientIp("127.0.0.1", "::ffff:203.0.113.7", proxies).ip, "203.0.113.7");
    assert.equal(resolveClientIp("127.0.0.1", "[::ffff:203.0.113.7]:8080", proxies).ip, "203.0.113.7");
    assert.equal(resolveClientIp("::ffff:127.0.0.1", "203.0.113.7, ::ffff:10.0.0.1", proxies).ip, "203.0.113.7");
  });

  test("a garbage hop ends the chain: the last identity known is the client", () => {
    assert.equal(resolveClientIp("127.0.0.1", "203.0.113.7, garbage, 10.0.0.1", proxies).ip, "10.0.0.1");
    assert.equal(resolveClientIp("127.0.0.1", "203.0.113.7, unknown", proxies).ip, "127.0.0.1");
    assert.equal(resolveClientIp("127.0.0.1", "", proxies).ip, "127.0.0.1");
    assert.equal(resolveClientIp("127.0.0.1", " , ", proxies).ip, "127.0.0.1");
    assert.equal(resolveClientIp("127.0.0.1", "203.0.113.7,,10.0.0.1", proxies).ip, "10.0.0.1");
    // The garbage cannot be used to make a trusted hop the client's claim.
    assert.equal(resolveClientIp("127.0.0.1", "_hidden, 198.51.100.4", proxies).ip, "198.51.100.4");
  });

  test("an IPv6 trusted proxy works the same way", () => {
    assert.equal(resolveClientIp("2001:db8:aa::1", "203.0.113.7", proxies).ip, "203.0.113.7");
    assert.equal(resolveClientIp("2001:db8:bb::1", "203.0.113.7", proxies).ip, "2001:db8:bb::1");
  });

  test("an unknown peer address is the empty identity, never a header value", () => {
    assert.deepEqual(resolveClientIp(undefined, "203.0.113.7", proxies), { ip: "", viaTrustedProxy: false });
  });
});

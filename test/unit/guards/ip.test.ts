// CIDR sets: IPv4 and IPv6 subnets and single addresses, and verdicts that stay right when they are
// remembered, also past the number of addresses the set remembers.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CidrSet, canonicalIp } from "../../../src/guards/ip.js";

describe("CidrSet", () => {
  test("subnets and single addresses, both families; nothing matches an empty set", () => {
    const set = new CidrSet(["203.0.113.0/24", "198.51.100.7", "2001:db8::/32"]);
    assert.equal(set.has("203.0.113.200"), true);
    assert.equal(set.has("203.0.114.1"), false);
    assert.equal(set.has("198.51.100.7"), true);
    assert.equal(set.has("198.51.100.8"), false);
    assert.equal(set.has("2001:db8:1::5"), true);
    assert.equal(set.has("2001:db9::5"), false);
    assert.equal(set.has(""), false);
    assert.equal(new CidrSet([]).has("203.0.113.1"), false);
  });

  test("asked again, and past the remembered addresses, every verdict is the same", () => {
    const set = new CidrSet(["10.0.0.0/17"]);
    // 10.0.0.0–10.0.127.255 inside, 10.0.128.0–10.0.255.255 outside: 10,000 addresses, each asked twice.
    const addresses = Array.from({ length: 10_000 }, (_, index) => `10.0.${index % 256}.${Math.floor(index / 256)}`);
    for (let round = 0; round < 2; round++) {
      for (const address of addresses) assert.equal(set.has(address), Number(address.split(".")[2]) < 128, `${address}, round ${round + 1}`);
    }
  });
});

describe("canonicalIp", () => {
  test("IPv4-mapped IPv6 is the IPv4 address, IPv6 is lower-cased, anything else is empty", () => {
    assert.equal(canonicalIp("::FFFF:192.0.2.1"), "192.0.2.1");
    assert.equal(canonicalIp("2001:DB8::1"), "2001:db8::1");
    assert.equal(canonicalIp("not an address"), "");
    assert.equal(canonicalIp(undefined), "");
  });
});

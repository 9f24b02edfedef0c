import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Balancer } from "../../../../src/upstream/balancers/balancer.js";
import { BALANCERS, createBalancer, type BalancerKind } from "../../../../src/upstream/balancers/index.js";
import { ipHashBalancer } from "../../../../src/upstream/balancers/ip-hash.js";
import { leastRequestsBalancer } from "../../../../src/upstream/balancers/least-requests.js";
import { mulberry32, seededRandom } from "../../../../src/upstream/balancers/prng.js";
import { randomBalancer } from "../../../../src/upstream/balancers/random.js";
import { roundRobinBalancer } from "../../../../src/upstream/balancers/round-robin.js";
import { Target, type TargetMetrics } from "../../../../src/upstream/target.js";

const METRICS: TargetMetrics = {
  upstreamDuration: { observe() {} },
  healthy: { set() {} },
  breakerState: { set() {} },
  status5xx: { inc() {} },
};
const NOW = 1_700_000_000_000;
const SLOW_START = 30_000;

/** Targets on 127.0.0.1:3001, :3002, … with the given weights. */
function targets(...weights: number[]): Target[] {
  return weights.map((weight, i) => {
    const target = new Target("svc", `http://127.0.0.1:${3001 + i}`, METRICS);
    target.weight = weight;
    return target;
  });
}

/** Puts `target` halfway through a 30 s slow start at NOW, so its effective weight is half its weight. */
function halfRamped(target: Target): Target {
  target.slowStart = SLOW_START;
  target.recoveredAt = NOW - SLOW_START / 2;
  return target;
}

/** `count` pseudo-random IPv4 addresses, the same ones on every run. */
function ips(count: number, seed = 42): string[] {
  const random = mulberry32(seed);
  const byte = () => Math.floor(random() * 256);
  return Array.from({ length: count }, () => `${byte()}.${byte()}.${byte()}.${byte()}`);
}

/** How many of `picks` calls chose each target. */
function tally(balancer: Balancer, candidates: readonly Target[], picks: number, clientIp = "203.0.113.7"): Map<Target, number> {
  const counts = new Map<Target, number>(candidates.map((target) => [target, 0]));
  for (let i = 0; i < picks; i++) {
    const chosen = balancer.pick(candidates, { clientIp, now: NOW });
    counts.set(chosen, (counts.get(chosen) ?? 0) + 1);
  }
  return counts;
}

const share = (counts: Map<Target, number>, target: Target, total: number) => ((counts.get(target) ?? 0) / total) * 100;

/** Asserts `actual` is within `tolerance` of `expected` (percentage points, ratios…). */
function near(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} is not within ${tolerance} of ${expected}`);
}

describe("round-robin (smooth weighted)", () => {
  test("equal weights split exactly evenly", () => {
    const all = targets(1, 1, 1);
    const counts = tally(roundRobinBalancer(all), all, 3000);
    for (const target of all) assert.equal(counts.get(target), 1000);
  });

  test("a 95/5 canary split lands within ±1.5 points over 10,000 requests", () => {
    const all = targets(95, 5);
    const counts = tally(roundRobinBalancer(all), all, 10_000);
    near(share(counts, all[0]!, 10_000), 95, 1.5, "stable share");
    near(share(counts, all[1]!, 10_000), 5, 1.5, "canary share");
    // Smooth WRR is exact over whole cycles.
    assert.equal(counts.get(all[1]!), 500);
  });

  test("weights 5:1:1 interleave like nginx (a a b a c a a), never a burst of five", () => {
    const all = targets(5, 1, 1);
    const [a, b, c] = all;
    const balancer = roundRobinBalancer(all);
    const names = new Map([
      [a, "a"],
      [b, "b"],
      [c, "c"],
    ]);
    const sequence = Array.from({ length: 14 }, () => names.get(balancer.pick(all, { clientIp: "", now: NOW })));
    assert.deepEqual(sequence.join(" "), "a a b a c a a a a b a c a a");
  });

  test("a target that is not a candidate gets nothing, and rejoins the rotation when passed again", () => {
    const all = targets(1, 1, 1);
    const [a, b, c] = all;
    const balancer = roundRobinBalancer(all);
    const without = tally(balancer, [a!, c!], 2000);
    assert.equal(without.get(b!) ?? 0, 0);
    assert.equal(without.get(a!), 1000);
    assert.equal(without.get(c!), 1000);
    const back = tally(balancer, all, 3000);
    for (const target of all) near(back.get(target)!, 1000, 1, `share of ${target.key} after b returns`);
  });

  test("a target halfway through slow start gets about half its share", () => {
    const all = targets(1, 1);
    const [steady, ramping] = all;
    halfRamped(ramping!);
    assert.equal(ramping!.effectiveWeight(NOW), 0.5);
    const counts = tally(roundRobinBalancer(all), all, 3000);
    near(counts.get(ramping!)! / counts.get(steady!)!, 0.5, 0.01, "ramping/steady");
  });

  test("weight 0 is never picked while another candidate has weight; all 0 falls back to an even rotation", () => {
    const mixed = targets(0, 1, 1);
    const counts = tally(roundRobinBalancer(mixed), mixed, 1000);
    assert.equal(counts.get(mixed[0]!), 0);
    const zero = targets(0, 0, 0);
    const even = tally(roundRobinBalancer(zero), zero, 300);
    for (const target of zero) assert.equal(even.get(target), 100);
  });

  test("a candidate the factory was not given is still balanced", () => {
    const all = targets(1, 1);
    const stranger = targets(1, 1, 1)[2]!;
    const candidates = [...all, stranger];
    const counts = tally(roundRobinBalancer(all), candidates, 3000);
    for (const target of candidates) assert.equal(counts.get(target), 1000);
  });
});

describe("least-requests (power of two choices)", () => {
  test("a single candidate is returned as is", () => {
    const [only] = targets(1);
    only!.inFlight = 99;
    assert.equal(leastRequestsBalancer([only!], mulberry32(1)).pick([only!], { clientIp: "", now: NOW }), only);
  });

  test("prefers the target with fewer requests in flight", () => {
    const all = targets(1, 1);
    all[0]!.inFlight = 10;
    const counts = tally(leastRequestsBalancer(all, mulberry32(2)), all, 10_000);
    assert.ok(share(counts, all[1]!, 10_000) > 90, `idle target got ${share(counts, all[1]!, 10_000)}%`);
  });

  test("with three targets the busiest is never one of the two it picks from", () => {
    const all = targets(1, 1, 1);
    all[1]!.inFlight = 10;
    all[2]!.inFlight = 3;
    const counts = tally(leastRequestsBalancer(all, mulberry32(3)), all, 9000);
    assert.equal(counts.get(all[1]!), 0);
    // a (idle) wins whenever it is sampled (2 of 3 pairs); c only from the pair (b, c).
    near(share(counts, all[0]!, 9000), 66.7, 2.5, "idle share");
  });

  test("idle targets with equal weights split evenly", () => {
    const all = targets(1, 1, 1, 1);
    const counts = tally(leastRequestsBalancer(all, mulberry32(4)), all, 10_000);
    for (const target of all) near(share(counts, target, 10_000), 25, 2, `share of ${target.key}`);
  });

  test("weights split idle traffic in proportion, and load is compared per unit of weight", () => {
    const all = targets(3, 1);
    const [heavy, light] = all;
    const idle = tally(leastRequestsBalancer(all, mulberry32(5)), all, 10_000);
    near(share(idle, heavy!, 10_000), 75, 2, "heavy share when idle");
    // 4 in flight on weight 3 is less loaded than 2 on weight 1.
    heavy!.inFlight = 4;
    light!.inFlight = 2;
    const loaded = tally(leastRequestsBalancer(all, mulberry32(6)), all, 1000);
    assert.equal(loaded.get(heavy!), 1000);
    // 4 on weight 3 is more loaded than 1 on weight 1.
    light!.inFlight = 1;
    const lighter = tally(leastRequestsBalancer(all, mulberry32(7)), all, 1000);
    assert.equal(lighter.get(light!), 1000);
  });

  test("slow start lowers a ramping target's share; weight 0 only when everything is 0", () => {
    const all = targets(1, 1, 1);
    halfRamped(all[2]!);
    const counts = tally(leastRequestsBalancer(all, mulberry32(8)), all, 10_000);
    // Weighted two-choice sampling of 1:1:0.5 with idle targets: the ramping one is first-drawn 20% of the time.
    near(share(counts, all[2]!, 10_000), 20, 2, "ramping share");

    const mixed = targets(0, 1, 1);
    assert.equal(tally(leastRequestsBalancer(mixed, mulberry32(9)), mixed, 2000).get(mixed[0]!), 0);
    const lone = targets(0, 2, 0);
    assert.equal(tally(leastRequestsBalancer(lone, mulberry32(10)), lone, 500).get(lone[1]!), 500);
    const zero = targets(0, 0);
    const even = tally(leastRequestsBalancer(zero, mulberry32(11)), zero, 10_000);
    near(share(even, zero[0]!, 10_000), 50, 2, "all-zero share");
  });

  test("works with the default random source", () => {
    const all = targets(1, 1);
    all[0]!.inFlight = 5;
    const counts = tally(leastRequestsBalancer(all), all, 100);
    assert.equal(counts.get(all[1]!), 100);
  });
});

describe("ip-hash (consistent hashing)", () => {
  test("the same client always gets the same target", () => {
    const all = targets(1, 1, 1, 1);
    const balancer = ipHashBalancer(all);
    for (const ip of ips(50, 7).concat(["2001:db8::1", "::ffff:192.0.2.1"])) {
      const first = balancer.pick(all, { clientIp: ip, now: NOW });
      for (let i = 0; i < 100; i++) assert.equal(balancer.pick(all, { clientIp: ip, now: NOW }), first);
      // A second balancer over the same targets agrees: the ring depends on addresses only.
      assert.equal(ipHashBalancer(all).pick(all, { clientIp: ip, now: NOW }), first);
    }
  });

  test("clients spread roughly evenly (each target within ±35% of its fair share)", () => {
    const all = targets(1, 1, 1, 1);
    const balancer = ipHashBalancer(all);
    const counts = new Map<Target, number>();
    for (const ip of ips(10_000)) {
      const chosen = balancer.pick(all, { clientIp: ip, now: NOW });
      counts.set(chosen, (counts.get(chosen) ?? 0) + 1);
    }
    for (const target of all) near(counts.get(target) ?? 0, 2500, 2500 * 0.35, `clients of ${target.key}`);
  });

  test("weights give proportionally more clients", () => {
    const all = targets(3, 1);
    const balancer = ipHashBalancer(all);
    let heavy = 0;
    for (const ip of ips(10_000)) if (balancer.pick(all, { clientIp: ip, now: NOW }) === all[0]) heavy++;
    near(heavy / 100, 75, 5, "heavy share");
  });

  test("adding a fifth target moves only about a fifth of the clients, all of them to the new target", () => {
    const five = targets(1, 1, 1, 1, 1);
    const four = five.slice(0, 4);
    const before = ipHashBalancer(four);
    const after = ipHashBalancer(five);
    let moved = 0;
    for (const ip of ips(10_000)) {
      const was = before.pick(four, { clientIp: ip, now: NOW });
      const is = after.pick(five, { clientIp: ip, now: NOW });
      if (was === is) continue;
      moved++;
      assert.equal(is, five[4], `${ip} moved between two old targets`);
    }
    assert.ok(moved / 10_000 < 0.3, `moved ${moved / 100}% of clients`);
    assert.ok(moved / 10_000 > 0.1, `moved only ${moved / 100}% of clients: is the new target getting any?`);
  });

  test("an ineligible target's clients move; everyone else's stay put", () => {
    const all = targets(1, 1, 1, 1);
    const [a, b, c, d] = all;
    const balancer = ipHashBalancer(all);
    const healthy = [a!, b!, d!];
    const landedOn = new Map<Target, number>();
    let orphans = 0;
    for (const ip of ips(10_000)) {
      const was = balancer.pick(all, { clientIp: ip, now: NOW });
      const is = balancer.pick(healthy, { clientIp: ip, now: NOW });
      assert.notEqual(is, c);
      if (was === c) {
        orphans++;
        landedOn.set(is, (landedOn.get(is) ?? 0) + 1);
      } else {
        assert.equal(is, was, `${ip} moved although its target stayed healthy`);
      }
      // And back: when c returns, exactly its clients return to it.
      assert.equal(balancer.pick(all, { clientIp: ip, now: NOW }), was);
    }
    assert.ok(orphans > 0);
    // The orphans spread over the survivors rather than piling onto c's ring neighbour.
    for (const survivor of healthy) assert.ok((landedOn.get(survivor) ?? 0) > orphans * 0.15, `${survivor.key} took ${landedOn.get(survivor)} of ${orphans}`);
  });

  test("slow start: a half-ramped target keeps about half its clients, and keeps them as the ramp rises", () => {
    const all = targets(1, 1, 1, 1);
    const ramping = all[3]!;
    const balancer = ipHashBalancer(all);
    const clients = ips(10_000);
    const full = clients.filter((ip) => balancer.pick(all, { clientIp: ip, now: NOW }) === ramping);
    halfRamped(ramping);
    const half = clients.filter((ip) => balancer.pick(all, { clientIp: ip, now: NOW }) === ramping);
    near(half.length / full.length, 0.5, 0.1, "half-ramp share of its clients");
    // Only its own clients, never anyone else's.
    const own = new Set(full);
    for (const ip of half) assert.ok(own.has(ip));
    // Three quarters of the way: a superset of the clients it had at half.
    const later = NOW + SLOW_START / 4;
    for (const ip of half) assert.equal(balancer.pick(all, { clientIp: ip, now: later }), ramping);
  });

  test("a weightless or unknown candidate is still answered, stably", () => {
    const all = targets(1, 1);
    const balancer = ipHashBalancer(all);
    const strangers = targets(1, 1, 1).slice(2);
    const chosen = balancer.pick(strangers, { clientIp: "198.51.100.9", now: NOW });
    assert.equal(chosen, strangers[0]);
    const zero = targets(0, 0, 0);
    const zeroBalancer = ipHashBalancer(zero);
    const first = zeroBalancer.pick(zero, { clientIp: "198.51.100.9", now: NOW });
    assert.equal(zeroBalancer.pick(zero, { clientIp: "198.51.100.9", now: NOW }), first);
  });
});

describe("random (weighted)", () => {
  test("a 95/5 split lands within ±1.5 points over 10,000 requests", () => {
    const all = targets(95, 5);
    const counts = tally(randomBalancer(all, mulberry32(12)), all, 10_000);
    near(share(counts, all[1]!, 10_000), 5, 1.5, "canary share");
  });

  test("equal weights split roughly evenly; slow start scales the share", () => {
    const all = targets(1, 1, 1);
    const even = tally(randomBalancer(all, mulberry32(13)), all, 9000);
    for (const target of all) near(share(even, target, 9000), 33.3, 2, `share of ${target.key}`);
    halfRamped(all[2]!);
    const ramped = tally(randomBalancer(all, mulberry32(14)), all, 10_000);
    near(share(ramped, all[2]!, 10_000), 20, 2, "ramping share (0.5 of 2.5)");
  });

  test("weight 0 is not picked unless every candidate weighs 0", () => {
    const mixed = targets(0, 1);
    assert.equal(tally(randomBalancer(mixed, mulberry32(15)), mixed, 1000).get(mixed[1]!), 1000);
    const zero = targets(0, 0);
    near(share(tally(randomBalancer(zero, mulberry32(16)), zero, 10_000), zero[0]!, 10_000), 50, 2, "all-zero share");
  });
});

describe("random source", () => {
  test("mulberry32 is deterministic per seed and stays in [0, 1)", () => {
    const a = mulberry32(123);
    const b = mulberry32(123);
    let sum = 0;
    for (let i = 0; i < 10_000; i++) {
      const value = a();
      assert.equal(value, b());
      assert.ok(value >= 0 && value < 1);
      sum += value;
    }
    near(sum / 10_000, 0.5, 0.02, "mean");
    assert.notEqual(mulberry32(1)(), mulberry32(2)());
  });

  test("seededRandom gives independent generators", () => {
    const first = seededRandom();
    const second = seededRandom();
    const same = Array.from({ length: 8 }, () => first() === second()).every(Boolean);
    assert.equal(same, false);
  });
});

describe("createBalancer", () => {
  test("every configurable kind builds a balancer that picks among the candidates", () => {
    const all = targets(1, 2, 3);
    const kinds = Object.keys(BALANCERS) as BalancerKind[];
    assert.deepEqual(kinds.sort(), ["ip-hash", "least-requests", "random", "round-robin"]);
    for (const kind of kinds) {
      const balancer = createBalancer(kind, all);
      for (let i = 0; i < 50; i++) {
        const chosen = balancer.pick([all[0]!, all[2]!], { clientIp: `10.0.0.${i}`, now: NOW });
        assert.ok(chosen === all[0] || chosen === all[2], `${kind} picked a non-candidate`);
      }
    }
  });

  test("no strategy mutates the candidates it is given", () => {
    const all = Object.freeze(targets(1, 1, 1));
    for (const kind of Object.keys(BALANCERS) as BalancerKind[]) {
      const balancer = createBalancer(kind, all);
      for (let i = 0; i < 20; i++) balancer.pick(all, { clientIp: `10.0.0.${i}`, now: NOW });
    }
  });
});

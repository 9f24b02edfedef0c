// The random source of the random and least-requests balancers. Not Math.random: on Node 20 every
// Math.random() call allocates a heap number (measured: ~16 bytes per call, a young-generation GC every
// ~65,000 calls), and the balancers promise not to allocate per pick. mulberry32 keeps its state in one
// int32 and returns an unboxed double once inlined. Picking a backend needs spread, not secrecy: the
// seed comes from the OS only so that processes and balancers do not walk in lockstep.
import { randomBytes } from "node:crypto";

/** A source of uniform numbers in [0, 1), like Math.random. */
export type RandomSource = () => number;

/**
 * mulberry32 (Tommy Ettinger, public domain; https://gist.github.com/tommyettinger/46a874533244883189143505d203312c):
 * 32 bits of state, a few integer operations, deterministic for a seed. Not of cryptographic or
 * simulation grade, and it need not be: its only job is an even spread over a handful of targets.
 */
export function mulberry32(seed: number): RandomSource {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fresh generator seeded from the OS; the default random source of every balancer that needs one. */
export function seededRandom(): RandomSource {
  return mulberry32(randomBytes(4).readInt32LE(0));
}

// The ban set every connection and request is checked against: a Map lookup, never a store round trip
// (DESIGN.md: "Bans are checked in memory on every request"). IPv4 addresses are keyed as 32-bit
// integers (small integers in V8, no string allocated) and IPv6 addresses by their /ipv6Prefix, so one
// host cannot dodge a ban by rotating through the addresses of its own /64. A million bans stay around
// 100 MB and the check is O(1) whatever the count.
import { isIPv4 } from "node:net";

export interface Ban {
  /** The banned address, or the IPv6 prefix as "2001:db8:1:2::/64". */
  readonly ip: string;
  readonly jail: string;
  /** Epoch milliseconds. */
  readonly until: number;
  readonly reason: string;
}

type BanKey = number | string;

export class BanList {
  readonly #ipv6Prefix: number;
  readonly #maxEntries: number;
  readonly #bans = new Map<BanKey, Ban>();

  constructor(ipv6Prefix: number, maxEntries: number) {
    this.#ipv6Prefix = ipv6Prefix;
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#bans.size;
  }

  /** The ban covering `ip` (canonical form), if one is in force. Expired bans are dropped on sight. */
  find(ip: string, now = Date.now()): Ban | undefined {
    const key = this.keyOf(ip);
    const ban = this.#bans.get(key);
    if (ban === undefined) return undefined;
    if (ban.until > now) return ban;
    this.#bans.delete(key);
    return undefined;
  }

  /** The text form under which a ban on `ip` is stored and listed (its prefix for IPv6). */
  subject(ip: string): string {
    return isIPv4(ip) ? ip : `${ipv6PrefixOf(ip, this.#ipv6Prefix)}/${this.#ipv6Prefix}`;
  }

  add(ban: Ban): void {
    const key = this.keyOf(ban.ip.split("/")[0]!);
    if (!this.#bans.has(key) && this.#bans.size >= this.#maxEntries) this.#evictOne();
    this.#bans.set(key, { ...ban, ip: this.subject(ban.ip.split("/")[0]!) });
  }

  /** True when a ban was lifted. */
  remove(ip: string): boolean {
    return this.#bans.delete(this.keyOf(ip.split("/")[0]!));
  }

  /** Bans in force now. */
  list(now = Date.now()): Ban[] {
    const active: Ban[] = [];
    for (const [key, ban] of this.#bans) {
      if (ban.until > now) active.push(ban);
      else this.#bans.delete(key);
    }
    return active;
  }

  /** Drops expired bans; returns how many went. */
  sweep(now = Date.now()): number {
    let removed = 0;
    for (const [key, ban] of this.#bans) {
      if (ban.until <= now) {
        this.#bans.delete(key);
        removed++;
      }
    }
    return removed;
  }

  keyOf(ip: string): BanKey {
    return isIPv4(ip) ? ipv4ToInt(ip) : ipv6PrefixOf(ip, this.#ipv6Prefix);
  }

  // Over the cap, an expired ban goes first, else the oldest inserted (Map order): bounded memory
  // matters more than which of two million bans survives.
  #evictOne(): void {
    const now = Date.now();
    for (const [key, ban] of this.#bans) {
      if (ban.until <= now) {
        this.#bans.delete(key);
        return;
      }
    }
    const oldest = this.#bans.keys().next();
    if (!oldest.done) this.#bans.delete(oldest.value);
  }
}

/** "1.2.3.4" → a signed 32-bit integer (a V8 small integer, so the key allocates nothing). */
export function ipv4ToInt(ip: string): number {
  let value = 0;
  let octet = 0;
  for (let i = 0; i < ip.length; i++) {
    const code = ip.charCodeAt(i);
    if (code === 46 /* "." */) {
      value = (value << 8) | octet;
      octet = 0;
    } else {
      octet = octet * 10 + (code - 48);
    }
  }
  return (value << 8) | octet;
}

/** The first `bits` bits of an IPv6 address, as a canonical string ("2001:db8:0:1::"). */
export function ipv6PrefixOf(ip: string, bits: number): string {
  const groups = expandIpv6(ip);
  const out: number[] = [];
  for (let index = 0; index < 8; index++) {
    const keep = Math.max(0, Math.min(16, bits - index * 16));
    const mask = keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff;
    out.push(groups[index]! & mask);
  }
  return compressIpv6(out);
}

function expandIpv6(ip: string): number[] {
  let text = ip.toLowerCase();
  // An embedded IPv4 tail ("::ffff:1.2.3.4") becomes its two hex groups.
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    const v4 = ipv4ToInt(tail) >>> 0;
    text = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head = "", rest] = text.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = rest === undefined || rest === "" ? [] : rest.split(":");
  const missing = 8 - left.length - right.length;
  return [...left, ...Array<string>(rest === undefined ? 0 : missing).fill("0"), ...right].map((group) => parseInt(group, 16) || 0);
}

function compressIpv6(groups: readonly number[]): string {
  // The longest run of zero groups becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLength = 0;
  for (let index = 0; index < 8; ) {
    if (groups[index] !== 0) {
      index++;
      continue;
    }
    let end = index;
    while (end < 8 && groups[end] === 0) end++;
    if (end - index > bestLength && end - index > 1) {
      bestStart = index;
      bestLength = end - index;
    }
    index = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

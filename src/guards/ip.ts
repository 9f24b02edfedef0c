// IP address helpers shared by every guard: one canonical text form per address, and CIDR sets backed
// by node's BlockList (native, no per-check allocation).
import { BlockList, isIP, isIPv4 } from "node:net";

/** "::ffff:1.2.3.4" → "1.2.3.4"; IPv6 lower-cased. Returns "" for anything that is not an IP. */
export function canonicalIp(address: string | undefined): string {
  if (address === undefined) return "";
  // The prefix is matched whatever its case: "::FFFF:1.2.3.4" is the same client as "1.2.3.4".
  if (address.charCodeAt(0) === 58 /* ":" */ && address.slice(0, 7).toLowerCase() === "::ffff:" && isIPv4(address.slice(7))) return address.slice(7);
  const family = isIP(address);
  if (family === 4) return address;
  if (family === 6) return address.toLowerCase();
  return "";
}

export class CidrSet {
  readonly #list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [address = "", prefix] = cidr.split("/");
      const ip = canonicalIp(address);
      const family = isIPv4(ip) ? "ipv4" : "ipv6";
      if (prefix === undefined) this.#list.addAddress(ip, family);
      else this.#list.addSubnet(ip, Number(prefix), family);
    }
    this.size = cidrs.length;
  }

  /** `ip` must already be canonical. */
  has(ip: string): boolean {
    if (this.size === 0 || ip === "") return false;
    return this.#list.check(ip, isIPv4(ip) ? "ipv4" : "ipv6");
  }
}

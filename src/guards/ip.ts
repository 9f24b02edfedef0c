// IP address helpers shared by every guard: one canonical text form per address, and CIDR sets backed
// by node's BlockList, with each address's verdict remembered (see CidrSet).
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

/** Addresses whose verdict a CidrSet remembers; past it the memory starts over (a flood of new addresses costs what it did). */
const REMEMBERED = 4_096;

export class CidrSet {
  readonly #list = new BlockList();
  /**
   * Verdicts by address: BlockList.check() builds a native SocketAddress for every string it is given
   * (Node 20 and 24), which cost 2-3% of a request's CPU in the guarded profile; a client asks many
   * times from one address. The set never changes (a reload builds a new one), so a verdict never goes stale.
   */
  readonly #verdicts = new Map<string, boolean>();
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
    const known = this.#verdicts.get(ip);
    if (known !== undefined) return known;
    const verdict = this.#list.check(ip, isIPv4(ip) ? "ipv4" : "ipv6");
    if (this.#verdicts.size >= REMEMBERED) this.#verdicts.clear();
    this.#verdicts.set(ip, verdict);
    return verdict;
  }
}

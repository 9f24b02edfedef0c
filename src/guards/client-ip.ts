// The client's identity, which every limit and ban keys on. The socket peer is the client unless it is
// a trusted proxy; then X-Forwarded-For is read from the right, skipping trusted hops, and the first
// untrusted address is the client. Reading from the right matters: the left of the header is whatever
// the client wrote, so taking it would let anyone pick the IP they are limited and banned as.
import { canonicalIp, type CidrSet } from "./ip.js";

export interface ResolvedClient {
  readonly ip: string;
  readonly viaTrustedProxy: boolean;
}

export function resolveClientIp(peerAddress: string | undefined, forwardedFor: string | undefined, trusted: CidrSet): ResolvedClient {
  const peer = canonicalIp(peerAddress);
  if (trusted.size === 0 || forwardedFor === undefined || !trusted.has(peer)) return { ip: peer, viaTrustedProxy: false };

  let client = peer;
  const hops = forwardedFor.split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = canonicalIp(stripPort(hops[i]!.trim()));
    // A hop that is not an address was written by someone we cannot trust: the hop after it (the proxy
    // that appended it) is the last identity we know.
    if (hop === "") break;
    client = hop;
    if (!trusted.has(hop)) break;
  }
  return { ip: client, viaTrustedProxy: true };
}

/** "1.2.3.4:5678" → "1.2.3.4", "[2001:db8::1]:443" → "2001:db8::1"; bare addresses unchanged. */
function stripPort(hop: string): string {
  if (hop.startsWith("[")) {
    const end = hop.indexOf("]");
    return end === -1 ? hop : hop.slice(1, end);
  }
  const colon = hop.indexOf(":");
  return colon !== -1 && colon === hop.lastIndexOf(":") ? hop.slice(0, colon) : hop;
}

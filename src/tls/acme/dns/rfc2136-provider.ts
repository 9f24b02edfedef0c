// rfc2136: publishes the challenge with a dynamic DNS UPDATE signed with TSIG, to any authoritative
// server that accepts one (BIND, Knot, PowerDNS, Windows DNS). Sent over TCP (RFC 7766 makes TCP
// mandatory for every DNS server), so a lost datagram needs no retransmission logic here.
import net from "node:net";
import { Resolver } from "node:dns/promises";
import type { AcmeDnsConfig } from "../../../config/schema.js";
import { DnsChallengeError } from "./dns-errors.js";
import type { DnsProvider } from "./dns-provider.js";
import { readAnswer, signedUpdate, type SignedUpdate, type TsigKey, type TxtChange } from "./dns-update-message.js";
import { parseDnsServer } from "./dns-server.js";

type Rfc2136Config = NonNullable<AcmeDnsConfig["rfc2136"]>;

export class Rfc2136Provider implements DnsProvider {
  readonly #config: Rfc2136Config;
  readonly #key: TsigKey;
  readonly #server: { host: string; port: number };

  constructor(config: Rfc2136Config) {
    this.#config = config;
    this.#key = { name: config.keyName, algorithm: config.algorithm, secret: Buffer.from(config.secret, "base64") };
    this.#server = parseDnsServer(config.server);
  }

  async present(fqdn: string, value: string): Promise<void> {
    await this.#update({ zone: await this.#zoneOf(fqdn), name: fqdn, value, ttl: this.#config.ttl, action: "add" });
  }

  async cleanup(fqdn: string, value: string): Promise<void> {
    await this.#update({ zone: await this.#zoneOf(fqdn), name: fqdn, value, ttl: 0, action: "delete" });
  }

  async #update(change: TxtChange): Promise<void> {
    const request = signedUpdate(change, this.#key);
    const answer = readAnswer(await this.#exchange(request), request, this.#key);
    const at = `${this.#config.server} (zone ${change.zone})`;
    if (answer.rcode !== "NOERROR" || answer.tsigError !== undefined) {
      const reason = answer.tsigError === undefined ? answer.rcode : `${answer.rcode}, TSIG ${answer.tsigError}`;
      throw new DnsChallengeError("DNS_UPDATE_REFUSED", `DNS UPDATE ${change.action} of ${change.name} refused by ${at}: ${reason}`);
    }
    if (!answer.verified) {
      throw new DnsChallengeError("DNS_UPDATE_UNVERIFIED", `the answer from ${at} to a signed UPDATE is not signed with key "${this.#key.name}"`);
    }
  }

  /** One request and its answer over TCP, each framed by a two-byte length. */
  #exchange(request: SignedUpdate): Promise<Buffer> {
    const { host, port } = this.#server;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      let received = Buffer.alloc(0);
      const fail = (error: Error) => {
        socket.destroy();
        reject(new DnsChallengeError("DNS_UPDATE_UNREACHABLE", `DNS server ${this.#config.server}: ${error.message}`, { cause: error }));
      };
      socket.setTimeout(this.#config.timeout, () => fail(new Error(`no answer within ${this.#config.timeout} ms`)));
      socket.on("error", fail);
      socket.on("connect", () => {
        const length = Buffer.alloc(2);
        length.writeUInt16BE(request.message.length);
        socket.write(Buffer.concat([length, request.message]));
      });
      socket.on("data", (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
        socket.destroy();
        resolve(received.subarray(2, 2 + received.readUInt16BE(0)));
      });
      socket.on("end", () => fail(new Error("closed the connection before answering")));
    });
  }

  /** The configured zone, else the closest enclosing name with an SOA record at the server itself. */
  async #zoneOf(fqdn: string): Promise<string> {
    if (this.#config.zone !== "") return this.#config.zone;
    const resolver = new Resolver({ timeout: Math.min(this.#config.timeout, 5_000), tries: 2 });
    resolver.setServers([this.#config.server]);
    const labels = fqdn.replace(/\.$/, "").split(".");
    for (let i = 1; i < labels.length - 1; i++) {
      const candidate = labels.slice(i).join(".");
      try {
        await resolver.resolveSoa(candidate);
        return `${candidate}.`;
      } catch {
        // Not a zone apex here: try the parent.
      }
    }
    throw new DnsChallengeError("DNS_ZONE_NOT_FOUND", `no zone for ${fqdn} at ${this.#config.server}; set tls.acme.dns.rfc2136.zone`);
  }
}

// A real authoritative DNS server for tests: Debian's BIND 9 (`named`) on a free loopback port, serving
// one zone that accepts dynamic updates signed with a TSIG key (what rfc2136 providers talk to). Every
// name in the zone has an A record for 127.0.0.1, so pebble can also be pointed at it.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { Resolver } from "node:dns/promises";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./backend.js";

export interface Bind {
  /** "127.0.0.1:PORT": for rfc2136.server, tls.acme.dns.resolvers and pebble's -dnsserver. */
  readonly server: string;
  readonly zone: string;
  readonly keyName: string;
  readonly algorithm: "hmac-sha256";
  /** The TSIG secret, base64. */
  readonly secret: string;
  /** The TXT values of `name` as BIND answers them now ([] when there are none). */
  txt(name: string): Promise<string[]>;
  close(): Promise<void>;
}

/** BIND's files for one zone open to updates signed with `keyName`: every name resolves to 127.0.0.1. Returns named.conf's path. */
export async function writeBindFiles(dir: string, port: number, zone: string, keyName: string, secret: string): Promise<string> {
  await writeFile(
    join(dir, `${zone}.zone`),
    ["$TTL 60", `@ IN SOA ns.${zone}. hostmaster.${zone}. 1 60 60 600 60`, `@ IN NS ns.${zone}.`, "ns IN A 127.0.0.1", "@ IN A 127.0.0.1", "* IN A 127.0.0.1", ""].join("\n"),
  );
  const conf = join(dir, "named.conf");
  await writeFile(
    conf,
    [
      `options { directory "${dir}"; pid-file "${dir}/named.pid"; session-keyfile "${dir}/session.key";`,
      `  listen-on port ${port} { 127.0.0.1; }; listen-on-v6 { none; }; recursion no; dnssec-validation no; };`,
      "controls { };",
      `key "${keyName}" { algorithm hmac-sha256; secret "${secret}"; };`,
      `zone "${zone}" { type primary; file "${dir}/${zone}.zone"; allow-update { key "${keyName}"; }; };`,
      "",
    ].join("\n"),
  );
  return conf;
}

/** Resolves once `server` answers the zone's SOA; throws the last error after 10 s or once `exited()` says named is gone. */
export async function waitForZone(server: string, zone: string, exited: () => boolean): Promise<void> {
  const resolver = new Resolver({ timeout: 1_000, tries: 1 });
  resolver.setServers([server]);
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await resolver.resolveSoa(zone);
      return;
    } catch (error) {
      if (exited() || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export async function startBind(zone = "rampart.test"): Promise<Bind> {
  const dir = await mkdtemp(join(tmpdir(), "rampart-bind-"));
  const port = await freePort();
  const secret = randomBytes(32).toString("base64");
  const keyName = "rampart-key";
  const conf = await writeBindFiles(dir, port, zone, keyName, secret);
  let log = "";
  const named: ChildProcess = spawn(existsSync("/usr/sbin/named") ? "/usr/sbin/named" : "named", ["-g", "-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
  named.stdout!.on("data", (chunk: Buffer) => (log += chunk.toString()));
  named.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
  const server = `127.0.0.1:${port}`;
  try {
    await waitForZone(server, zone, () => named.exitCode !== null);
  } catch (error) {
    named.kill("SIGKILL");
    throw new Error(`named did not start: ${String(error)}\n${log}`);
  }
  const resolver = new Resolver({ timeout: 1_000, tries: 1 });
  resolver.setServers([server]);
  return {
    server,
    zone,
    keyName,
    algorithm: "hmac-sha256",
    secret,
    txt: async (name) => {
      try {
        return (await resolver.resolveTxt(name.replace(/\.$/, ""))).map((chunks) => chunks.join(""));
      } catch {
        return [];
      }
    },
    close: async () => {
      if (named.exitCode === null) {
        const exited = new Promise((resolve) => named.once("exit", resolve));
        named.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

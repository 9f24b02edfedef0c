import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Dns01Challenge } from "../../../../../src/tls/acme/dns/dns01-challenge.js";
import { DnsChallengeError } from "../../../../../src/tls/acme/dns/dns-errors.js";
import type { DnsProvider } from "../../../../../src/tls/acme/dns/dns-provider.js";
import type { AcmeDnsConfig } from "../../../../../src/config/schema.js";
import { captureLogger } from "../../../../helpers/proxy-tools.js";

const config: AcmeDnsConfig = { provider: "exec", exec: { command: "/bin/true", timeout: 1_000 }, resolvers: ["127.0.0.1:1"], propagationTimeout: 200, propagationInterval: 50 };

function recording(fail: { present?: Error; cleanup?: Error } = {}): DnsProvider & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    present: async (fqdn, value) => {
      calls.push(`present ${fqdn} ${value}`);
      if (fail.present) throw fail.present;
    },
    cleanup: async (fqdn, value) => {
      calls.push(`cleanup ${fqdn} ${value}`);
      if (fail.cleanup) throw fail.cleanup;
    },
  };
}

describe("DNS-01 challenge", () => {
  test("the record is _acme-challenge under the authorization's name (a wildcard's base name)", () => {
    assert.equal(Dns01Challenge.recordName("example.com"), "_acme-challenge.example.com.");
    assert.equal(Dns01Challenge.recordName("www.example.com."), "_acme-challenge.www.example.com.");
  });

  test("a provider failure stops before the propagation wait and names the cause", async () => {
    const provider = recording({ present: new DnsChallengeError("DNS_HOOK_FAILED", "hook exited with 1") });
    const challenge = new Dns01Challenge(config, captureLogger().logger, provider);
    const started = Date.now();
    await assert.rejects(challenge.present("example.com", "v"), { code: "DNS_HOOK_FAILED" });
    assert.ok(Date.now() - started < 150, "no propagation wait after a failed publish");
  });

  test("a record nobody can see fails the challenge at the propagation timeout", async () => {
    const challenge = new Dns01Challenge(config, captureLogger().logger, recording());
    await assert.rejects(challenge.present("example.com", "v"), { code: "DNS_PROPAGATION_TIMEOUT" });
  });

  test("a cleanup failure is logged with the record's name, not thrown (the order's outcome stands)", async () => {
    const log = captureLogger();
    const provider = recording({ cleanup: new Error("API down") });
    await new Dns01Challenge(config, log.logger, provider).cleanup("example.com", "v");
    assert.deepEqual(provider.calls, ["cleanup _acme-challenge.example.com. v"]);
    const warning = log.lines.find((line) => line.msg === "DNS-01 record not removed; delete it by hand");
    assert.equal(warning?.record, "_acme-challenge.example.com.");
  });
});

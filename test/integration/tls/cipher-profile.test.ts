// Real `openssl s_client` handshakes against real gateways: Rampart's TLS follows Mozilla's
// "intermediate" profile (src/tls/cipher-profile.ts) both for the default certificate (no SNI) and for
// a certificate whose SecureContext the resolver hands to SNICallback, with ECDSA and with RSA keys.
// Every refusal is first shown to succeed against a permissive control server, so a weak suite, old
// protocol or group counts only if the local openssl really offered it.
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { simpleConfig, startGateway, type TestGateway } from "../../helpers/gateway.js";
import { makeTempDir, removeTempDir, writeEcCertificate, writeRsaCertificate } from "../../fixtures/tls/tls-helpers.js";

/** Mozilla intermediate, written out here rather than imported, so the test checks the spec. */
const TLS13_SUITES = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"];
const TLS12_SUITES = {
  ECDSA: ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"],
  RSA: ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"],
};
/** CBC (LUCKY13), RSA key exchange, DHE, CCM-8, ARIA, CAMELLIA. */
const WEAK_TLS12_SUITES = [
  "AES128-SHA",
  "AES256-SHA256",
  "ECDHE-RSA-AES128-SHA",
  "ECDHE-ECDSA-AES128-SHA256",
  "DHE-RSA-AES128-GCM-SHA256",
  "AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES128-CCM8",
  "ECDHE-ECDSA-ARIA128-GCM-SHA256",
  "ECDHE-ECDSA-CAMELLIA128-SHA256",
];
const GROUPS = ["X25519", "prime256v1", "secp384r1"];
/** Groups OpenSSL 3 servers accept by default. */
const OTHER_GROUPS = ["secp521r1", "X448", "ffdhe2048"];

const PROBE_TIMEOUT_MS = 5_000;
const PARALLEL_PROBES = 8;
/** Lets the client offer anything its build knows; refusing is the server's job here. */
const ANY_LEVEL = "@SECLEVEL=0";

type KeyType = "ECDSA" | "RSA";

interface Target {
  readonly label: string;
  readonly port: number;
  /** Undefined: no SNI extension, so the server's default certificate answers. */
  readonly servername: string | undefined;
  readonly keyType: KeyType;
  readonly fingerprint: string;
}

interface Probe {
  readonly ok: boolean;
  readonly protocol: string;
  readonly cipher: string;
  readonly fingerprint: string | undefined;
  readonly output: string;
}

const running = new Set<ChildProcess>();
let freeSlots = PARALLEL_PROBES;
const waiting: (() => void)[] = [];

/** At most PARALLEL_PROBES openssl processes at once, across the (concurrent) tests. */
async function withSlot<T>(run: () => Promise<T>): Promise<T> {
  if (freeSlots > 0) freeSlots -= 1;
  else await new Promise<void>((resolve) => waiting.push(resolve));
  try {
    return await run();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else freeSlots += 1;
  }
}

/** One `openssl s_client` handshake with empty stdin, so it closes once the handshake is done. */
function sClient(port: number, servername: string | undefined, args: readonly string[]): Promise<Probe> {
  return withSlot(() => runSClient(port, servername, args));
}

function runSClient(port: number, servername: string | undefined, args: readonly string[]): Promise<Probe> {
  const sni = servername === undefined ? ["-noservername"] : ["-servername", servername];
  return new Promise((resolve, reject) => {
    // No trust store: nothing is verified here, and loading the system CAs is most of s_client's CPU time.
    const noTrustStore = ["-no-CAfile", "-no-CApath", "-no-CAstore"];
    const child = spawn("openssl", ["s_client", ...noTrustStore, "-connect", `127.0.0.1:${port}`, ...sni, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      timeout: PROBE_TIMEOUT_MS,
      killSignal: "SIGKILL",
    });
    running.add(child);
    child.stdin.end();
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.once("error", (error) => {
      running.delete(child);
      reject(error);
    });
    child.once("close", (code, signal) => {
      running.delete(child);
      if (signal !== null) {
        reject(new Error(`openssl s_client ${args.join(" ")} ended by ${signal}:\n${output}`));
        return;
      }
      const session = /^New, (\S+), Cipher is (\S+)$/m.exec(output);
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(output)?.[0];
      const cipher = session?.[2] ?? "";
      resolve({
        ok: code === 0 && cipher !== "" && cipher !== "(NONE)",
        protocol: session?.[1] ?? "",
        cipher,
        fingerprint: pem === undefined ? undefined : new X509Certificate(pem).fingerprint256,
        output,
      });
    });
  });
}

/** Runs `probe` over every item; returns the failures it described. */
async function probeAll<T>(items: readonly T[], probe: (item: T) => Promise<string | undefined>): Promise<string[]> {
  const failures = await Promise.all(items.map(probe));
  return failures.filter((failure) => failure !== undefined);
}

/** Suites `openssl ciphers` does not list cannot be offered by this client: those cases are skipped. */
function opensslKnows(suite: string): boolean {
  try {
    execFileSync("openssl", ["ciphers", "-s", "-tls1_2", `${suite}:${ANY_LEVEL}`], { stdio: "ignore", timeout: PROBE_TIMEOUT_MS });
    return true;
  } catch {
    return false;
  }
}

const fingerprintOf = (cert: string) => new X509Certificate(cert).fingerprint256;
const where = (target: Target) => `${target.label} (${target.keyType})`;

// The tests run concurrently; withSlot bounds the openssl processes.
describe("TLS cipher profile (Mozilla intermediate), probed with openssl s_client", { concurrency: true }, () => {
  let dir: string;
  let backend: Backend;
  let ecGateway: TestGateway;
  let rsaGateway: TestGateway;
  let control: tls.Server;
  let controlPort: number;
  let targets: Target[];
  let ecStatic: { certFile: string; keyFile: string };

  before(async () => {
    dir = await makeTempDir();
    backend = await startBackend();
    const ecSni = await writeEcCertificate(dir, "api", ["api.example.com"]);
    ecStatic = { certFile: ecSni.certFile, keyFile: ecSni.keyFile };
    const rsaDefault = await writeRsaCertificate(dir, "rsa-default", "localhost");
    const rsaSni = await writeRsaCertificate(dir, "rsa-sni", "rsa.example.com");
    // ECDSA: the self-signed fallback is the default certificate; the static one (api.example.com,
    // localhost and the loopback addresses) is chosen by SNICallback.
    ecGateway = await startGateway(simpleConfig(backend.url, { top: { tls: { certificates: [ecStatic] } } }));
    // RSA only (one key type, so the first static certificate is the default).
    rsaGateway = await startGateway(simpleConfig(backend.url, { top: { tls: { selfSigned: false, certificates: [rsaDefault, rsaSni] } } }));

    const selfSigned = await readFile(join(ecGateway.dir, "certs", "self-signed.crt"), "utf8");
    const rsaDefaultPem = { key: await readFile(rsaDefault.keyFile, "utf8"), cert: await readFile(rsaDefault.certFile, "utf8") };
    const rsaSniCert = await readFile(rsaSni.certFile, "utf8");
    targets = [
      { label: "default certificate, no SNI", port: ecGateway.httpsPort, servername: undefined, keyType: "ECDSA", fingerprint: fingerprintOf(selfSigned) },
      { label: "SNI localhost", port: ecGateway.httpsPort, servername: "localhost", keyType: "ECDSA", fingerprint: fingerprintOf(ecSni.pem.cert) },
      { label: "default certificate, no SNI", port: rsaGateway.httpsPort, servername: undefined, keyType: "RSA", fingerprint: fingerprintOf(rsaDefaultPem.cert) },
      { label: "SNI rsa.example.com", port: rsaGateway.httpsPort, servername: "rsa.example.com", keyType: "RSA", fingerprint: fingerprintOf(rsaSniCert) },
    ];

    // Accepts everything OpenSSL can do, with both key types: proof that the client really offers it.
    control = tls.createServer(
      {
        key: [ecSni.pem.key, rsaDefaultPem.key],
        cert: [ecSni.pem.cert, rsaDefaultPem.cert],
        ciphers: `ALL:${ANY_LEVEL}`,
        minVersion: "TLSv1",
        dhparam: "auto",
      },
      (socket) => socket.end(),
    );
    control.on("tlsClientError", () => {});
    await new Promise<void>((resolve) => control.listen(0, "127.0.0.1", resolve));
    controlPort = (control.address() as AddressInfo).port;
  });

  after(async () => {
    for (const child of running) {
      try {
        if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await new Promise<void>((resolve) => (control ? control.close(() => resolve()) : resolve()));
    await ecGateway?.close();
    await rsaGateway?.close();
    await backend?.close();
    if (dir) await removeTempDir(dir);
  });

  test("every intermediate suite handshakes, with the expected certificate", async () => {
    const cases = targets.flatMap((target) => [
      ...TLS12_SUITES[target.keyType].map((suite) => ({ target, suite, args: ["-tls1_2", "-cipher", suite], protocol: "TLSv1.2" })),
      ...TLS13_SUITES.map((suite) => ({ target, suite, args: ["-tls1_3", "-ciphersuites", suite], protocol: "TLSv1.3" })),
    ]);
    const failures = await probeAll(cases, async ({ target, suite, args, protocol }) => {
      const probe = await sClient(target.port, target.servername, args);
      if (!probe.ok) return `${where(target)} ${suite}: refused`;
      if (probe.protocol !== protocol || probe.cipher !== suite) return `${where(target)} ${suite}: got ${probe.protocol} ${probe.cipher}`;
      if (probe.fingerprint !== target.fingerprint) return `${where(target)} ${suite}: wrong certificate`;
      return undefined;
    });
    assert.deepEqual(failures, []);
  });

  for (const suite of WEAK_TLS12_SUITES) {
    const keyType: KeyType = suite.includes("-ECDSA-") ? "ECDSA" : "RSA";
    test(`TLS 1.2 ${suite} is refused (${keyType} certificates)`, { skip: opensslKnows(suite) ? false : "the local openssl does not list it" }, async () => {
      const args = ["-tls1_2", "-cipher", `${suite}:${ANY_LEVEL}`];
      const offered = await sClient(controlPort, "localhost", args);
      assert.equal(offered.cipher, suite, `the control server should accept ${suite}:\n${offered.output}`);
      const failures = await probeAll(
        targets.filter((target) => target.keyType === keyType),
        async (target) => ((await sClient(target.port, target.servername, args)).ok ? `${where(target)}: accepted ${suite}` : undefined),
      );
      assert.deepEqual(failures, []);
    });
  }

  test("TLS 1.0 and TLS 1.1 are refused", async () => {
    const versions = ["-tls1", "-tls1_1"];
    for (const version of versions) {
      const offered = await sClient(controlPort, "localhost", [version, "-cipher", `DEFAULT:${ANY_LEVEL}`]);
      assert.ok(offered.ok, `the control server should accept ${version}:\n${offered.output}`);
    }
    const cases = targets.flatMap((target) => versions.map((version) => ({ target, version })));
    const failures = await probeAll(cases, async ({ target, version }) => {
      const probe = await sClient(target.port, target.servername, [version, "-cipher", `DEFAULT:${ANY_LEVEL}`]);
      return probe.ok ? `${where(target)}: accepted ${version} (${probe.protocol})` : undefined;
    });
    assert.deepEqual(failures, []);
  });

  test("the client's suite order wins (no server preference)", async () => {
    // The profile lists AES128-GCM before CHACHA20: a server-preference server would pick AES128-GCM.
    const [, ec, , rsa] = targets as [Target, Target, Target, Target];
    const cases = [
      { target: ec, args: ["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"], want: "ECDHE-ECDSA-CHACHA20-POLY1305" },
      { target: rsa, args: ["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256"], want: "ECDHE-RSA-CHACHA20-POLY1305" },
      { target: ec, args: ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"], want: "TLS_CHACHA20_POLY1305_SHA256" },
    ];
    const failures = await probeAll(cases, async ({ target, args, want }) => {
      const { cipher } = await sClient(target.port, target.servername, args);
      return cipher === want ? undefined : `${where(target)} ${args.join(" ")}: got ${cipher || "no handshake"}`;
    });
    assert.deepEqual(failures, []);
  });

  test("key exchange uses X25519, P-256 or P-384 and nothing else", async () => {
    // TLS 1.2 against the RSA certificate: there a client's groups also limit the curve of an ECDSA
    // certificate, so a client offering only X25519 could not take a P-256 certificate at all.
    const [, ec, , rsa] = targets as [Target, Target, Target, Target];
    const tls12 = ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"];
    const cases = [
      ...GROUPS.flatMap((group) => [
        { target: ec, group, args: ["-tls1_3", "-groups", group], accept: true },
        { target: rsa, group, args: [...tls12, "-groups", group], accept: true },
      ]),
      ...OTHER_GROUPS.map((group) => ({ target: ec, group, args: ["-tls1_3", "-groups", group], accept: false })),
      { target: rsa, group: "secp521r1", args: [...tls12, "-groups", "secp521r1"], accept: false },
    ];
    const failures = await probeAll(cases, async ({ target, group, args, accept }) => {
      if (!accept && !(await sClient(controlPort, "localhost", args)).ok) return `the control server refused ${args.join(" ")}`;
      const probe = await sClient(target.port, target.servername, args);
      return probe.ok === accept ? undefined : `${where(target)} ${args.join(" ")}: ${probe.ok ? "accepted" : "refused"} ${group}`;
    });
    assert.deepEqual(failures, []);
  });

  test("tls.minVersion TLSv1.3 still refuses TLS 1.2, intermediate suites included", async () => {
    const strict = await startGateway(simpleConfig(backend.url, { top: { tls: { minVersion: "TLSv1.3", certificates: [ecStatic] } } }));
    try {
      for (const servername of [undefined, "api.example.com"]) {
        const refused = await sClient(strict.httpsPort, servername, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]);
        assert.equal(refused.ok, false, `TLS 1.2 accepted for ${servername ?? "no SNI"}`);
        const accepted = await sClient(strict.httpsPort, servername, ["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"]);
        assert.equal(accepted.protocol, "TLSv1.3", accepted.output);
      }
    } finally {
      await strict.close();
    }
  });
});

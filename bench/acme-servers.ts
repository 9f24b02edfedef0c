// The certs scenario's ACME side, started like every other bench process (launched by PID, pinned to the
// load CPU, stopped by run.ts): Debian's `pebble` ACME server and, as the DNS it validates against, BIND 9
// (`named`) serving one zone that takes TSIG-signed dynamic updates (what Rampart's rfc2136 provider
// talks to) with every name in it resolving to 127.0.0.1 (so HTTP-01 reaches Rampart too), or
// `pebble-challtestsrv` when BIND is not installed. The same set-up as test/helpers/{pebble,bind}.ts.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import path from "node:path";
import { LOAD_CPU, freePort, launch, sleep, which, type Managed } from "./processes.js";
import { waitForZone, writeBindFiles } from "../test/helpers/bind.js";

export interface Pebble {
  readonly directoryUrl: string;
  /** The CA of pebble's own HTTPS listener (tls.acme.caFile). */
  readonly caFile: string;
  /** Where pebble connects for HTTP-01: a Rampart's HTTP listener must be here. */
  readonly httpPort: number;
  readonly tlsPort: number;
  /** The DNS pebble validates against ("127.0.0.1:PORT"). */
  readonly dnsServer: string;
  /** The root that signs the certificates it issues, PEM. */
  readonly issuingRoot: string;
  /** Certificates issued so far (from its log). */
  issued(): number;
  readonly processes: readonly Managed[];
}

export interface Bind {
  /** "127.0.0.1:PORT": rfc2136.server, dns.resolvers and pebble's DNS. */
  readonly server: string;
  readonly zone: string;
  readonly keyName: string;
  /** The TSIG secret (hmac-sha256), base64. */
  readonly secret: string;
  readonly process: Managed;
}

/** BIND 9 with `zone` (every name → 127.0.0.1) open to updates signed with a fresh TSIG key; undefined when named is not installed. */
export async function startBind(dir: string, zone: string): Promise<Bind | undefined> {
  const named = which("/usr/sbin/named") ?? which("named");
  if (named === undefined) return undefined;
  const root = path.join(dir, "bind");
  mkdirSync(root, { recursive: true });
  const port = await freePort();
  const secret = randomBytes(32).toString("base64");
  const keyName = "rampart-bench";
  const conf = await writeBindFiles(root, port, zone, keyName, secret);
  const managed = await launch({ name: "named", command: named, args: ["-g", "-c", conf], cpu: LOAD_CPU, stderrFile: path.join(root, "named.log") });
  const server = `127.0.0.1:${port}`;
  try {
    await waitForZone(server, zone, () => managed.exited);
  } catch (error) {
    throw new Error(`named did not start: ${String(error)} (see ${root}/named.log)`);
  }
  return { server, zone, keyName, secret, process: managed };
}

/** pebble with no validation sleep, validating against `dnsServer` (default a pebble-challtestsrv started here); undefined when pebble is not installed. */
export async function startPebble(dir: string, dnsServer?: string): Promise<Pebble | undefined> {
  const pebble = which("pebble");
  if (pebble === undefined) return undefined;
  const root = path.join(dir, "pebble");
  mkdirSync(root, { recursive: true });
  const [acmePort, managementPort, httpPort, tlsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  makePebbleCertificates(root);
  const processes: Managed[] = [];
  let dns = dnsServer;
  if (dns === undefined) {
    const challtestsrv = which("pebble-challtestsrv");
    if (challtestsrv === undefined) throw new Error("pebble-challtestsrv is not installed (it comes with pebble)");
    const [dnsPort, challengePort] = [await freePort(), await freePort()];
    dns = `127.0.0.1:${dnsPort}`;
    processes.push(
      await launch({
        name: "pebble-challtestsrv",
        command: challtestsrv,
        args: ["-dns01", dns, "-defaultIPv6", "", "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", `127.0.0.1:${challengePort}`],
        cpu: LOAD_CPU,
        stderrFile: path.join(root, "challtestsrv.log"),
      }),
    );
  }
  const configFile = path.join(root, "pebble.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: path.join(root, "cert.pem"),
        privateKey: path.join(root, "key.pem"),
        httpPort,
        tlsPort,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
      },
    }),
  );
  const logFile = path.join(root, "pebble.log");
  // No random 0–15 s sleep before validating, no rejected nonces: issuance time is Rampart's and the DNS's.
  processes.push(
    await launch({
      name: "pebble",
      command: pebble,
      args: ["-config", configFile, "-dnsserver", dns],
      cpu: LOAD_CPU,
      stdoutFile: logFile,
      stderrFile: logFile,
      env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
    }),
  );
  const caFile = path.join(root, "ca.pem");
  const ca = readFileSync(caFile, "utf8");
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const status = await get(directoryUrl, ca).then((answer) => answer.status, () => 0);
    if (status === 200) break;
    if (processes.some((managed) => managed.exited) || Date.now() > deadline) throw new Error(`pebble did not start (see ${logFile})`);
    await sleep(100);
  }
  const issuingRoot = (await get(`https://127.0.0.1:${managementPort}/roots/0`, ca)).text;
  return {
    directoryUrl,
    caFile,
    httpPort,
    tlsPort,
    dnsServer: dns,
    issuingRoot,
    issued: () => {
      try {
        return (readFileSync(logFile, "utf8").match(/Issued certificate serial/g) ?? []).length;
      } catch {
        return 0;
      }
    },
    processes,
  };
}

/** A CA and a localhost certificate for pebble's own HTTPS listener (EC P-256). */
function makePebbleCertificates(root: string): void {
  const openssl = which("openssl");
  if (openssl === undefined) throw new Error("openssl is not installed");
  const run = (...args: string[]) => execFileSync(openssl, args, { cwd: root, stdio: "ignore", timeout: 30_000 });
  run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
    "-subj", "/CN=rampart bench ACME CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "key.pem", "-out", "req.csr", "-subj", "/CN=localhost");
  writeFileSync(path.join(root, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  run("x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf");
}

function get(url: string, ca: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false, timeout: 2_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

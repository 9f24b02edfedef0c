// A real ACME server for tests: Debian's `pebble` with `pebble-challtestsrv` as its DNS (every name
// resolves to 127.0.0.1), on free loopback ports, with its own CA for its HTTPS listener. Pebble
// validates HTTP-01 on `httpPort` and TLS-ALPN-01 on `tlsPort`: point the gateway's listeners there.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "./backend.js";

export interface Pebble {
  /** The ACME directory URL. */
  readonly directoryUrl: string;
  /** PEM file of the CA that signed pebble's own HTTPS certificate (the gateway's tls.acme.caFile). */
  readonly caFile: string;
  /** Where pebble connects for HTTP-01 and TLS-ALPN-01: the gateway must listen on these. */
  readonly httpPort: number;
  readonly tlsPort: number;
  /** pebble-challtestsrv: its DNS ("127.0.0.1:PORT") and management API (POST /set-txt, /clear-txt, /set-cname). */
  readonly challengeDns: string;
  readonly challengeManagementUrl: string;
  /** Orders pebble has finalised (certificates issued), counted from its log. */
  issued(): number;
  /** The root that issues certificates (from /roots/0 on the management port), PEM. */
  issuingRoot(): Promise<string>;
  /** Stops pebble (its challenge DNS keeps running); start() brings it back on the same ports. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface PebbleOptions {
  /** The DNS server pebble's validation authority asks ("host:port"); default its pebble-challtestsrv. */
  readonly dnsServer?: string;
}

export async function startPebble(options: PebbleOptions = {}): Promise<Pebble> {
  const dir = await mkdtemp(join(tmpdir(), "rampart-pebble-"));
  // Distinct: a port that two of these shared made pebble fail to bind it when restarted (CI, Node 24).
  const [acmePort, managementPort, dnsPort, challengeManagementPort, httpPort, tlsPort] = (await freePorts(6)) as [number, number, number, number, number, number];
  const caFile = join(dir, "ca.pem");
  makeCertificates(dir);
  const configFile = join(dir, "pebble.json");
  await writeFile(
    configFile,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: join(dir, "cert.pem"),
        privateKey: join(dir, "key.pem"),
        httpPort,
        tlsPort,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
      },
    }),
  );

  const dns = spawn(
    "pebble-challtestsrv",
    ["-dns01", `127.0.0.1:${dnsPort}`, "-defaultIPv6", "", "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", `127.0.0.1:${challengeManagementPort}`],
    { stdio: "ignore" },
  );
  let pebble: ChildProcess | undefined;
  let log = "";
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  const ca = readFileSync(caFile, "utf8");

  const start = async () => {
    log = "";
    const child = spawn("pebble", ["-config", configFile, "-dnsserver", options.dnsServer ?? `127.0.0.1:${dnsPort}`], {
      env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (chunk: Buffer) => (log += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
    pebble = child;
    // A pebble that exits (a port taken while it was stopped, say) fails at once, with its own words.
    const deadline = Date.now() + 20_000;
    while ((await get(directoryUrl, ca)) !== 200) {
      if (child.exitCode !== null || Date.now() > deadline) {
        const state = child.exitCode !== null ? `exited with ${child.exitCode}` : "not answering after 20 s";
        throw new Error(`pebble did not start (${state}) on 127.0.0.1:${acmePort}: ${log.slice(-2_000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const stop = async () => {
    const child = pebble;
    pebble = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
  await start();

  return {
    directoryUrl,
    caFile,
    httpPort,
    tlsPort,
    challengeDns: `127.0.0.1:${dnsPort}`,
    challengeManagementUrl: `http://127.0.0.1:${challengeManagementPort}`,
    issued: () => (log.match(/Issued certificate serial/g) ?? []).length,
    issuingRoot: async () => fetchText(`https://127.0.0.1:${managementPort}/roots/0`, ca),
    stop,
    start,
    close: async () => {
      await stop();
      const exited = new Promise((resolve) => (dns.exitCode !== null ? resolve(undefined) : dns.once("exit", resolve)));
      dns.kill("SIGTERM");
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A CA and a localhost certificate for pebble's own HTTPS listener, with openssl (EC P-256). */
function makeCertificates(dir: string): void {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
    "-subj", "/CN=rampart test ACME CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "key.pem", "-out", "req.csr", "-subj", "/CN=localhost");
  execFileSync("sh", ["-c", "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext.cnf"], { cwd: dir });
  run("x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "cert.pem", "-days", "30", "-extfile", "ext.cnf");
}

function get(url: string, ca: string): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(url, { ca, agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    // Something else on the port may accept and never answer: that is "not started" too.
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(0));
  });
}

function fetchText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, agent: false }, (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => resolve(text));
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

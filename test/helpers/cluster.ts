// Config files for the cluster tests: a temp directory, FIXED free loopback ports (node:cluster workers
// share the primary's listening sockets, so port 0 would not name one address across restarts), and
// writes that replace the file in one rename, as a deploy tool would.
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import type { ConfigObject } from "./gateway.js";
import { freePorts } from "./backend.js";

export interface ClusterFiles {
  readonly dir: string;
  readonly configFile: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  readonly adminPort: number;
  /** The YAML text `config` becomes once the test defaults (ports, directories, logging) are merged in. */
  yaml(config: ConfigObject): string;
  /** Replaces the config file atomically (temp file + rename) with `config` plus the test defaults. */
  write(config: ConfigObject): Promise<void>;
  /** Replaces the config file atomically with raw text. */
  writeText(text: string): Promise<void>;
  remove(): Promise<void>;
}

let writes = 0;

export async function clusterFiles(): Promise<ClusterFiles> {
  const dir = await mkdtemp(join(tmpdir(), "rampart-cluster-"));
  const configFile = join(dir, "gateway.yaml");
  const [httpPort, httpsPort, adminPort] = (await freePorts(3)) as [number, number, number];
  const yaml = (config: ConfigObject) => {
    const log = (config.log ?? {}) as ConfigObject;
    const tls = (config.tls ?? {}) as ConfigObject;
    const store = (config.store ?? {}) as ConfigObject;
    return stringify({
      shutdownGrace: "5s",
      ...config,
      listen: { http: `127.0.0.1:${httpPort}`, https: `127.0.0.1:${httpsPort}`, admin: `127.0.0.1:${adminPort}` },
      tls: { certDir: join(dir, "certs"), ...tls },
      store: { dir: join(dir, "state"), ...store },
      log: { level: "info", ...log },
    });
  };
  const writeText = async (text: string) => {
    const temp = join(dir, `.gateway.yaml.${process.pid}.${++writes}`);
    await writeFile(temp, text);
    await rename(temp, configFile);
  };
  return {
    dir,
    configFile,
    httpPort,
    httpsPort,
    adminPort,
    yaml,
    write: (config) => writeText(yaml(config)),
    writeText,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

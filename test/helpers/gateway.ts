// Starts a real Gateway in-process on loopback port 0 from a config object (written to a temp YAML
// file, as an operator would), with its own temp certificate and state directories.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { Gateway } from "../../src/main.js";
import type { LineSink } from "../../src/observability/access-log.js";
import { silentLogger, type Logger } from "../../src/observability/logger.js";

export interface TestGateway {
  readonly gateway: Gateway;
  readonly dir: string;
  readonly configFile: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  readonly adminPort: number;
  /** Rewrites the config file (same defaults applied) without reloading. */
  writeConfig(config: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

export type ConfigObject = Record<string, unknown>;

function withTestDefaults(config: ConfigObject, dir: string): ConfigObject {
  const tls = (config.tls ?? {}) as ConfigObject;
  const store = (config.store ?? {}) as ConfigObject;
  const log = (config.log ?? {}) as ConfigObject;
  return {
    ...config,
    listen: { http: "127.0.0.1:0", https: "127.0.0.1:0", admin: "127.0.0.1:0", ...((config.listen ?? {}) as ConfigObject) },
    tls: { certDir: join(dir, "certs"), ...tls },
    store: { dir: join(dir, "state"), ...store },
    log: { level: "silent", ...log },
  };
}

export async function startGateway(config: ConfigObject, options: { logger?: Logger; accessLog?: LineSink } = {}): Promise<TestGateway> {
  const dir = await mkdtemp(join(tmpdir(), "rampart-test-"));
  const configFile = join(dir, "gateway.yaml");
  const writeConfig = (next: ConfigObject) => writeFile(configFile, stringify(withTestDefaults(next, dir)));
  await writeConfig(config);
  const gateway = await Gateway.start({ configFile, logger: options.logger ?? silentLogger, accessLog: options.accessLog ?? { write: () => {} } });
  const { http, https, admin } = gateway.addresses;
  return {
    gateway,
    dir,
    configFile,
    httpPort: http.port,
    httpsPort: https.port,
    adminPort: admin!.port,
    writeConfig,
    close: async () => {
      await gateway.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A one-service, one-route config pointing at `backendUrl`; `route` and `service` keys are merged in. */
export function simpleConfig(backendUrl: string, extra: { route?: ConfigObject; service?: ConfigObject; top?: ConfigObject } = {}): ConfigObject {
  return {
    services: { app: { targets: [{ url: backendUrl }], ...extra.service } },
    routes: [{ name: "app", match: { pathPrefix: "/" }, service: "app", ...extra.route }],
    ...extra.top,
  };
}

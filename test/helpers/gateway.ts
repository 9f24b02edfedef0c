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
  /** Closes the gateway and removes its directory; calling it again waits for the first close. */
  close(): Promise<void>;
}

export type ConfigObject = Record<string, unknown>;

export interface GatewayOptions {
  readonly logger?: Logger;
  readonly accessLog?: LineSink;
}

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

export async function startGateway(config: ConfigObject, options: GatewayOptions = {}): Promise<TestGateway> {
  const dir = await mkdtemp(join(tmpdir(), "rampart-test-"));
  const configFile = join(dir, "gateway.yaml");
  const writeConfig = (next: ConfigObject) => writeFile(configFile, stringify(withTestDefaults(next, dir)));
  await writeConfig(config);
  const gateway = await Gateway.start({ configFile, logger: options.logger ?? silentLogger, accessLog: options.accessLog ?? { write: () => {} } });
  const { http, https, admin } = gateway.addresses;
  let closed: Promise<void> | undefined;
  return {
    gateway,
    dir,
    configFile,
    httpPort: http.port,
    httpsPort: https.port,
    adminPort: admin!.port,
    writeConfig,
    close: () =>
      (closed ??= (async () => {
        await gateway.close();
        await rm(dir, { recursive: true, force: true });
      })()),
  };
}

/** Service "app" as given, behind one route "app" for every path; `route` and `top` keys are merged in. */
export function oneServiceConfig(service: ConfigObject, extra: { route?: ConfigObject; top?: ConfigObject } = {}): ConfigObject {
  return {
    services: { app: service },
    routes: [{ name: "app", match: { pathPrefix: "/" }, service: "app", ...extra.route }],
    ...extra.top,
  };
}

/** A one-service, one-route config pointing at `backendUrl`; `route` and `service` keys are merged in. */
export function simpleConfig(backendUrl: string, extra: { route?: ConfigObject; service?: ConfigObject; top?: ConfigObject } = {}): ConfigObject {
  return oneServiceConfig({ targets: [{ url: backendUrl }], ...extra.service }, extra);
}

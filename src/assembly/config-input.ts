// What a start or a reload reads before anything is built, the same in the Gateway and in a cluster
// primary: the file's text (read once: with workers, every worker loads these very bytes), the validated
// config, and the services' TLS files (re-read at every reload, so a CA or client certificate replaced
// under the same path takes effect). Any problem throws, as a config error with file and line where there is one.
import { loadConfigText, readConfigFile } from "../config/load.js";
import type { Env } from "../config/interpolate.js";
import type { Config } from "../config/schema.js";
import { loadServicesTls, type UpstreamTls } from "../upstream/upstream-tls.js";

export interface ConfigInput {
  readonly text: string;
  readonly config: Config;
  readonly upstreamTls: ReadonlyMap<string, UpstreamTls>;
}

/** `text`: the bytes a cluster primary already read and validated; otherwise the file is read now. */
export function readConfigInput(configFile: string, env?: Env, text = readConfigFile(configFile)): ConfigInput {
  const config = loadConfigText(text, configFile, env);
  return { text, config, upstreamTls: loadServicesTls(config, configFile, text) };
}

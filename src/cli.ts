#!/usr/bin/env node
// The command line: `rampart start | validate | version` (DESIGN.md, "Command line").
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfigFile, problemsOf } from "./config/load.js";
import { watchConfig } from "./config/watch.js";
import { Gateway } from "./main.js";
import type { Logger } from "./observability/logger.js";
import { Primary, workerCount } from "./cluster/primary.js";
import { runWorker } from "./cluster/worker.js";

const USAGE = `usage: rampart <command> [-c FILE]

commands:
  start      run the gateway
  validate   check a config file; exit 1 listing every problem as FILE:LINE:COL key: message
  version    print the version

The config file is -c FILE, else $RAMPART_CONFIG, else config/gateway.yaml.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

function configPath(flag: string | undefined): string {
  return flag ?? process.env.RAMPART_CONFIG ?? "config/gateway.yaml";
}

function printConfigError(error: unknown): void {
  for (const problem of problemsOf(error)) console.error(problem);
}

async function start(file: string): Promise<void> {
  let workers = 1;
  try {
    workers = workerCount(loadConfigFile(file));
  } catch (error) {
    printConfigError(error);
    process.exit(1);
  }
  if (workers > 1) return startPrimary(file);
  let gateway: Gateway;
  try {
    gateway = await Gateway.start({ configFile: file });
  } catch (error) {
    printConfigError(error);
    process.exit(1);
  }
  const logger = gateway.logger;
  handleProcessSignals(logger, () => gateway.close());
  process.on("SIGHUP", () => void gateway.reload());
  process.on("SIGUSR2", () => logger.info("SIGUSR2 replaces workers; with workers: 1 there are none to replace"));
  if (gateway.config.watch) watchConfig(file, () => void gateway.reload(), logger);
}

/**
 * SIGTERM/SIGINT drain once and exit 0. A bug that escapes every handler is logged loudly and the
 * process keeps serving its other connections: one request must never take it down.
 */
function handleProcessSignals(logger: Logger, close: () => Promise<void>): void {
  process.on("uncaughtException", (error) => logger.error({ err: error }, "uncaught exception"));
  process.on("unhandledRejection", (error) => logger.error({ err: error }, "unhandled promise rejection"));
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

async function startPrimary(file: string): Promise<void> {
  const primary = await Primary.start(file);
  handleProcessSignals(primary.logger, () => primary.shutdown());
  process.on("SIGHUP", () => void primary.reload());
  process.on("SIGUSR2", () => void primary.rollingRestart());
}

async function main(argv: readonly string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } },
  });
  const command = positionals[0];
  if (values.help || command === undefined) {
    console.log(USAGE);
    process.exit(command === undefined && !values.help ? 2 : 0);
  }
  switch (command) {
    case "version":
      console.log(`rampart ${version()} (node ${process.version})`);
      return;
    case "validate": {
      const file = configPath(values.config);
      try {
        loadConfigFile(file);
      } catch (error) {
        printConfigError(error);
        process.exit(1);
      }
      console.log(`${file}: ok`);
      return;
    }
    case "start":
      await start(configPath(values.config));
      return;
    case "worker":
      // Internal: how the primary starts its node:cluster workers.
      await runWorker(configPath(values.config));
      return;
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      process.exit(2);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(2);
});

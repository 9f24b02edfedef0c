#!/usr/bin/env node
// The command line (DESIGN.md, "Command line" and "Contract, second round"): `rampart start | validate |
// version` run or check a config file; `status | bans | upstreams | certs | reload` ask a running gateway
// through its admin API (cli/operations.ts); `config` and `schema` print the effective config and the
// JSON Schema. Exit codes: 0 done, 1 the config or the gateway said no, 2 usage or the gateway unreachable.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { loadConfigFile, problemsOf } from "./config/load.js";
import type { Config } from "./config/schema.js";
import type { Gateway } from "./main.js";
import type { Logger } from "./observability/logger.js";
import { AdminClient, CliError, resolveAdmin, type ConfigLocation } from "./cli/admin-client.js";
import { renderEffectiveConfig } from "./cli/effective-config.js";
import { configJsonSchemaText } from "./cli/json-schema.js";
import { bansAdd, bansDel, bansList, certs, reload, status, upstreams, type Output } from "./cli/operations.js";
import { didYouMean } from "./cli/suggest.js";
import { formatDiagnostic, validateFile } from "./cli/validate.js";

const CONFIG_HELP = "The config file is -c FILE, else $RAMPART_CONFIG, else config/gateway.yaml.";
const ADMIN_HELP = `The admin API is reached at $RAMPART_ADMIN (host:port or URL), else the config file's listen.admin
(0.0.0.0 and :: are reached on loopback), with the token $RAMPART_ADMIN_TOKEN, else the file's adminToken.`;

interface Command {
  readonly summary: string;
  /** Shown by `rampart help COMMAND` and `rampart COMMAND --help`. */
  readonly help: string;
  readonly hidden?: boolean;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  start: { summary: "run the gateway", help: `usage: rampart start [-c FILE]\n\nRuns the gateway; exits 1 listing every problem of an invalid file.\n${CONFIG_HELP}` },
  validate: {
    summary: "check a config file; exit 1 listing every problem as FILE:LINE:COL key: message",
    help: `usage: rampart validate [-c FILE] [--check-targets] [--json]

Checks what start would reject: the schema, certificate and key files (readable, parsable, matching),
a file with no routes, colliding listen addresses. Warnings (exit 0) for a host-specific route that
takes requests from host-less routes and, with --check-targets, for a service none of whose targets
accepts a TCP connection within 1 s. Problems go to stderr as FILE:LINE:COL key: message.
${CONFIG_HELP}`,
  },
  status: {
    summary: "one screen: ready?, routes, services, target health, bans, certificates, rollouts",
    help: `usage: rampart status [--json] [-c FILE]\n\nExit 0 when the gateway is ready, 1 when it answers but is not ready, 2 when it cannot be reached.\n${ADMIN_HELP}`,
  },
  bans: {
    summary: "list, add or lift bans: bans list | bans add IP DURATION [REASON] | bans del IP",
    help: `usage: rampart bans list [--json]
       rampart bans add IP DURATION [REASON...]   e.g. rampart bans add 203.0.113.9 1h scanning /wp-admin
       rampart bans del IP                        an IPv6 prefix as 2001:db8:1:2::/64

Bans apply on every instance sharing the store (jail "manual"). Exit 1 when the gateway refuses
(allowlisted address, not banned, bad duration).\n${ADMIN_HELP}`,
  },
  upstreams: { summary: "every target: health, breaker state, in-flight requests, last error", help: `usage: rampart upstreams [--json]\n\n${ADMIN_HELP}` },
  certs: { summary: "certificates served: domain, source, days to expiry, next renewal", help: `usage: rampart certs [--json]\n\n${ADMIN_HELP}` },
  reload: {
    summary: "reload the config file now; says which changes need a restart",
    help: `usage: rampart reload [--json]\n\nPOST /api/reload. Exit 1 listing the file's problems when the gateway rejects it (the running config stays).\n${ADMIN_HELP}`,
  },
  config: {
    summary: "print the file's effective config (defaults filled in, secrets redacted)",
    help: `usage: rampart config [-c FILE] [--json]

Prints the effective config of the config file: the file loaded and validated as start and reload do,
every default filled in, \${VAR} references resolved from this shell's environment, and secrets
(adminToken, passwords in URLs, eab.hmacKey, any *password*/*secret*/*token* key) shown as "<redacted>".
It shows the file, which the gateway runs once it has started or reloaded since the last edit.
${CONFIG_HELP}`,
  },
  rules: {
    summary: "print Prometheus rules: SLO burn-rate alerts for routes with an slo, and the gateway's alerts",
    help: `usage: rampart rules [-c FILE] [--json]

Prints a Prometheus rule file: recording rules and multi-window multi-burn-rate alerts for every route
that declares an slo, then the gateway's own alerts (as deploy/prometheus/rampart-alerts.yaml).
Check it with: promtool check rules FILE. --json prints the same groups as JSON.
${CONFIG_HELP}`,
  },
  schema: {
    summary: "print the JSON Schema of the config file",
    help: "usage: rampart schema\n\nPrints the JSON Schema (draft-07) generated from the config schema, as shipped in config/rampart.schema.json.\nEditors use it through a first line such as: # yaml-language-server: $schema=./rampart.schema.json",
  },
  version: { summary: "print the version (also --version, -v)", help: "usage: rampart version" },
  help: { summary: "this help, or a command's: rampart help COMMAND", help: "usage: rampart help [COMMAND]" },
  // Internal: how the primary starts its node:cluster workers.
  worker: { summary: "", help: "", hidden: true },
};

const BAN_ACTIONS = ["list", "add", "del"];
const BAN_ALIASES: Readonly<Record<string, string>> = { ls: "list", delete: "del", rm: "del", remove: "del" };

function usage(): string {
  const visible = Object.entries(COMMANDS).filter(([, command]) => !command.hidden);
  const width = Math.max(...visible.map(([name]) => name.length));
  return `usage: rampart <command> [options]

commands:
${visible.map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`).join("\n")}

options:
  -c, --config FILE  the config file
  --json             machine-readable output (every command that prints a report)
  -h, --help         help for a command
  -v, --version      print the version

${CONFIG_HELP}
${ADMIN_HELP}`;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

function configLocation(flag: string | undefined): ConfigLocation {
  const fromEnv = process.env.RAMPART_CONFIG;
  const explicit = flag ?? (fromEnv !== undefined && fromEnv !== "" ? fromEnv : undefined);
  return { file: explicit ?? "config/gateway.yaml", explicit: explicit !== undefined };
}

function printConfigError(error: unknown): void {
  for (const problem of problemsOf(error)) console.error(problem);
}

// The gateway's modules load only for the commands that run it: the operations commands start in a
// fraction of the time without them.
async function start(file: string): Promise<void> {
  const [{ Gateway }, { watchConfig }, { workerCount }] = await Promise.all([import("./main.js"), import("./config/watch.js"), import("./cluster/primary.js")]);
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
  // logrotate's convention (nginx's too); Node would otherwise open its inspector on SIGUSR1.
  process.on("SIGUSR1", () => gateway.reopenLogs());
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
  const { Primary } = await import("./cluster/primary.js");
  const primary = await Primary.start(file);
  handleProcessSignals(primary.logger, () => primary.shutdown());
  process.on("SIGHUP", () => void primary.reload());
  process.on("SIGUSR2", () => void primary.rollingRestart());
  process.on("SIGUSR1", () => primary.reopenLogs());
}

const OPTIONS = {
  config: { type: "string", short: "c" },
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  version: { type: "boolean", short: "v" },
  "check-targets": { type: "boolean" },
} as const;

type Values = { config?: string; help?: boolean; json?: boolean; version?: boolean; "check-targets"?: boolean };

function parse(argv: readonly string[]): { positionals: string[]; values: Values } {
  try {
    return parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: OPTIONS });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // "Unknown option '--jsn'": suggest the closest real one.
    const given = /option '(-{1,2}[^']+)'/.exec(message)?.[1];
    const names = Object.entries(OPTIONS).flatMap(([name, option]) => [`--${name}`, ...("short" in option ? [`-${option.short}`] : [])]);
    const hint = given === undefined ? "" : didYouMean(given, names);
    const text = message.replace(/\. To specify a positional argument.*$/s, "");
    throw new CliError(hint === "" ? `${text}\n\n${usage()}` : `${text}${hint}\nrun "rampart help" for every option`);
  }
}

function unknownCommand(command: string): CliError {
  const visible = Object.keys(COMMANDS).filter((name) => !COMMANDS[name]!.hidden);
  const hint = didYouMean(command, visible);
  return new CliError(hint === "" ? `unknown command "${command}"\n\n${usage()}` : `unknown command "${command}"${hint}\nrun "rampart help" for every command`);
}

async function operation(positionals: readonly string[], values: Values, command: string): Promise<Output> {
  const location = configLocation(values.config);
  const client = new AdminClient(resolveAdmin(location));
  const json = values.json === true;
  switch (command) {
    case "status":
      return status(client, {
        json,
        routesInFile: () => {
          try {
            return { count: loadConfigFile(location.file).routes.length, file: location.file };
          } catch {
            return undefined;
          }
        },
      });
    case "upstreams":
      return upstreams(client, { json });
    case "certs":
      return certs(client, { json });
    case "reload":
      return reload(client, { json });
    default:
      return bans(client, positionals.slice(1), json);
  }
}

function bans(client: AdminClient, args: readonly string[], json: boolean): Promise<Output> {
  const given = args[0] ?? "list";
  const action = BAN_ALIASES[given] ?? given;
  switch (action) {
    case "list":
      return bansList(client, { json });
    case "add": {
      const [ip, duration, ...reason] = args.slice(1);
      if (ip === undefined || duration === undefined) throw new CliError(`usage: rampart bans add IP DURATION [REASON...]  (e.g. rampart bans add 203.0.113.9 1h scanner)`);
      return bansAdd(client, ip, duration, reason.length > 0 ? reason.join(" ") : undefined, { json });
    }
    case "del": {
      const ip = args[1];
      if (ip === undefined || args.length > 2) throw new CliError("usage: rampart bans del IP");
      return bansDel(client, ip, { json });
    }
    default: {
      throw new CliError(`unknown bans command "${given}"${didYouMean(given, BAN_ACTIONS)}\n\n${COMMANDS.bans!.help}`);
    }
  }
}

function write(output: Output): void {
  if (output.stdout !== "") process.stdout.write(output.stdout);
  if (output.stderr !== undefined && output.stderr !== "") process.stderr.write(output.stderr);
  process.exitCode = output.exitCode;
}

async function main(argv: readonly string[]): Promise<void> {
  const { positionals, values } = parse(argv);
  const command = positionals[0];
  if (values.version === true && command === undefined) {
    console.log(`rampart ${version()} (node ${process.version})`);
    return;
  }
  if (command === undefined) {
    console.log(usage());
    process.exitCode = values.help === true ? 0 : 2;
    return;
  }
  const known = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (known === undefined) throw unknownCommand(command);
  if (values.help === true || command === "help") {
    const topic = command === "help" ? positionals[1] : command;
    if (topic === undefined) console.log(usage());
    else if (Object.hasOwn(COMMANDS, topic) && !COMMANDS[topic]!.hidden) console.log(COMMANDS[topic]!.help);
    else throw unknownCommand(topic);
    return;
  }
  const location = configLocation(values.config);
  switch (command) {
    case "version":
      console.log(`rampart ${version()} (node ${process.version})`);
      return;
    case "validate":
      return validate(location.file, values);
    case "start":
      await start(location.file);
      return;
    case "worker":
      try {
        await (await import("./cluster/worker.js")).runWorker(location.file);
      } catch (error) {
        // A worker that cannot start must exit: its IPC channel would keep it alive, and the primary
        // waiting for a "ready" that never comes.
        console.error(error instanceof Error ? error.message : String(error));
        process.exit(1);
      }
      return;
    case "config":
      return printConfig(location.file, values.json === true);
    case "schema":
      process.stdout.write(configJsonSchemaText());
      return;
    case "rules":
      return printRules(location.file, values.json === true);
    default:
      write(await operation(positionals, values, command));
  }
}

async function validate(file: string, values: Values): Promise<void> {
  const { diagnostics } = await validateFile(file, { checkTargets: values["check-targets"] === true });
  const errors = diagnostics.filter((diagnostic) => diagnostic.severity === "error").length;
  const warnings = diagnostics.length - errors;
  if (values.json === true) {
    console.log(JSON.stringify({ file, valid: errors === 0, errors, warnings, problems: diagnostics.map((d) => ({ ...d, text: formatDiagnostic(d) })) }, null, 2));
  } else {
    for (const diagnostic of diagnostics) console.error(formatDiagnostic(diagnostic));
    if (errors === 0) console.log(`${file}: ok${warnings > 0 ? ` (${warnings} warning${warnings === 1 ? "" : "s"})` : ""}`);
  }
  process.exitCode = errors > 0 ? 1 : 0;
}

/** The file loaded as start loads it, or undefined after printing its problems (exit 1). */
function loadOrReport(file: string): Config | undefined {
  try {
    return loadConfigFile(file);
  } catch (error) {
    printConfigError(error);
    process.exitCode = 1;
    return undefined;
  }
}

function printConfig(file: string, json: boolean): void {
  const config = loadOrReport(file);
  if (config !== undefined) process.stdout.write(renderEffectiveConfig(config, file, json ? "json" : "yaml"));
}

async function printRules(file: string, json: boolean): Promise<void> {
  const config = loadOrReport(file);
  if (config === undefined) return;
  const { prometheusRules } = await import("./config/slo-rules.js");
  const rules = prometheusRules(config, { source: file });
  process.stdout.write(json ? `${JSON.stringify(parseYaml(rules), null, 2)}\n` : rules);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof CliError) {
    console.error(error.message);
    if (error.detail !== undefined) console.error(`  ${error.detail}`);
    process.exitCode = error.exitCode;
    return;
  }
  console.error(error instanceof Error ? error.message : String(error));
  // Something unforeseen (a primary that failed half-way may hold workers and timers): stop here.
  process.exit(2);
});

// The operations commands over the admin API (DESIGN.md, "Contract, second round"): status, bans,
// upstreams, certs, reload. Each returns what to print and the exit code, so cli.ts only writes it out;
// with --json the admin API's own documents are printed (status: one document built from several).
import { AdminClient, CliError, reasonOf } from "./admin-client.js";
import { cell, daysUntil, describeDays, formatPairs, formatSpan, formatTable, plural, shortTime } from "./table.js";

export interface Output {
  readonly stdout: string;
  readonly stderr?: string;
  readonly exitCode: number;
}

export interface UpstreamRow {
  readonly service: string;
  readonly target: string;
  readonly healthy: boolean;
  readonly breaker: string;
  readonly inFlight: number;
  readonly lastError: string | null;
  /** With workers: how many of them saw what. */
  readonly workers?: { readonly reporting: number; readonly healthy: number; readonly breakerOpen: number; readonly breakerHalfOpen: number };
}

export interface BanRow {
  readonly ip: string;
  readonly jail: string;
  readonly until: string;
  readonly reason: string;
}

export interface CertificateRow {
  readonly domain: string;
  readonly notAfter: string;
  readonly issuer: string;
  readonly source: string;
  readonly nextRenewal: string | null;
  /** The last failed ACME order for the name, until one succeeds. */
  readonly lastError?: { readonly code: string; readonly message: string; readonly at: string } | null;
}

export interface RolloutRow {
  readonly route: string;
  readonly from: string;
  readonly to: string;
  readonly weight: number;
  readonly state: string;
  readonly reason?: string;
  readonly since?: string;
}

const json = (value: unknown): Output => ({ stdout: `${JSON.stringify(value, null, 2)}\n`, exitCode: 0 });
const text = (lines: string): Output => ({ stdout: `${lines}\n`, exitCode: 0 });

// ---------------------------------------------------------------- status

export interface StatusReport {
  readonly admin: string;
  readonly ready: boolean;
  /** /readyz's answer: reason, pendingCertificates, stalledServices, workers... */
  readonly readiness: Record<string, unknown>;
  /** Null when neither the gateway nor the config file could say. */
  readonly routes: number | null;
  /** "gateway" (GET /api/status) or the config file's path. */
  readonly routesFrom: string | null;
  readonly services: number;
  readonly targets: {
    readonly total: number;
    readonly healthy: number;
    readonly unhealthy: number;
    readonly breakerOpen: number;
    readonly breakerHalfOpen: number;
  };
  readonly unhealthyTargets: readonly UpstreamRow[];
  readonly bans: number;
  readonly certificates: readonly (CertificateRow & { readonly daysLeft: number | null })[];
  readonly rollouts: readonly RolloutRow[];
  /** From GET /api/status when the gateway has it: config generation and last reload, store, workers. */
  readonly config: NonNullable<GatewayExtras["config"]> | null;
  readonly store: NonNullable<GatewayExtras["store"]> | null;
  readonly workers: { readonly total: number; readonly ready: number } | null;
}

export interface StatusInputs {
  readonly admin: string;
  readonly readyz: { readonly status: number; readonly body: unknown };
  readonly upstreams: readonly UpstreamRow[];
  readonly bans: readonly BanRow[];
  readonly certificates: readonly CertificateRow[];
  readonly rollouts: readonly RolloutRow[];
  readonly routes: { readonly count: number; readonly from: string } | undefined;
  readonly extras?: GatewayExtras | undefined;
}

export function statusReport(inputs: StatusInputs, now: number): StatusReport {
  const readiness = typeof inputs.readyz.body === "object" && inputs.readyz.body !== null ? (inputs.readyz.body as Record<string, unknown>) : {};
  const upstreams = inputs.upstreams;
  return {
    admin: inputs.admin,
    ready: inputs.readyz.status === 200,
    readiness,
    routes: inputs.routes?.count ?? null,
    routesFrom: inputs.routes?.from ?? null,
    services: new Set(upstreams.map((row) => row.service)).size,
    targets: {
      total: upstreams.length,
      healthy: upstreams.filter((row) => row.healthy).length,
      unhealthy: upstreams.filter((row) => !row.healthy).length,
      breakerOpen: upstreams.filter((row) => row.breaker === "open").length,
      breakerHalfOpen: upstreams.filter((row) => row.breaker === "half-open").length,
    },
    unhealthyTargets: upstreams.filter((row) => !row.healthy || row.breaker !== "closed"),
    bans: inputs.bans.length,
    certificates: [...inputs.certificates]
      .map((row) => ({ ...row, daysLeft: daysUntil(row.notAfter, now) ?? null }))
      .sort((a, b) => (a.daysLeft ?? Infinity) - (b.daysLeft ?? Infinity) || a.domain.localeCompare(b.domain)),
    rollouts: inputs.rollouts,
    config: inputs.extras?.config ?? null,
    store: inputs.extras?.store ?? null,
    workers: inputs.extras?.workers ? { total: inputs.extras.workers.length, ready: inputs.extras.workers.filter((worker) => worker.state === "ready").length } : null,
  };
}

export function renderStatus(report: StatusReport): string {
  const { targets } = report;
  const reason = typeof report.readiness.reason === "string" ? ` (${report.readiness.reason})` : "";
  const breakers = [targets.breakerOpen > 0 ? `${targets.breakerOpen} open` : "", targets.breakerHalfOpen > 0 ? `${targets.breakerHalfOpen} half-open` : ""].filter(Boolean);
  const soonest = report.certificates[0];
  const summary: [string, string][] = [
    ["admin", report.admin],
    ["ready", report.ready ? "yes" : `no${reason}`],
    ["routes", report.routes === null ? "unknown" : `${report.routes}${report.routesFrom !== null && report.routesFrom !== "gateway" ? ` (in ${report.routesFrom})` : ""}`],
    ["services", String(report.services)],
    [
      "targets",
      `${targets.total}: ${targets.healthy} healthy, ${targets.unhealthy} unhealthy${breakers.length > 0 ? `; breakers ${breakers.join(", ")}` : ""}`,
    ],
    ...(report.workers === null ? [] : [["workers", `${report.workers.ready}/${report.workers.total} ready`] as [string, string]]),
    ...(report.config === null ? [] : [["config", describeConfig(report.config)] as [string, string]]),
    ...(report.store === null ? [] : [["store", `${report.store.kind ?? "?"}, ${report.store.up === null || report.store.up === undefined ? "state unknown" : report.store.up ? "up" : "DOWN"}`] as [string, string]]),
    ["bans", `${report.bans} active`],
    [
      "rollouts",
      report.rollouts.length === 0 ? "none" : report.rollouts.map((r) => `${r.route} ${r.from} → ${r.to} ${r.weight}% ${r.state}`).join("; "),
    ],
    [
      "certificates",
      soonest === undefined ? "none" : `${report.certificates.length}; soonest expiry: ${soonest.domain} (${soonest.source}) ${describeDays(soonest.daysLeft ?? undefined)}`,
    ],
  ];
  const sections = [formatPairs(summary)];
  if (report.unhealthyTargets.length > 0) {
    sections.push(
      `targets not serving normally\n${formatTable(
        ["SERVICE", "TARGET", "HEALTH", "BREAKER", "LAST ERROR"],
        report.unhealthyTargets.map((row) => [row.service, row.target, row.healthy ? "healthy" : "unhealthy", row.breaker, row.lastError]),
      )}`,
    );
  }
  if (report.certificates.length > 0) {
    sections.push(
      `certificates\n${formatTable(
        ["DOMAIN", "SOURCE", { header: "EXPIRES IN", align: "right" }, "NOT AFTER", "NEXT RENEWAL"],
        report.certificates.map((row) => [row.domain, row.source, describeDays(row.daysLeft ?? undefined), shortTime(row.notAfter), shortTime(row.nextRenewal)]),
      )}`,
    );
  }
  return sections.join("\n\n");
}

function describeConfig(config: NonNullable<StatusReport["config"]>): string {
  const parts = [config.generation === undefined ? "loaded" : `generation ${config.generation}`];
  const reload = config.lastReload;
  if (reload?.at !== undefined) parts.push(`last reload ${reload.ok === false ? "FAILED" : "ok"} ${shortTime(reload.at)}`);
  if (config.pendingRestart !== undefined && config.pendingRestart.length > 0) parts.push(`restart needed for ${config.pendingRestart.join(", ")}`);
  return parts.join("; ");
}

/** What GET /api/status adds to the summary, when the gateway has that endpoint; every field optional. */
export interface GatewayExtras {
  readonly routes?: number;
  readonly config?: { readonly generation?: number; readonly lastReload?: { readonly at?: string; readonly ok?: boolean } | null; readonly pendingRestart?: readonly string[] };
  readonly store?: { readonly kind?: string; readonly up?: boolean | null };
  readonly workers?: readonly { readonly state?: string }[] | null;
}

const record = (value: unknown): Record<string, unknown> | undefined => (typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined);

/** Reads what it recognizes of a GET /api/status answer; an older gateway (404) gives undefined. */
export function gatewayExtras(body: unknown): GatewayExtras | undefined {
  const status = record(body);
  if (status === undefined) return undefined;
  const config = record(status.config);
  const lastReload = record(config?.lastReload);
  const store = record(status.store);
  return {
    ...(Array.isArray(status.routes) ? { routes: status.routes.length } : {}),
    ...(config === undefined
      ? {}
      : {
          config: {
            ...(typeof config.generation === "number" ? { generation: config.generation } : {}),
            lastReload: lastReload === undefined ? null : { ...(typeof lastReload.at === "string" ? { at: lastReload.at } : {}), ...(typeof lastReload.ok === "boolean" ? { ok: lastReload.ok } : {}) },
            ...(Array.isArray(config.pendingRestart) ? { pendingRestart: config.pendingRestart.map(String) } : {}),
          },
        }),
    ...(store === undefined ? {} : { store: { ...(typeof store.kind === "string" ? { kind: store.kind } : {}), up: typeof store.up === "boolean" ? store.up : null } }),
    ...(Array.isArray(status.workers) ? { workers: status.workers.map((worker) => ({ state: String(record(worker)?.state ?? "") })) } : {}),
  };
}

/**
 * `rampart status`: readiness, counts, target health, bans, certificates and rollouts on one screen.
 * Exit 0 when the gateway is ready, 1 when it answers but is not ready.
 */
export async function status(
  client: AdminClient,
  options: { readonly json: boolean; readonly now?: number; readonly routesInFile?: () => { count: number; file: string } | undefined },
): Promise<Output> {
  const [readyz, upstreams, bans, certificates, rollouts, extras] = await Promise.all([
    client.request("GET", "/readyz"),
    client.expect<UpstreamRow[]>("GET", "/api/upstreams"),
    client.expect<BanRow[]>("GET", "/api/bans"),
    client.expect<CertificateRow[]>("GET", "/api/certificates"),
    // Older gateways have no rollouts endpoint: then there are none.
    client.request("GET", "/api/rollouts").then((response) => (response.status === 200 && Array.isArray(response.body) ? (response.body as RolloutRow[]) : [])),
    client.request("GET", "/api/status").then((response) => (response.status === 200 ? gatewayExtras(response.body) : undefined)),
  ]);
  const running = extras?.routes;
  const fromFile = running === undefined ? options.routesInFile?.() : undefined;
  const routes = running !== undefined ? { count: running, from: "gateway" } : fromFile !== undefined ? { count: fromFile.count, from: fromFile.file } : undefined;
  const report = statusReport({ admin: client.target.display, readyz, upstreams, bans, certificates, rollouts, routes, extras }, options.now ?? Date.now());
  const out = options.json ? json(report) : text(renderStatus(report));
  return { ...out, exitCode: report.ready ? 0 : 1 };
}

// ---------------------------------------------------------------- bans

export function renderBans(bans: readonly BanRow[], now: number): string {
  if (bans.length === 0) return "no active bans";
  const rows = [...bans]
    .sort((a, b) => Date.parse(a.until) - Date.parse(b.until))
    .map((ban) => [ban.ip, ban.jail, formatSpan(Date.parse(ban.until) - now), shortTime(ban.until), ban.reason]);
  return `${formatTable(["IP", "JAIL", { header: "EXPIRES IN", align: "right" }, "UNTIL", "REASON"], rows)}\n${plural(bans.length, "ban")}`;
}

export async function bansList(client: AdminClient, options: { readonly json: boolean; readonly now?: number }): Promise<Output> {
  const bans = await client.expect<BanRow[]>("GET", "/api/bans");
  return options.json ? json(bans) : text(renderBans(bans, options.now ?? Date.now()));
}

export async function bansAdd(client: AdminClient, ip: string, duration: string, reason: string | undefined, options: { readonly json: boolean }): Promise<Output> {
  const response = await client.request("POST", "/api/bans", { ip, duration, ...(reason === undefined ? {} : { reason }) });
  if (response.status !== 201) throw new CliError(`cannot ban ${ip}: ${reasonOf(response)}`, 1);
  const ban = response.body as BanRow;
  return options.json ? json(ban) : text(`banned ${ban.ip} for ${duration} (until ${shortTime(ban.until)}, jail ${ban.jail}): ${cell(ban.reason)}`);
}

export async function bansDel(client: AdminClient, ip: string, options: { readonly json: boolean }): Promise<Output> {
  const response = await client.request("DELETE", `/api/bans/${encodeURIComponent(ip)}`);
  if (response.status === 404) throw new CliError(`${ip} is not banned`, 1);
  if (response.status !== 200) throw new CliError(`cannot lift the ban on ${ip}: ${reasonOf(response)}`, 1);
  return options.json ? json(response.body) : text(`lifted the ban on ${ip}`);
}

// ---------------------------------------------------------------- upstreams, certs

export function renderUpstreams(rows: readonly UpstreamRow[]): string {
  if (rows.length === 0) return "no services";
  const fleet = rows.some((row) => row.workers !== undefined);
  const header = ["SERVICE", "TARGET", "HEALTH", "BREAKER", { header: "IN FLIGHT", align: "right" as const }, ...(fleet ? ["WORKERS"] : []), "LAST ERROR"];
  const body = rows.map((row) => [
    row.service,
    row.target,
    row.healthy ? "healthy" : "unhealthy",
    row.breaker,
    row.inFlight,
    ...(fleet ? [row.workers === undefined ? "-" : `${row.workers.healthy}/${row.workers.reporting} healthy`] : []),
    row.lastError,
  ]);
  const healthy = rows.filter((row) => row.healthy).length;
  return `${formatTable(header, body)}\n${plural(rows.length, "target")} in ${plural(new Set(rows.map((row) => row.service)).size, "service")}, ${healthy} healthy`;
}

export async function upstreams(client: AdminClient, options: { readonly json: boolean }): Promise<Output> {
  const rows = await client.expect<UpstreamRow[]>("GET", "/api/upstreams");
  return options.json ? json(rows) : text(renderUpstreams(rows));
}

export function renderCertificates(rows: readonly CertificateRow[], now: number): string {
  if (rows.length === 0) return "no certificates";
  // The last-error column only where ACME runs (the gateway then reports lastError, null or not, for every name).
  const acme = rows.some((row) => row.lastError !== undefined);
  const table = formatTable(
    ["DOMAIN", "SOURCE", { header: "EXPIRES IN", align: "right" }, "NOT AFTER", "NEXT RENEWAL", "ISSUER", ...(acme ? ["LAST ACME ERROR"] : [])],
    rows.map((row) => [
      row.domain,
      row.source,
      describeDays(daysUntil(row.notAfter, now)),
      shortTime(row.notAfter),
      shortTime(row.nextRenewal),
      row.issuer,
      ...(acme ? [row.lastError == null ? "-" : `${row.lastError.code} at ${shortTime(row.lastError.at)}`] : []),
    ]),
  );
  // The messages are long (a CA's problem document, a hook's stderr): below the table, one a line.
  const errors = rows.filter((row) => row.lastError != null).map((row) => `${row.domain}: ${row.lastError!.message}`);
  return errors.length === 0 ? table : `${table}\n\n${errors.join("\n")}`;
}

export async function certs(client: AdminClient, options: { readonly json: boolean; readonly now?: number }): Promise<Output> {
  const rows = await client.expect<CertificateRow[]>("GET", "/api/certificates");
  const now = options.now ?? Date.now();
  return options.json ? json(rows.map((row) => ({ ...row, daysLeft: daysUntil(row.notAfter, now) ?? null }))) : text(renderCertificates(rows, now));
}

// ---------------------------------------------------------------- reload

/** `rampart reload`: POST /api/reload; exit 1 with the file's problems when the gateway refused it. */
export async function reload(client: AdminClient, options: { readonly json: boolean }): Promise<Output> {
  const response = await client.request("POST", "/api/reload");
  const body = (typeof response.body === "object" && response.body !== null ? response.body : {}) as { restartRequired?: unknown; problems?: unknown };
  if (response.status === 200) {
    const keys = Array.isArray(body.restartRequired) ? body.restartRequired.map(String) : [];
    if (options.json) return json(response.body);
    return text(keys.length === 0 ? "reloaded; nothing needs a restart" : `reloaded; these changes apply only after a restart: ${keys.join(", ")}`);
  }
  if (response.status === 422) {
    const problems = Array.isArray(body.problems) ? body.problems.map(String) : [];
    return {
      stdout: options.json ? `${JSON.stringify(response.body, null, 2)}\n` : "",
      stderr: `reload rejected; the running config stays in force:\n${problems.map((problem) => `  ${problem}`).join("\n")}\n`,
      exitCode: 1,
    };
  }
  throw new CliError(`reload failed: ${reasonOf(response)}`, 1);
}

// The status page's script. It runs in the browser, not in Node: status-page.ts inlines its source
// (Function.prototype.toString), so the function is self-contained: no imports at run time (types only),
// nothing from module scope, no Node API. Written in TypeScript so the compiler checks it against the
// /api/status types it renders.
//
// What it does: polls GET /api/status every second (every 5 s while the tab is hidden), renders it into
// the page's fixed skeleton, and sends the operator's actions (lift a ban, add one). Rows are keyed and
// updated in place, never rebuilt, so a focused button keeps its focus across updates. When the admin
// API answers 401 it asks for the token and keeps it in sessionStorage (this tab only). Data from the
// gateway is only ever written as text (textContent), never parsed as HTML.
import type { BanRow, Recent, RouteStatus, ServiceStatus, StatusReport, TargetStatus } from "./admin-status.js";

export function statusPageScript(): void {
  "use strict";
  const TOKEN_KEY = "rampart.adminToken";
  const POLL_MS = 1_000;
  const HIDDEN_POLL_MS = 5_000;
  const FAILING_POLL_MS = 3_000;

  interface ButtonSpec {
    readonly button: string;
    readonly aria: string;
    readonly action: () => void;
  }
  type CellSpec = string | { readonly text: string; readonly cls?: string; readonly title?: string } | ButtonSpec | { readonly buttons: readonly ButtonSpec[] };
  interface RowSpec {
    readonly key: string;
    readonly cells: readonly CellSpec[];
    readonly cls?: string;
  }

  class Unauthorized extends Error {}

  let token = sessionStorage.getItem(TOKEN_KEY) ?? "";
  let paused = false;
  let locked = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let polling: Promise<void> | undefined;
  let again = false;
  let connected: boolean | undefined;
  let failures = 0;
  let lastReport: StatusReport | undefined;

  const byId = <T extends HTMLElement = HTMLElement>(id: string): T => {
    const found = document.getElementById(id);
    if (found === null) throw new Error("missing #" + id);
    return found as T;
  };
  const setText = (node: Element, value: string): void => {
    if (node.textContent !== value) node.textContent = value;
  };
  const setClass = (node: Element, value: string): void => {
    if (node.className !== value) node.className = value;
  };
  const announce = (message: string): void => {
    const region = byId("announce");
    region.textContent = "";
    // A fresh text node, so screen readers read the same message twice if it repeats.
    setTimeout(() => (region.textContent = message), 50);
  };

  // ---- Formatting ----
  const dash = "—";
  const fmtNumber = (value: number): string => (value >= 100 ? Math.round(value).toLocaleString() : value >= 10 ? value.toFixed(1) : value.toFixed(2));
  const fmtRate = (value: number | null | undefined): string => (value === null || value === undefined ? dash : fmtNumber(value) + "/s");
  const fmtMs = (ms: number | null | undefined): string => {
    if (ms === null || ms === undefined) return dash;
    if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
    return (ms >= 10 ? Math.round(ms).toString() : ms.toFixed(1)) + " ms";
  };
  const errorShare = (recent: Recent | null): { text: string; cls: string } => {
    if (recent === null || recent.errorsPerSecond === null) return { text: dash, cls: "" };
    if (recent.requestsPerSecond <= 0) return { text: recent.errorsPerSecond > 0 ? fmtRate(recent.errorsPerSecond) : "0%", cls: recent.errorsPerSecond > 0 ? "bad" : "" };
    const percent = (100 * recent.errorsPerSecond) / recent.requestsPerSecond;
    return { text: (percent >= 10 ? Math.round(percent) : percent.toFixed(1)) + "%", cls: percent >= 5 ? "bad" : percent > 0 ? "warn" : "" };
  };
  const fmtSpan = (ms: number): string => {
    const seconds = Math.round(Math.abs(ms) / 1000);
    if (seconds < 60) return seconds + " s";
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return minutes + " min";
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + " h" + (minutes % 60 > 0 && hours < 10 ? " " + (minutes % 60) + " min" : "");
    return Math.round(hours / 24) + " days";
  };
  const relative = (iso: string | null | undefined): string => {
    if (iso === null || iso === undefined) return dash;
    const delta = Date.parse(iso) - Date.now();
    if (Number.isNaN(delta)) return dash;
    return delta >= 0 ? "in " + fmtSpan(delta) : fmtSpan(delta) + " ago";
  };
  const absolute = (iso: string | null | undefined): string => (iso === null || iso === undefined ? "" : new Date(iso).toLocaleString());
  const fmtDuration = (ms: number | null): string => {
    if (ms === null) return dash;
    for (const [unit, size] of [
      ["d", 86_400_000],
      ["h", 3_600_000],
      ["m", 60_000],
      ["s", 1_000],
    ] as const) {
      if (ms >= size && ms % size === 0) return ms / size + unit;
    }
    return ms + "ms";
  };

  // ---- Keyed rendering: rows and blocks are created once per key and updated in place ----
  const rowMaps = new WeakMap<HTMLElement, Map<string, HTMLTableRowElement>>();

  function fillButton(button: HTMLButtonElement, spec: ButtonSpec): void {
    setText(button, spec.button);
    if (button.getAttribute("aria-label") !== spec.aria) button.setAttribute("aria-label", spec.aria);
    button.onclick = spec.action;
  }

  function newButton(): HTMLButtonElement {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small";
    return button;
  }

  function fillCell(cell: HTMLTableCellElement, spec: CellSpec): void {
    if (typeof spec === "object" && "button" in spec) {
      let button = cell.querySelector("button");
      if (button === null) {
        button = newButton();
        cell.replaceChildren(button);
      }
      fillButton(button, spec);
      return;
    }
    if (typeof spec === "object" && "buttons" in spec) {
      // Buttons are kept by label, so the one holding the focus survives an update that keeps it.
      const existing = new Map([...cell.querySelectorAll("button")].map((button) => [button.textContent ?? "", button]));
      const buttons = spec.buttons.map((each) => {
        const button = existing.get(each.button) ?? newButton();
        fillButton(button, each);
        return button;
      });
      if (buttons.length === 0) {
        setText(cell, dash);
      } else if (buttons.some((button, index) => cell.children[index] !== button) || cell.children.length !== buttons.length) {
        cell.replaceChildren(...buttons);
      }
      return;
    }
    const text = typeof spec === "string" ? spec : spec.text;
    const cls = typeof spec === "string" ? "" : (spec.cls ?? "");
    const title = typeof spec === "string" ? "" : (spec.title ?? "");
    setText(cell, text);
    setClass(cell, cls);
    if (title === "") cell.removeAttribute("title");
    else if (cell.title !== title) cell.title = title;
  }

  /** Makes `body` hold exactly `rows`, in order, reusing the rows of keys it already shows. */
  function syncRows(body: HTMLTableSectionElement, rows: readonly RowSpec[], emptyText: string): void {
    let known = rowMaps.get(body);
    if (known === undefined) {
      known = new Map();
      rowMaps.set(body, known);
    }
    const labels = [...(body.closest("table")?.querySelectorAll("thead th") ?? [])].map((th) => th.textContent ?? "");
    const wanted = new Set(rows.map((row) => row.key));
    for (const [key, row] of known) {
      if (!wanted.has(key)) {
        row.remove();
        known.delete(key);
      }
    }
    rows.forEach((spec, index) => {
      let row = known.get(spec.key);
      if (row === undefined) {
        row = document.createElement("tr");
        row.dataset.key = spec.key;
        spec.cells.forEach((_cell, column) => {
          const cell = document.createElement(column === 0 ? "th" : "td");
          if (column === 0) cell.setAttribute("scope", "row");
          cell.dataset.label = labels[column] ?? "";
          row!.append(cell);
        });
        known.set(spec.key, row);
      }
      setClass(row, spec.cls ?? "");
      spec.cells.forEach((cellSpec, column) => fillCell(row!.cells[column]!, cellSpec));
      // Move only what is out of place: moving a row that holds the focus would drop it.
      if (body.rows[index] !== row) body.insertBefore(row, body.rows[index] ?? null);
    });
    const table = body.closest("table");
    const empty = table?.parentElement?.nextElementSibling;
    if (empty instanceof HTMLElement && empty.classList.contains("empty")) {
      setText(empty, emptyText);
      empty.hidden = rows.length > 0;
    }
  }

  // ---- Sections ----
  function renderOverview(report: StatusReport): void {
    const targets = report.services.flatMap((service) => service.targets);
    const up = targets.filter((target) => target.healthy).length;
    const open = targets.filter((target) => target.breaker !== "closed").length;
    const recents = report.routes.map((route) => route.recent).filter((recent): recent is Recent => recent !== null);
    const rps = recents.reduce((total, recent) => total + recent.requestsPerSecond, 0);
    const errors = recents.reduce((total, recent) => total + (recent.errorsPerSecond ?? 0), 0);
    const soonest = report.certificates.map((cert) => Date.parse(cert.notAfter)).filter((at) => !Number.isNaN(at)).sort((a, b) => a - b)[0];
    const daysLeft = soonest === undefined ? undefined : (soonest - Date.now()) / 86_400_000;
    const workers = report.workers;
    const ready = workers?.filter((worker) => worker.state === "ready").length ?? 0;
    const last = report.config.lastReload;
    const cards: [string, string, string, string][] = [
      ["requests", "Requests", recents.length === 0 ? dash : fmtRate(rps), recents.length === 0 ? "measuring…" : "5xx " + errorShare({ requestsPerSecond: rps, errorsPerSecond: errors, meanLatencyMs: null }).text],
      ["targets", "Targets up", up + " / " + targets.length, open > 0 ? open + " breaker(s) not closed" : "breakers closed"],
      ["bans", "Active bans", String(report.bans.active), report.jails.reduce((total, jail) => total + jail.bansTotal, 0) + " issued"],
      ["store", "Store", report.store.up === null ? "unknown" : report.store.up ? "up" : "down", report.store.kind],
      ["certs", "Certificates", String(report.certificates.length), daysLeft === undefined ? "" : "first expiry in " + fmtSpan(daysLeft * 86_400_000)],
      ["config", "Config", "generation " + report.config.generation, last === null ? "no reload yet" : (last.ok ? "reloaded " : "reload failed ") + relative(last.at)],
      ["workers", "Workers", workers === null ? "1 process" : ready + " / " + workers.length + " ready", workers === null ? "pid " + report.instance.pid : "primary pid " + report.instance.pid],
    ];
    const state: Record<string, string> = {
      requests: errors > 0 && rps > 0 && errors / rps >= 0.05 ? "bad" : "",
      targets: up < targets.length ? "bad" : open > 0 ? "warn" : "good",
      bans: "",
      store: report.store.up === false ? "bad" : report.store.up ? "good" : "",
      certs: daysLeft === undefined ? "" : daysLeft < 7 ? "bad" : daysLeft < 14 ? "warn" : "good",
      config: last !== null && !last.ok ? "bad" : report.config.pendingRestart.length > 0 ? "warn" : "good",
      workers: workers !== null && ready < workers.length ? "bad" : "good",
    };
    const list = byId("cards");
    for (const [key, title, value, detail] of cards) {
      let card = list.querySelector<HTMLElement>('[data-card="' + key + '"]');
      if (card === null) {
        card = document.createElement("div");
        card.dataset.card = key;
        card.append(document.createElement("dt"), document.createElement("dd"), document.createElement("dd"));
        card.children[2]!.className = "detail";
        list.append(card);
      }
      setClass(card, "card " + (state[key] ?? ""));
      setText(card.children[0]!, title);
      setText(card.children[1]!, value);
      setText(card.children[2]!, detail);
    }
    const instance = report.workers === null ? "pid " + report.instance.pid : report.workers.length + " workers";
    const version = report.instance.version === null ? "" : "Rampart " + report.instance.version + " · ";
    setText(byId("instance"), version + instance + " · Node " + report.instance.node + " · up " + fmtSpan(report.instance.uptimeSeconds * 1000));
  }

  function backendOf(route: RouteStatus): { text: string; title: string } {
    if (route.respond !== null) return { text: "answers " + route.respond, title: "the route answers by itself (respond)" };
    if (route.split === null) return { text: route.service ?? dash, title: "" };
    const total = route.split.reduce((sum, side) => sum + side.weight, 0);
    const text = route.split.map((side) => side.service + " " + (total > 0 ? Math.round((100 * side.weight) / total) : 0) + "%").join(" · ");
    const configured = route.split.map((side) => side.service + " " + side.configured).join(", ");
    return { text, title: "split weights now (configured: " + configured + ")" + (route.sticky !== null && route.sticky !== "none" ? ", sticky: " + route.sticky : "") };
  }

  function renderRoutes(report: StatusReport): void {
    syncRows(
      byId<HTMLTableSectionElement>("routes-body"),
      report.routes.map((route) => {
        const match = (route.host ?? "*") + route.pathPrefix + (route.methods === null ? "" : " [" + route.methods.join(", ") + "]");
        const rollout = route.rollout;
        const share = errorShare(route.recent);
        const guards = [route.rateLimit === null ? "" : "limit " + route.rateLimit, route.jails.length === 0 ? "" : "jails " + route.jails.join(", "), route.faults ? "faults" : ""].filter((text) => text !== "");
        return {
          key: route.name,
          cells: [
            route.name,
            match,
            backendOf(route),
            rollout === null
              ? dash
              : {
                  text: rollout.state + " · " + rollout.to + " " + rollout.weight + "%" + (rollout.failures > 0 ? " · " + rollout.failures + " failed" : ""),
                  cls: rollout.state === "rolled-back" ? "bad" : rollout.state === "paused" ? "warn" : rollout.state === "promoted" ? "good" : "",
                  title: rollout.reason + " (since " + absolute(rollout.since) + ")",
                },
            fmtRate(route.recent?.requestsPerSecond),
            share,
            fmtMs(route.recent?.meanLatencyMs),
            String(route.inFlight),
            guards.length === 0 ? dash : guards.join(" · "),
            { buttons: rollout === null ? [] : rolloutButtons(route.name, rollout.state, rollout.to) },
          ],
        };
      }),
      "No routes configured.",
    );
  }

  /** The last request error; else, for a target probes cannot reach over TLS, the last TLS error (a certificate that expired). */
  function lastErrorCell(target: TargetStatus): CellSpec {
    if (target.lastError !== null) return { text: target.lastError, title: target.tls.errors > 0 ? target.tls.errors + " TLS errors" : "" };
    if (target.tls.lastError !== null) return { text: "TLS: " + target.tls.lastError, cls: "bad", title: target.tls.errors + " TLS errors, the last " + absolute(target.tls.lastErrorAt) };
    return { text: dash, cls: "muted" };
  }

  function targetState(target: TargetStatus): { text: string; cls: string; title: string } {
    const seen = target.workers === undefined ? "" : " (" + target.workers.healthy + "/" + target.workers.reporting + " workers)";
    return target.healthy ? { text: "up", cls: "state good", title: "passes its health checks" + seen } : { text: "down", cls: "state bad", title: "failing its health checks" + seen };
  }

  function serviceBlock(service: ServiceStatus): HTMLElement {
    const block = document.createElement("section");
    block.className = "service";
    block.dataset.service = service.name;
    const heading = document.createElement("h3");
    heading.id = "service-" + service.name;
    heading.textContent = service.name;
    block.setAttribute("aria-labelledby", heading.id);
    const meta = document.createElement("p");
    meta.className = "meta";
    const scroll = document.createElement("div");
    scroll.className = "scroll";
    const table = document.createElement("table");
    table.className = "stack";
    const caption = document.createElement("caption");
    caption.className = "visually-hidden";
    caption.textContent = "Targets of " + service.name;
    const head = table.createTHead().insertRow();
    for (const title of ["Target", "State", "Breaker", "In flight", "Req/s", "Errors", "Latency", "Last error"]) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = title;
      head.append(th);
    }
    table.prepend(caption);
    table.append(document.createElement("tbody"));
    scroll.append(table);
    block.append(heading, meta, scroll);
    return block;
  }

  function renderServices(report: StatusReport): void {
    const list = byId("services-list");
    const wanted = new Set(report.services.map((service) => service.name));
    for (const block of [...list.querySelectorAll<HTMLElement>("section.service")]) if (!wanted.has(block.dataset.service ?? "")) block.remove();
    report.services.forEach((service, index) => {
      let block = [...list.querySelectorAll<HTMLElement>("section.service")].find((each) => each.dataset.service === service.name);
      if (block === undefined) block = serviceBlock(service);
      if (list.children[index] !== block) list.insertBefore(block, list.children[index] ?? null);
      const check = service.healthCheck;
      const down = service.targets.filter((target) => !target.healthy).length;
      const meta = [
        service.targets.length - down + "/" + service.targets.length + " up",
        service.balancer,
        service.protocol,
        check === null ? "no health checks" : check.kind === "grpc" ? "gRPC health every " + fmtDuration(check.intervalMs) : "GET " + check.path + " every " + fmtDuration(check.intervalMs),
        service.circuitBreaker ? "circuit breaker" : "",
      ].filter((text) => text !== "");
      setText(block.querySelector(".meta")!, meta.join(" · "));
      setClass(block, "service" + (down === service.targets.length && down > 0 ? " bad" : down > 0 ? " warn" : ""));
      syncRows(
        block.querySelector("tbody")!,
        service.targets.map((target) => {
          const share = errorShare(target.recent);
          return {
            key: target.target,
            cells: [
              { text: target.target, title: target.url + (target.weight === 1 ? "" : " · weight " + target.weight) },
              targetState(target),
              { text: target.breaker, cls: target.breaker === "open" ? "bad" : target.breaker === "half-open" ? "warn" : "" },
              String(target.inFlight),
              fmtRate(target.recent?.requestsPerSecond),
              share,
              fmtMs(target.recent?.meanLatencyMs),
              lastErrorCell(target),
            ],
          };
        }),
        "",
      );
    });
    setText(byId("services-empty"), report.services.length === 0 ? "No services configured." : "");
    byId("services-empty").hidden = report.services.length > 0;
  }

  function renderBans(report: StatusReport): void {
    const bans = report.bans;
    setText(byId("bans-count"), bans.active === 0 ? "No address is banned." : bans.active + (bans.active === 1 ? " address banned" : " addresses banned") + (bans.truncated ? "; the newest " + bans.list.length + " are listed" : "") + ".");
    syncRows(
      byId<HTMLTableSectionElement>("bans-body"),
      bans.list.map((ban: BanRow) => ({
        key: ban.ip,
        cells: [ban.ip, ban.jail, { text: relative(ban.until), title: absolute(ban.until) }, ban.reason, { button: "Lift", aria: "Lift the ban on " + ban.ip, action: () => void liftBan(ban.ip) }],
      })),
      "",
    );
  }

  function renderCertificates(report: StatusReport): void {
    syncRows(
      byId<HTMLTableSectionElement>("certs-body"),
      report.certificates.map((cert) => {
        const days = (Date.parse(cert.notAfter) - Date.now()) / 86_400_000;
        return {
          key: cert.domain,
          cells: [
            cert.domain,
            cert.source,
            { text: cert.issuer, title: cert.issuer },
            { text: relative(cert.notAfter), title: absolute(cert.notAfter), cls: days < 7 ? "bad" : days < 14 ? "warn" : "" },
            { text: cert.nextRenewal === null ? dash : relative(cert.nextRenewal), title: absolute(cert.nextRenewal) },
            cert.lastError == null
              ? dash
              : { text: cert.lastError.code + " " + relative(cert.lastError.at), title: cert.lastError.message + " (" + absolute(cert.lastError.at) + ")", cls: "bad" },
          ],
        };
      }),
      "No certificates.",
    );
  }

  function renderLimits(report: StatusReport): void {
    syncRows(
      byId<HTMLTableSectionElement>("limits-body"),
      report.rateLimits.map((row) => ({
        key: row.policy + " " + row.route,
        cells: [
          row.policy,
          row.route,
          row.limit === null ? dash : row.limit + " per " + fmtDuration(row.windowMs) + (row.key === null ? "" : " by " + row.key),
          String(row.rejectionsTotal),
          { text: fmtRate(row.rejectionsPerSecond), cls: (row.rejectionsPerSecond ?? 0) > 0 ? "warn" : "" },
        ],
      })),
      "No route has a rate limit.",
    );
    syncRows(
      byId<HTMLTableSectionElement>("jails-body"),
      report.jails.map((jail) => ({
        key: jail.name,
        cells: [
          jail.name,
          jail.maxRetry === null ? "admin API" : jail.maxRetry + " in " + fmtDuration(jail.findTimeMs),
          fmtDuration(jail.banTimeMs),
          String(jail.bansTotal),
          { text: fmtRate(jail.bansPerSecond), cls: (jail.bansPerSecond ?? 0) > 0 ? "warn" : "" },
        ],
      })),
      "No jails configured and no bans issued.",
    );
  }

  function renderConfig(report: StatusReport): void {
    const config = report.config;
    const last = config.lastReload;
    const store = report.store;
    const rows: RowSpec[] = [
      { key: "store", cells: ["Store", { text: store.kind + " · " + (store.up === null ? "unknown" : store.up ? "up" : "down") + " · on failure: " + store.onStoreFailure, cls: store.up === false ? "bad" : store.up ? "good" : "" }] },
      { key: "generation", cells: ["Generation", { text: String(config.generation), title: "1 is the config the process started with; each applied reload adds one" }] },
      { key: "loaded", cells: ["Loaded", { text: relative(config.loadedAt), title: absolute(config.loadedAt) }] },
      {
        key: "reload",
        cells: [
          "Last reload",
          last === null
            ? { text: "none since start " + relative(config.startedAt), cls: "muted" }
            : last.ok
              ? { text: "applied " + relative(last.at) + (last.restartRequired.length > 0 ? "; after a restart only: " + last.restartRequired.join(", ") : ""), cls: "good", title: absolute(last.at) }
              : { text: "rejected " + relative(last.at) + ": " + last.problems.join("; "), cls: "bad", title: absolute(last.at) },
        ],
      },
      {
        key: "pending",
        cells: ["Waiting for a restart", config.pendingRestart.length === 0 ? { text: "nothing", cls: "muted" } : { text: config.pendingRestart.join(", "), cls: "warn" }],
      },
      { key: "restart-only", cells: ["Read only at start", { text: config.restartOnlyKeys.join(", "), cls: "muted small-text" }] },
    ];
    syncRows(byId<HTMLTableSectionElement>("config-body"), rows, "");
  }

  function renderWorkers(report: StatusReport): void {
    const workers = report.workers;
    byId("workers").hidden = workers === null;
    if (workers === null) return;
    syncRows(
      byId<HTMLTableSectionElement>("workers-body"),
      workers.map((worker) => ({
        key: String(worker.index),
        cells: [
          "worker " + worker.index,
          worker.pid === null ? dash : String(worker.pid),
          { text: worker.state, cls: worker.state === "ready" ? "good" : worker.state === "starting" ? "warn" : "bad" },
          { text: String(worker.recentCrashes), cls: worker.recentCrashes > 0 ? "warn" : "" },
        ],
      })),
      "No workers.",
    );
  }

  function render(report: StatusReport): void {
    lastReport = report;
    byId("content").hidden = false;
    renderOverview(report);
    renderRoutes(report);
    renderServices(report);
    renderBans(report);
    renderCertificates(report);
    renderLimits(report);
    renderConfig(report);
    renderWorkers(report);
    const span = report.recentWindowSeconds;
    setText(byId("window"), span > 0 ? "Rates over the last " + Math.round(span) + " s." : "Rates appear after the next update.");
  }

  // ---- The admin API ----
  async function api(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    if (token !== "") headers.authorization = "Bearer " + token;
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(path, { method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 401) {
      lock(token === "" ? "" : "The gateway did not accept this token.");
      throw new Unauthorized("unauthorized");
    }
    return response;
  }

  async function messageOf(response: Response): Promise<string> {
    try {
      const body = (await response.json()) as { message?: string; error?: string };
      return body.message ?? body.error ?? "HTTP " + response.status;
    } catch {
      return "HTTP " + response.status;
    }
  }

  function setConnection(ok: boolean, detail: string): void {
    const live = byId("live");
    setText(live, ok ? (paused ? "Paused" : "Live") : "Disconnected");
    setClass(live, "pill " + (ok ? (paused ? "" : "good") : "bad"));
    setText(byId("updated"), detail);
    if (connected !== ok) {
      if (connected !== undefined) announce(ok ? "Connected to the gateway again." : "Lost contact with the gateway: " + detail);
      connected = ok;
    }
  }

  async function pollOnce(): Promise<void> {
    try {
      const response = await api("GET", "/api/status");
      if (!response.ok) throw new Error(await messageOf(response));
      const report = (await response.json()) as StatusReport;
      // The token was forgotten while this answer was on its way: show nothing.
      if (locked) return;
      render(report);
      failures = 0;
      setConnection(true, "Updated " + new Date(report.generatedAt).toLocaleTimeString());
    } catch (error) {
      if (error instanceof Unauthorized) return;
      failures++;
      setConnection(false, (error instanceof Error ? error.message : String(error)) + (lastReport === undefined ? "" : " · showing data from " + new Date(lastReport.generatedAt).toLocaleTimeString()));
    }
  }

  /** Polls now (once more after the current poll if one is running), then on the schedule. */
  function refresh(): void {
    if (polling !== undefined) {
      again = true;
      return;
    }
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    polling = pollOnce().finally(() => {
      polling = undefined;
      if (again) {
        again = false;
        refresh();
      } else schedule();
    });
  }

  function schedule(): void {
    if (paused || locked || timer !== undefined) return;
    const delay = failures > 0 ? FAILING_POLL_MS : document.hidden ? HIDDEN_POLL_MS : POLL_MS;
    timer = setTimeout(() => {
      timer = undefined;
      refresh();
    }, delay);
  }

  function lock(message: string): void {
    locked = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    byId("content").hidden = true;
    byId("forget").hidden = true;
    byId("login").hidden = false;
    setText(byId("login-error"), message);
    setConnection(false, "The admin API needs a token.");
    byId<HTMLInputElement>("token").focus();
  }

  function unlock(value: string): void {
    token = value;
    if (value === "") sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, value);
    locked = false;
    byId("login").hidden = true;
    byId("forget").hidden = value === "";
    refresh();
  }

  // ---- Actions ----
  /** The actions a rollout in `state` takes (POST /api/rollouts/{route}/{action}); none once it ended. */
  function rolloutButtons(route: string, state: string, to: string): ButtonSpec[] {
    if (state !== "progressing" && state !== "paused") return [];
    const step = state === "paused" ? "resume" : "pause";
    return [
      { button: state === "paused" ? "Resume" : "Pause", aria: (state === "paused" ? "Resume" : "Pause") + " the rollout of " + route, action: () => void rolloutAction(route, step, "") },
      { button: "Promote", aria: "Promote " + to + " to 100% on " + route, action: () => void rolloutAction(route, "promote", "Send all of " + route + "'s traffic to " + to + "?") },
      { button: "Abort", aria: "Abort the rollout of " + route + " and roll back", action: () => void rolloutAction(route, "abort", "Roll " + route + " back and stop the rollout?") },
    ];
  }

  async function rolloutAction(route: string, action: string, question: string): Promise<void> {
    // Promote and abort cannot be undone from here: asked first (pause and resume can).
    if (question !== "" && !window.confirm(question)) return;
    const status = byId("routes-message");
    try {
      const response = await api("POST", "/api/rollouts/" + encodeURIComponent(route) + "/" + action);
      setClass(status, response.ok ? "message good" : "message bad");
      setText(status, response.ok ? "Rollout of " + route + ": " + action + " done." : "Could not " + action + " the rollout of " + route + ": " + (await messageOf(response)));
    } catch (error) {
      if (error instanceof Unauthorized) return;
      setClass(status, "message bad");
      setText(status, "Could not " + action + " the rollout of " + route + ": " + String(error));
    }
    refresh();
  }

  async function liftBan(ip: string): Promise<void> {
    const status = byId("bans-message");
    try {
      const response = await api("DELETE", "/api/bans/" + encodeURIComponent(ip));
      if (response.ok || response.status === 404) {
        setClass(status, "message good");
        setText(status, response.ok ? "Lifted the ban on " + ip + "." : ip + " was no longer banned.");
        // Where the focus goes when its row disappears: the ban form, not the top of the page.
        const active = document.activeElement;
        if (active instanceof HTMLElement && active.closest("#bans-body") !== null) byId("ban-ip").focus();
      } else {
        setClass(status, "message bad");
        setText(status, "Could not lift the ban on " + ip + ": " + (await messageOf(response)));
      }
    } catch (error) {
      if (error instanceof Unauthorized) return;
      setClass(status, "message bad");
      setText(status, "Could not lift the ban on " + ip + ": " + String(error));
    }
    refresh();
  }

  async function addBan(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const ip = byId<HTMLInputElement>("ban-ip").value.trim();
    const duration = byId<HTMLInputElement>("ban-duration").value.trim();
    const reason = byId<HTMLInputElement>("ban-reason").value.trim();
    const status = byId("bans-message");
    try {
      const response = await api("POST", "/api/bans", { ip, duration, ...(reason === "" ? {} : { reason }) });
      if (response.ok) {
        const ban = (await response.json()) as BanRow;
        setClass(status, "message good");
        setText(status, "Banned " + ban.ip + " until " + absolute(ban.until) + ".");
        form.reset();
      } else {
        setClass(status, "message bad");
        setText(status, "Not banned: " + (await messageOf(response)));
      }
    } catch (error) {
      if (error instanceof Unauthorized) return;
      setClass(status, "message bad");
      setText(status, "Not banned: " + String(error));
    }
    refresh();
  }

  // ---- Wiring ----
  byId<HTMLFormElement>("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = byId<HTMLInputElement>("token");
    const value = input.value;
    input.value = "";
    unlock(value);
  });
  byId<HTMLFormElement>("ban-form").addEventListener("submit", (event) => void addBan(event as SubmitEvent));
  byId("forget").addEventListener("click", () => lock("Token forgotten. Enter it again to continue."));
  byId("pause").addEventListener("click", () => {
    paused = !paused;
    const button = byId("pause");
    button.setAttribute("aria-pressed", String(paused));
    setText(button, paused ? "Resume updates" : "Pause updates");
    if (paused) {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      setConnection(connected ?? true, "Updates paused");
    } else refresh();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !paused && !locked) refresh();
  });
  byId("forget").hidden = token === "";
  refresh();
}

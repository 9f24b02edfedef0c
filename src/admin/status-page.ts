// GET / on the admin listener: the status page. One self-contained HTML document (inline CSS and script,
// no external asset, so it works offline and behind any firewall), shipped inside the compiled package as
// this module's string. It holds no data and is served without the admin token; its script reads
// GET /api/status (asking for the token when the API answers 401) and drives /api/bans.
// The Content-Security-Policy allows exactly this one script (by hash) and requests to the page's own
// origin, so nothing the gateway reports (a ban reason, an upstream error) can run as code.
import { createHash } from "node:crypto";
import { statusPageScript } from "./status-page-script.js";

const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --panel: #fff; --text: #15181d; --muted: #5a6270; --line: #d9dde3;
  --good: #146c2e; --good-bg: #e3f4e8; --warn: #7a4d00; --warn-bg: #fff1d6; --bad: #a8071a; --bad-bg: #fde7e9;
  --accent: #1d4ed8; --focus: #2563eb;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #101318; --panel: #181c23; --text: #e8eaee; --muted: #a0a8b5; --line: #2d333d;
    --good: #6fd38d; --good-bg: #12301c; --warn: #f3c46b; --warn-bg: #3a2c0c; --bad: #ff8a96; --bad-bg: #3d1218;
    --accent: #8fb2ff; --focus: #8fb2ff;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--text); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Ubuntu, sans-serif; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 3px; }
.skip { position: absolute; left: 8px; top: -48px; background: var(--panel); padding: 8px 12px; z-index: 10; }
.skip:focus { top: 8px; }
.visually-hidden { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
header.top { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; justify-content: space-between; padding: 12px 16px; background: var(--panel); border-bottom: 1px solid var(--line); }
header.top h1 { margin: 0; font-size: 1.25rem; }
header.top .sub { margin: 0; color: var(--muted); font-size: .85rem; }
.controls { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
nav { background: var(--panel); border-bottom: 1px solid var(--line); overflow-x: auto; }
nav ul { display: flex; gap: 4px; margin: 0; padding: 6px 12px; list-style: none; white-space: nowrap; }
nav a { display: inline-block; padding: 6px 8px; text-decoration: none; border-radius: 6px; }
nav a:hover { background: var(--bg); }
main { max-width: 1280px; margin: 0 auto; padding: 12px 16px 32px; }
main:focus { outline: none; }
section.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; margin: 14px 0; }
h2 { font-size: 1.1rem; margin: 0 0 8px; }
h3 { font-size: 1rem; margin: 14px 0 2px; }
p { margin: 6px 0; }
.muted, .meta, .note { color: var(--muted); }
.meta, .note { font-size: .85rem; }
.small-text { font-size: .8rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; margin: 0; }
.card { border: 1px solid var(--line); border-left-width: 5px; border-radius: 8px; padding: 8px 10px; min-width: 0; }
.card dt { font-size: .8rem; color: var(--muted); }
.card dd { margin: 0; font-size: 1.15rem; font-weight: 600; overflow-wrap: anywhere; }
.card dd.detail { font-size: .8rem; font-weight: 400; color: var(--muted); }
.card.good { border-left-color: var(--good); }
.card.warn { border-left-color: var(--warn); background: var(--warn-bg); }
.card.bad { border-left-color: var(--bad); background: var(--bad-bg); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
caption { text-align: left; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { font-size: .8rem; color: var(--muted); font-weight: 600; white-space: nowrap; }
tbody th { font-weight: 600; overflow-wrap: anywhere; }
td.good, span.good { color: var(--good); font-weight: 600; }
td.warn { color: var(--warn); font-weight: 600; }
td.bad { color: var(--bad); font-weight: 600; }
td.state { text-transform: uppercase; font-size: .8rem; letter-spacing: .04em; }
td.state.good::before { content: "\\25CF  "; }
td.state.bad::before { content: "\\25B2  "; }
section.service { border-top: 1px solid var(--line); margin-top: 10px; }
section.service:first-child { border-top: 0; margin-top: 0; }
section.service.bad h3::after { content: " \\2014  every target down"; color: var(--bad); font-size: .85rem; }
.pill { display: inline-block; padding: 3px 10px; border-radius: 999px; font-size: .8rem; font-weight: 600; border: 1px solid var(--line); }
.pill.good { background: var(--good-bg); color: var(--good); }
.pill.bad { background: var(--bad-bg); color: var(--bad); }
button { font: inherit; min-height: 36px; padding: 6px 14px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary, .controls button { background: transparent; color: var(--accent); }
button.small { min-height: 32px; padding: 3px 12px; font-size: .85rem; }
button:hover { filter: brightness(1.1); }
form.inline { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: flex-end; margin: 8px 0 12px; }
form.inline label { display: flex; flex-direction: column; gap: 2px; font-size: .8rem; color: var(--muted); }
input { font: inherit; min-height: 36px; padding: 5px 8px; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--text); min-width: 0; }
#ban-ip { width: 17em; max-width: 100%; } #ban-duration { width: 6em; } #ban-reason { width: 16em; max-width: 100%; }
.message.good { color: var(--good); } .message.bad { color: var(--bad); }
.error { color: var(--bad); min-height: 1.4em; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr)); gap: 0 24px; }
footer { text-align: center; color: var(--muted); font-size: .8rem; padding: 0 16px 24px; }
@media (max-width: 700px) {
  body { font-size: 14px; }
  main { padding: 8px; }
  section.panel { padding: 10px; border-radius: 8px; }
  table.stack thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.stack, table.stack tbody, table.stack tr, table.stack th, table.stack td { display: block; width: 100%; }
  table.stack tr { border: 1px solid var(--line); border-radius: 8px; margin: 8px 0; padding: 4px 8px; }
  table.stack tbody th, table.stack td { border: 0; padding: 3px 0; display: flex; gap: 12px; justify-content: space-between; text-align: right; overflow-wrap: anywhere; }
  table.stack tbody th::before, table.stack td::before { content: attr(data-label); color: var(--muted); font-weight: 400; text-align: left; flex: 0 0 auto; }
  td.state.good::before, td.state.bad::before { content: attr(data-label); text-transform: none; letter-spacing: normal; font-size: 14px; }
}
`;

const BODY = `
<a class="skip" href="#main">Skip to the status</a>
<header class="top">
  <div>
    <h1>Rampart status</h1>
    <p class="sub" id="instance">Connecting to the admin API…</p>
  </div>
  <div class="controls">
    <span id="live" class="pill">Connecting</span>
    <span id="updated" class="muted small-text"></span>
    <button id="pause" type="button" aria-pressed="false">Pause updates</button>
    <button id="forget" type="button" hidden>Forget token</button>
  </div>
</header>
<nav aria-label="Sections">
  <ul>
    <li><a href="#overview">Overview</a></li>
    <li><a href="#routes">Routes</a></li>
    <li><a href="#services">Services</a></li>
    <li><a href="#bans">Bans</a></li>
    <li><a href="#certificates">Certificates</a></li>
    <li><a href="#limits">Limits and jails</a></li>
    <li><a href="#config">Store and config</a></li>
    <li><a href="#workers">Workers</a></li>
  </ul>
</nav>
<div id="announce" class="visually-hidden" role="status" aria-live="polite"></div>
<main id="main" tabindex="-1">
  <section id="login" class="panel" hidden aria-labelledby="login-title">
    <h2 id="login-title">Admin token</h2>
    <p>This gateway's admin API asks for its token (<code>adminToken</code>). The page keeps it for this browser tab only.</p>
    <form id="login-form" class="inline">
      <label for="token">Token <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required></label>
      <button type="submit">Show status</button>
    </form>
    <p id="login-error" class="error" role="alert"></p>
  </section>
  <div id="content" hidden>
    <section id="overview" class="panel" aria-labelledby="overview-title">
      <h2 id="overview-title">Overview</h2>
      <dl id="cards" class="cards"></dl>
      <p id="window" class="note"></p>
    </section>
    <section id="routes" class="panel" aria-labelledby="routes-title">
      <h2 id="routes-title">Routes</h2>
      <div class="scroll"><table class="stack">
        <thead><tr><th scope="col">Route</th><th scope="col">Match</th><th scope="col">Backend</th><th scope="col">Rollout</th><th scope="col">Req/s</th><th scope="col">5xx</th><th scope="col">Latency</th><th scope="col">In flight</th><th scope="col">Guards</th><th scope="col">Rollout actions</th></tr></thead>
        <tbody id="routes-body"></tbody>
      </table></div>
      <p id="routes-message" class="message" role="status"></p>
      <p class="empty muted" hidden></p>
    </section>
    <section id="services" class="panel" aria-labelledby="services-title">
      <h2 id="services-title">Services and targets</h2>
      <div id="services-list"></div>
      <p id="services-empty" class="muted" hidden></p>
    </section>
    <section id="bans" class="panel" aria-labelledby="bans-title">
      <h2 id="bans-title">Bans</h2>
      <p id="bans-count"></p>
      <form id="ban-form" class="inline" aria-label="Ban an address">
        <label for="ban-ip">IP address or IPv6 prefix <input id="ban-ip" name="ip" required autocomplete="off" spellcheck="false" placeholder="203.0.113.9"></label>
        <label for="ban-duration">Duration <input id="ban-duration" name="duration" required value="1h" autocomplete="off" spellcheck="false"></label>
        <label for="ban-reason">Reason (optional) <input id="ban-reason" name="reason" autocomplete="off"></label>
        <button type="submit">Ban</button>
      </form>
      <p id="bans-message" class="message" role="status"></p>
      <div class="scroll"><table class="stack">
        <thead><tr><th scope="col">Address</th><th scope="col">Jail</th><th scope="col">Until</th><th scope="col">Reason</th><th scope="col">Action</th></tr></thead>
        <tbody id="bans-body"></tbody>
      </table></div>
    </section>
    <section id="certificates" class="panel" aria-labelledby="certificates-title">
      <h2 id="certificates-title">Certificates</h2>
      <div class="scroll"><table class="stack">
        <thead><tr><th scope="col">Name</th><th scope="col">Source</th><th scope="col">Issuer</th><th scope="col">Expires</th><th scope="col">Next renewal</th><th scope="col">Last ACME error</th></tr></thead>
        <tbody id="certs-body"></tbody>
      </table></div>
      <p class="empty muted" hidden></p>
    </section>
    <section id="limits" class="panel" aria-labelledby="limits-title">
      <h2 id="limits-title">Rate limits and jails</h2>
      <div class="grid2">
        <div>
          <h3>Rate-limit rejections</h3>
          <div class="scroll"><table class="stack">
            <thead><tr><th scope="col">Policy</th><th scope="col">Route</th><th scope="col">Limit</th><th scope="col">Rejected</th><th scope="col">Now</th></tr></thead>
            <tbody id="limits-body"></tbody>
          </table></div>
          <p class="empty muted" hidden></p>
        </div>
        <div>
          <h3>Jails</h3>
          <div class="scroll"><table class="stack">
            <thead><tr><th scope="col">Jail</th><th scope="col">Offences</th><th scope="col">Ban time</th><th scope="col">Bans issued</th><th scope="col">Now</th></tr></thead>
            <tbody id="jails-body"></tbody>
          </table></div>
          <p class="empty muted" hidden></p>
        </div>
      </div>
    </section>
    <section id="config" class="panel" aria-labelledby="config-title">
      <h2 id="config-title">Store and configuration</h2>
      <div class="scroll"><table class="stack">
        <thead><tr><th scope="col">What</th><th scope="col">State</th></tr></thead>
        <tbody id="config-body"></tbody>
      </table></div>
    </section>
    <section id="workers" class="panel" aria-labelledby="workers-title" hidden>
      <h2 id="workers-title">Workers</h2>
      <div class="scroll"><table class="stack">
        <thead><tr><th scope="col">Worker</th><th scope="col">PID</th><th scope="col">State</th><th scope="col">Crashes (last minute)</th></tr></thead>
        <tbody id="workers-body"></tbody>
      </table></div>
      <p class="empty muted" hidden></p>
    </section>
  </div>
</main>
<footer>Rampart admin listener · the data comes from <code>GET /api/status</code>; metrics at <a href="/metrics">/metrics</a></footer>
`;

const SCRIPT = `(${statusPageScript.toString()})();`;
if (SCRIPT.includes("</")) throw new Error("the status page script must not contain </ (it would end the <script> element)");

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

/** The page and the headers it is served with. */
export const STATUS_PAGE: { readonly html: string; readonly headers: Readonly<Record<string, string>> } = Object.freeze({
  html: `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>Rampart status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`,
  headers: Object.freeze({
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": [
      "default-src 'none'",
      `script-src ${sha256(SCRIPT)}`,
      `style-src ${sha256(STYLE)}`,
      "connect-src 'self'",
      "img-src data:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
  }),
});

// The status page (GET / on the admin listener) in a real browser: headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core) against a running gateway with two services and an
// adminToken. The page asks for the token and keeps it for the tab; it shows both services and their
// targets; a target whose backend goes away shows as down within 2 s; a ban added through the API shows,
// and the page's buttons lift bans (by mouse and by keyboard); a ban added with its form reaches the API.
// Everything it loads comes from the admin listener itself (no external asset), nothing trips its
// Content-Security-Policy, and it fits a phone's width. Screenshots go to test-artifacts/.
// Skipped when Chromium is not installed (.ci/run installs the Debian package).
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { chromium, type Page } from "playwright-core";
import type { ListedBan } from "../../helpers/admin-api.js";
import { request } from "../../helpers/client.js";
import { perTest } from "../../helpers/fixtures.js";
import { eventually } from "../../helpers/proxy-tools.js";

const CHROMIUM = "/usr/bin/chromium";
/** Generous: a 2-core machine running other suites in parallel starts Chromium slowly. */
const BROWSER_MS = 90_000;
const TOKEN = "status-page-test-token";
/** dist/test/integration/admin/ → the repository's test-artifacts/. */
const ARTIFACTS = fileURLToPath(new URL("../../../../test-artifacts/", import.meta.url));

const fixtures = perTest({ onCleanupError: "log" });

const auth = { authorization: `Bearer ${TOKEN}` };

async function bans(adminPort: number): Promise<ListedBan[]> {
  const res = await request({ port: adminPort, path: "/api/bans", headers: auth });
  assert.equal(res.status, 200, res.body);
  return res.json<ListedBan[]>();
}

async function ban(adminPort: number, ip: string, reason: string): Promise<void> {
  const res = await request({ port: adminPort, path: "/api/bans", method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ ip, duration: "1h", reason }) });
  assert.equal(res.status, 201, res.body);
}

/** The text of the state cell of `service`'s target row for 127.0.0.1:`port`. */
function stateCell(page: Page, service: string, port: number) {
  return page.locator(`section.service[data-service="${service}"] tr[data-key="127.0.0.1:${port}"] td.state`);
}

test("the status page shows the gateway's state live, asks for the token, and lifts and adds bans", { timeout: 240_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed (Debian package chromium)`);
    return;
  }
  const alphaOne = await fixtures.backend();
  const alphaTwo = await fixtures.backend();
  const beta = await fixtures.backend();
  // A probe may take 2 s before it counts as failed: with Chromium starting beside the rest of the suite
  // on two cores, a 500 ms limit failed one probe and showed a live target down (CI, Node 24). A backend
  // that goes away is refused at once, so "down" still shows within the 2 s asserted below.
  const check = { path: "/", interval: "100ms", timeout: "2s", unhealthyThreshold: 1, healthyThreshold: 1 };
  const gw = await fixtures.gateway({
    adminToken: TOKEN,
    services: {
      alpha: { targets: [{ url: alphaOne.url }, { url: alphaTwo.url }], healthCheck: check },
      beta: { targets: [{ url: beta.url }], healthCheck: check },
    },
    rateLimits: { tight: { limit: 2, window: "1m" } },
    jails: { logins: { when: { status: [401] }, maxRetry: 5 } },
    routes: [
      { name: "alpha", match: { pathPrefix: "/alpha" }, service: "alpha", rateLimit: "tight" },
      { name: "beta", match: { pathPrefix: "/" }, service: "beta", jails: ["logins"] },
    ],
  });
  // Some traffic, so the page has counts to show (the third /alpha request is rate limited).
  for (let i = 0; i < 3; i++) await request({ port: gw.httpsPort, path: "/alpha/x", tls: true });
  await request({ port: gw.httpsPort, path: "/beta", tls: true });

  const browser = await chromium.launch({ executablePath: CHROMIUM, timeout: BROWSER_MS });
  fixtures.defer(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(BROWSER_MS);
  const origin = `http://127.0.0.1:${gw.adminPort}`;
  const problems: string[] = [];
  page.on("console", (message) => {
    // The page's first call goes without a token: Chromium logs that 401, which is how the page learns it needs one.
    if (message.type() === "error" && !/status of 401/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("request", (req) => {
    const url = req.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith("data:")) problems.push(`request to another origin: ${url}`);
  });

  // The page itself needs no token, and asks for it.
  const response = await page.goto(`${origin}/`, { waitUntil: "load", timeout: BROWSER_MS });
  assert.equal(response?.status(), 200);
  const tokenInput = page.getByLabel("Token", { exact: true });
  await tokenInput.waitFor({ state: "visible" });
  assert.equal(await page.locator("#content").isHidden(), true, "no status before the token is given");
  await tokenInput.fill(TOKEN);
  await tokenInput.press("Enter");

  // Both services and every target, each up.
  for (const [service, port] of [
    ["alpha", alphaOne.port],
    ["alpha", alphaTwo.port],
    ["beta", beta.port],
  ] as const) {
    await stateCell(page, service, port).waitFor({ timeout: 10_000 });
    assert.equal(await stateCell(page, service, port).textContent(), "up", `${service} 127.0.0.1:${port}`);
  }
  assert.equal(await page.evaluate(() => sessionStorage.getItem("rampart.adminToken")), TOKEN, "the token is kept for the tab");
  assert.equal(await page.evaluate(() => localStorage.length), 0, "and nowhere else");
  const routes = await page.locator("#routes-body tr").evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.key));
  assert.deepEqual(routes, ["alpha", "beta"]);
  assert.match((await page.locator('#limits-body tr[data-key="tight alpha"]').textContent()) ?? "", /tight.*alpha.*2 per 1m.*1/);

  // A target whose backend goes away shows as down within 2 s (health checks every 100 ms, page polls every 1 s).
  await alphaTwo.close();
  const closedAt = Date.now();
  await page.waitForFunction(
    (selector) => document.querySelector(selector)?.textContent === "down",
    `section.service[data-service="alpha"] tr[data-key="127.0.0.1:${alphaTwo.port}"] td.state`,
    { timeout: 2_000, polling: 50 },
  );
  const shownAfter = Date.now() - closedAt;
  assert.ok(shownAfter < 2_000, `down shown after ${shownAfter} ms`);
  assert.equal(await stateCell(page, "alpha", alphaOne.port).textContent(), "up", "the other target stays up");

  // Bans added through the API show (newest first).
  await ban(gw.adminPort, "203.0.113.7", "scraping");
  await ban(gw.adminPort, "203.0.113.8", "credential stuffing");
  const liftFirst = page.getByRole("button", { name: "Lift the ban on 203.0.113.7" });
  const liftSecond = page.getByRole("button", { name: "Lift the ban on 203.0.113.8" });
  await liftSecond.waitFor({ timeout: 3_000 });
  await liftFirst.waitFor({ timeout: 3_000 });
  assert.match((await page.locator('#bans-body tr[data-key="203.0.113.8"]').textContent()) ?? "", /manual.*credential stuffing/);

  // Keyboard: Tab from the ban form's button reaches the lift buttons, the focus survives the page's
  // updates, and Enter lifts the ban.
  await page.getByRole("button", { name: "Ban", exact: true }).focus();
  let focused = "";
  for (let presses = 0; presses < 5 && focused !== "Lift the ban on 203.0.113.8"; presses++) {
    await page.keyboard.press("Tab");
    focused = await page.evaluate(() => document.activeElement?.getAttribute("aria-label") ?? document.activeElement?.tagName ?? "");
  }
  assert.equal(focused, "Lift the ban on 203.0.113.8", "the lift button is reached with Tab");
  await sleep(2_200); // two updates of the page
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Lift the ban on 203.0.113.8", "updates keep the focus");
  await page.screenshot({ path: `${artifacts()}status-page-focus.png` });
  await page.keyboard.press("Enter");
  await eventually(async () => ((await bans(gw.adminPort)).some((each) => each.ip === "203.0.113.8") ? undefined : true), 2_000, "203.0.113.8 lifted");
  await liftSecond.waitFor({ state: "detached", timeout: 3_000 });

  // Mouse: clicking a lift button lifts that ban, and GET /api/bans no longer lists it.
  await liftFirst.click();
  await eventually(async () => ((await bans(gw.adminPort)).some((each) => each.ip === "203.0.113.7") ? undefined : true), 2_000, "203.0.113.7 lifted");
  await liftFirst.waitFor({ state: "detached", timeout: 3_000 });
  assert.match((await page.locator("#bans-message").textContent()) ?? "", /Lifted the ban on 203\.0\.113\.7/);

  // The form bans an address.
  await page.getByLabel("IP address or IPv6 prefix").fill("198.51.100.23");
  await page.getByLabel("Duration").fill("30m");
  await page.getByLabel("Reason (optional)").fill("seen in the logs");
  await page.getByRole("button", { name: "Ban", exact: true }).click();
  const added = await eventually(async () => (await bans(gw.adminPort)).find((each) => each.ip === "198.51.100.23"), 2_000, "the form's ban");
  assert.deepEqual([added.jail, added.reason], ["manual", "seen in the logs"]);
  await page.getByRole("button", { name: "Lift the ban on 198.51.100.23" }).waitFor({ timeout: 3_000 });

  await page.screenshot({ path: `${artifacts()}status-page.png`, fullPage: true });

  // A phone: nothing wider than the screen, the tables stack.
  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(1_200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than a phone's screen`);
  await page.screenshot({ path: `${artifacts()}status-page-phone.png`, fullPage: true });

  assert.deepEqual(problems, []);
});

test("the status page asks again for a token the gateway does not accept", { timeout: 240_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed (Debian package chromium)`);
    return;
  }
  const backend = await fixtures.backend();
  const gw = await fixtures.gateway({ adminToken: TOKEN, services: { app: { targets: [{ url: backend.url }] } }, routes: [{ name: "app", service: "app" }] });
  const browser = await chromium.launch({ executablePath: CHROMIUM, timeout: BROWSER_MS });
  fixtures.defer(() => browser.close());
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(BROWSER_MS);
  await page.goto(`http://127.0.0.1:${gw.adminPort}/`, { waitUntil: "load", timeout: BROWSER_MS });
  await page.getByLabel("Token", { exact: true }).fill("wrong");
  await page.getByRole("button", { name: "Show status" }).click();
  await page.getByText("The gateway did not accept this token.").waitFor({ timeout: 5_000 });
  assert.equal(await page.evaluate(() => sessionStorage.getItem("rampart.adminToken")), null, "a rejected token is not kept");
  assert.equal(await page.locator("#content").isHidden(), true);
  await page.getByLabel("Token", { exact: true }).fill(TOKEN);
  await page.getByRole("button", { name: "Show status" }).click();
  await stateCell(page, "app", backend.port).waitFor({ timeout: 5_000 });
  // "Forget token" drops it from the tab and asks again.
  await page.getByRole("button", { name: "Forget token" }).click();
  await page.getByLabel("Token", { exact: true }).waitFor({ state: "visible", timeout: 5_000 });
  assert.equal(await page.evaluate(() => sessionStorage.getItem("rampart.adminToken")), null);
});

test("the status page's rollout buttons pause, resume, abort (only once confirmed) and promote", { timeout: 240_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed (Debian package chromium)`);
    return;
  }
  const v1 = await fixtures.backend();
  const v2 = await fixtures.backend();
  const gw = await fixtures.gateway({
    services: { v1: { targets: [{ url: v1.url }] }, v2: { targets: [{ url: v2.url }] } },
    // A long interval: the rollout only moves when a button moves it.
    routes: [{ name: "web", split: { services: { v1: 90, v2: 10 } }, rollout: { from: "v1", to: "v2", interval: "1h" } }],
  });
  const state = async (): Promise<string> => {
    const res = await request({ port: gw.adminPort, path: "/api/rollouts" });
    return res.json<{ route: string; state: string }[]>().find((each) => each.route === "web")?.state ?? "none";
  };
  const browser = await chromium.launch({ executablePath: CHROMIUM, timeout: BROWSER_MS });
  fixtures.defer(() => browser.close());
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(BROWSER_MS);
  await page.goto(`http://127.0.0.1:${gw.adminPort}/`, { waitUntil: "load", timeout: BROWSER_MS });
  const webRow = page.locator('#routes-body tr[data-key="web"]');
  await page.waitForFunction(() => /progressing/.test(document.querySelector('#routes-body tr[data-key="web"]')?.textContent ?? ""), undefined, { timeout: 10_000 });

  await page.getByRole("button", { name: "Pause the rollout of web" }).click();
  await eventually(async () => ((await state()) === "paused" ? true : undefined), 3_000, "paused");
  await page.getByRole("button", { name: "Resume the rollout of web" }).waitFor({ timeout: 3_000 });
  assert.match((await webRow.textContent()) ?? "", /paused · v2 10%/);
  await page.getByRole("button", { name: "Resume the rollout of web" }).press("Enter");
  await eventually(async () => ((await state()) === "progressing" ? true : undefined), 3_000, "progressing again");

  // Abort asks first; declining does nothing.
  page.once("dialog", (dialog) => void dialog.dismiss());
  await page.getByRole("button", { name: "Abort the rollout of web and roll back" }).click();
  await sleep(1_200);
  assert.equal(await state(), "progressing", "a declined abort changes nothing");

  page.once("dialog", (dialog) => void dialog.accept());
  await page.getByRole("button", { name: "Promote v2 to 100% on web" }).click();
  await eventually(async () => ((await state()) === "promoted" ? true : undefined), 3_000, "promoted");
  await page.getByRole("button", { name: "Promote v2 to 100% on web" }).waitFor({ state: "detached", timeout: 3_000 });
  assert.match((await page.locator("#routes-message").textContent()) ?? "", /Rollout of web: promote done/);
  await page.screenshot({ path: `${artifacts()}status-page-rollout.png`, fullPage: true });
});

function artifacts(): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return ARTIFACTS;
}

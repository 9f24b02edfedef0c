// The admin API as the integration tests drive it: /api/upstreams (per-target health and breaker state),
// /api/bans (list, add) and POST /api/reload. Each call asserts the status a working gateway answers,
// so a test reads the state it is about and fails on the request that went wrong.
import assert from "node:assert/strict";
import type { UpstreamRow } from "../../src/admin/upstreams-view.js";
import { request } from "./client.js";
import type { ConfigObject, TestGateway } from "./gateway.js";

/** One entry of GET /api/upstreams. */
export type UpstreamState = UpstreamRow;

/** GET /api/upstreams: every target of every service. */
export async function listUpstreams(adminPort: number): Promise<UpstreamState[]> {
  const res = await request({ port: adminPort, path: "/api/upstreams" });
  assert.equal(res.status, 200, res.body);
  return res.json<UpstreamState[]>();
}

/** The /api/upstreams entry of `service`'s target 127.0.0.1:`port`; fails when it is not listed. */
export async function upstreamState(adminPort: number, port: number, service = "app"): Promise<UpstreamState> {
  const found = (await listUpstreams(adminPort)).find((u) => u.service === service && u.target === `127.0.0.1:${port}`);
  assert.ok(found, `/api/upstreams lists ${service} 127.0.0.1:${port}`);
  return found;
}

/** One entry of GET /api/bans (and the body of a 201 to POST /api/bans). */
export interface ListedBan {
  readonly ip: string;
  readonly jail: string;
  readonly until: string;
  readonly reason: string;
}

/** GET /api/bans. */
export async function listBans(adminPort: number): Promise<ListedBan[]> {
  const res = await request({ port: adminPort, path: "/api/bans" });
  assert.equal(res.status, 200);
  return res.json<ListedBan[]>();
}

/** POST /api/bans: bans `ip` for `duration` (e.g. "1h") and returns the ban as created (201). */
export async function addBan(adminPort: number, ip: string, duration: string, reason: string): Promise<ListedBan> {
  const res = await request({
    port: adminPort,
    path: "/api/bans",
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ip, duration, reason }),
  });
  assert.equal(res.status, 201, res.body);
  return res.json<ListedBan>();
}

/** Rewrites the gateway's config file with `config` and applies it through POST /api/reload (200). */
export async function reloadConfig(gw: TestGateway, config: ConfigObject): Promise<void> {
  await gw.writeConfig(config);
  const res = await request({ port: gw.adminPort, path: "/api/reload", method: "POST" });
  assert.equal(res.status, 200, res.body);
}

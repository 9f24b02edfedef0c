// /api/bans: list, add and lift bans (here and, through the shared store, on every instance).
import { isIP } from "node:net";
import { parseDuration } from "../config/units.js";
import type { BanManager } from "../guards/bans.js";
import { canonicalIp } from "../guards/ip.js";
import type { AdminHandler, AdminReply, AdminRequest } from "./admin-server.js";

const PREFIX = "/api/bans/";

export function banHandlers(bans: () => BanManager): [string, AdminHandler][] {
  return [
    [
      "GET /api/bans",
      () => ({
        status: 200,
        body: bans()
          .list.list()
          .map((ban) => ({ ip: ban.ip, jail: ban.jail, until: new Date(ban.until).toISOString(), reason: ban.reason })),
      }),
    ],
    ["POST /api/bans", (_req, body) => addBan(bans(), body)],
    ["DELETE /api/bans/*", (req) => liftBan(bans(), req)],
  ];
}

function addBan(bans: BanManager, body: unknown): AdminReply {
  const input = (typeof body === "object" && body !== null ? body : {}) as { ip?: unknown; duration?: unknown; reason?: unknown };
  const ip = typeof input.ip === "string" ? canonicalIp(input.ip.trim()) : "";
  if (ip === "") return invalid('"ip" must be an IPv4 or IPv6 address');
  const duration = typeof input.duration === "string" ? parseDuration(input.duration) : undefined;
  if (duration === undefined || duration <= 0) return invalid('"duration" must be a duration such as 30m, 1h or 7d');
  if (input.reason !== undefined && typeof input.reason !== "string") return invalid('"reason" must be a string');
  const ban = bans.ban(ip, "manual", duration, input.reason ?? "banned through the admin API");
  if (ban === undefined) return { status: 409, body: { error: "allowlisted", message: `${ip} is allowlisted and cannot be banned` } };
  return { status: 201, body: { ip: ban.ip, jail: ban.jail, until: new Date(ban.until).toISOString(), reason: ban.reason } };
}

function liftBan(bans: BanManager, request: AdminRequest): AdminReply {
  const raw = decodeURIComponent(request.path.slice(PREFIX.length));
  const [address = "", prefix] = raw.split("/");
  const ip = canonicalIp(address);
  if (ip === "" || (prefix !== undefined && isIP(ip) !== 6)) return invalid("expected /api/bans/<ip> or /api/bans/<ipv6-prefix>/<bits>");
  const lifted = bans.unban(prefix === undefined ? ip : `${ip}/${prefix}`);
  return lifted ? { status: 200, body: { status: "unbanned", ip: raw } } : { status: 404, body: { error: "not_banned", ip: raw } };
}

function invalid(message: string): AdminReply {
  return { status: 400, body: { error: "invalid_request", message } };
}

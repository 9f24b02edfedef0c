// The operator API behind the admin listener (/api/*). Contract: DESIGN.md, "Admin listener".
import type { Gateway } from "../main.js";
import { routeApi, type AdminApi, type AdminHandler } from "./admin.js";
import { banHandlers } from "./admin-bans.js";

export function adminApi(gateway: Gateway): AdminApi {
  return routeApi(new Map<string, AdminHandler>([
    [
      "GET /api/upstreams",
      () => ({
        status: 200,
        body: [...gateway.generation.services.values()].flatMap((service) =>
          service.targets.map((target) => ({
            service: service.name,
            target: target.key,
            healthy: target.healthy,
            breaker: target.breakerState,
            inFlight: target.inFlight,
            lastError: target.lastError ?? null,
          })),
        ),
      }),
    ],
    ["GET /api/certificates", () => ({ status: 200, body: gateway.certificates.list() })],
    ...banHandlers(() => gateway.bans),
    [
      "POST /api/reload",
      async () => {
        const result = await gateway.reload();
        return result.ok ? { status: 200, body: { status: "reloaded" } } : { status: 422, body: { error: "invalid_config", problems: result.problems } };
      },
    ],
  ]));
}

// The operator API behind the admin listener (/api/*). Contract: DESIGN.md, "Admin listener".
import type { BanManager } from "../guards/bans.js";
import type { CertificateResolver } from "../tls/certificate-resolver.js";
import type { Service } from "../upstream/service.js";
import { routeApi, type AdminApi, type AdminHandler } from "./admin-server.js";
import { tlsErrorsOf, type UpstreamRow } from "./upstreams-view.js";
import { banHandlers } from "./admin-bans.js";
import { rolloutHandlers } from "./admin-rollouts.js";
import type { RolloutManager } from "../routing/rollout-manager.js";
import { statusHandler, type StatusSubject } from "./admin-status.js";

/** restartRequired: changed keys that apply only after a restart (config/reload-scope.ts). */
export type ReloadResult = { readonly ok: true; readonly restartRequired: readonly string[] } | { readonly ok: false; readonly problems: readonly string[] };

/**
 * What the admin API reads and drives: the running gateway, seen from below (it never imports main).
 * GET /api/status also reads the running config, the metrics registry and the config history.
 */
export interface AdminSubject extends StatusSubject {
  readonly generation: StatusSubject["generation"] & { readonly services: ReadonlyMap<string, Service> };
  readonly certificates: Pick<CertificateResolver, "list">;
  readonly bans: BanManager;
  readonly rollouts: Pick<RolloutManager, "list" | "act">;
  reload(): Promise<ReloadResult>;
}

export function adminApi(gateway: AdminSubject): AdminApi {
  return routeApi(new Map<string, AdminHandler>([
    [
      "GET /api/upstreams",
      () => ({
        status: 200,
        body: [...gateway.generation.services.values()].flatMap((service) =>
          service.targets.map((target): UpstreamRow => ({
            service: service.name,
            target: target.key,
            healthy: target.healthy,
            breaker: target.breakerState,
            inFlight: target.inFlight,
            lastError: target.lastError ?? null,
            tls: tlsErrorsOf(target),
          })),
        ),
      }),
    ],
    ["GET /api/certificates", () => ({ status: 200, body: gateway.certificates.list() })],
    ["GET /api/status", statusHandler(gateway)],
    ...banHandlers(() => gateway.bans),
    ...rolloutHandlers(() => gateway.rollouts),
    [
      "POST /api/reload",
      async () => {
        const result = await gateway.reload();
        return result.ok ? { status: 200, body: { status: "reloaded", restartRequired: result.restartRequired } } : { status: 422, body: { error: "invalid_config", problems: result.problems } };
      },
    ],
  ]));
}

// /api/rollouts: every rollout's record, and an operator's pause, resume, promote or abort (written to
// the store, so every instance follows within a second).
import type { RolloutAction, RolloutManager } from "../routing/rollout-manager.js";
import type { AdminHandler, AdminReply, AdminRequest } from "./admin-server.js";

const PREFIX = "/api/rollouts/";
const ACTIONS: ReadonlySet<string> = new Set(["pause", "resume", "promote", "abort"]);

export function rolloutHandlers(rollouts: () => Pick<RolloutManager, "list" | "act">): [string, AdminHandler][] {
  return [
    ["GET /api/rollouts", () => ({ status: 200, body: rollouts().list() })],
    ["POST /api/rollouts/*", (req) => act(rollouts(), req)],
  ];
}

async function act(rollouts: Pick<RolloutManager, "act">, request: AdminRequest): Promise<AdminReply> {
  const [route = "", action = "", extra] = request.path.slice(PREFIX.length).split("/").map(decodeURIComponent);
  if (extra !== undefined || !ACTIONS.has(action)) return { status: 400, body: { error: "invalid_request", message: "expected POST /api/rollouts/<route>/<pause|resume|promote|abort>" } };
  const record = await rollouts.act(route, action as RolloutAction);
  return record === undefined ? { status: 404, body: { error: "no_rollout", route } } : { status: 200, body: record };
}

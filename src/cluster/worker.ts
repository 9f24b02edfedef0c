// A node:cluster worker: one Gateway serving the shared listeners, driven by the primary (reload,
// shutdown, admin API calls, and its metrics for the primary to aggregate with AggregatorRegistry).
import { Gateway } from "../main.js";
import { adminApi } from "../admin/admin-api.js";
import type { AdminRequest } from "../admin/admin-server.js";
import { IpcPeer } from "../state/ipc.js";

export async function runWorker(configFile: string): Promise<void> {
  // Filled in once the gateway is up; IPC calls before that are refused.
  const running: { gateway?: Gateway } = {};
  const started = () => {
    if (running.gateway === undefined) throw new Error("worker not started yet");
    return running.gateway;
  };
  let api: ReturnType<typeof adminApi> | undefined;
  const exit = async () => {
    await running.gateway?.close();
    process.exit(0);
  };
  const primary = IpcPeer.toPrimary({
    reload: (text?: string) => started().reload(text),
    readiness: () => started().readiness(),
    metrics: () => started().metrics.registry.getMetricsAsJSON(),
    reopenLogs: () => started().reopenLogs(),
    admin: (request: AdminRequest, body: unknown) => (api ??= adminApi(started()))(request, body),
    shutdown: () => {
      // Answer first, then drain: the primary waits for this worker's exit, not for the reply.
      setImmediate(() => void exit());
      return true;
    },
  });
  // The primary coordinates signals for the whole tree; a terminal's Ctrl-C reaches every process of
  // the group, so workers wait for the primary's word instead of each stopping on its own.
  process.on("SIGINT", () => {});
  process.on("SIGHUP", () => {});
  process.once("SIGTERM", () => void exit());
  // Without a primary there is nobody to coordinate with: drain and go.
  process.once("disconnect", () => void exit());

  const gateway = await Gateway.start({ configFile, primary });
  running.gateway = gateway;
  process.on("uncaughtException", (error) => gateway.logger.error({ err: error }, "uncaught exception"));
  process.on("unhandledRejection", (error) => gateway.logger.error({ err: error }, "unhandled promise rejection"));
  primary.emit("ready", { pid: process.pid });
}

// `watch: true`: reload when the config file changes (Traefik's file provider). Editors write a file in
// several steps (truncate, write, rename), so changes are debounced and the reload validates first.
import { watch, type FSWatcher } from "node:fs";
import { dirname, basename } from "node:path";
import type { Logger } from "../observability/logger.js";

const SETTLE_MS = 300;

export function watchConfig(file: string, onChange: () => void, logger: Logger): FSWatcher {
  let timer: NodeJS.Timeout | undefined;
  // The directory, not the file: a rename-into-place replaces the inode a file watch would follow.
  const watcher = watch(dirname(file), (_event, name) => {
    if (name !== null && name !== basename(file)) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, SETTLE_MS);
  });
  watcher.on("error", (error) => logger.warn({ err: error, file }, "config watch failed"));
  return watcher;
}

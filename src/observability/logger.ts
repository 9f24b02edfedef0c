// One pino logger for the process. Access-log lines and operational events share it so that one
// JSON stream can be shipped as is; pino writes asynchronously so logging never blocks a request.
import { destination as pinoDestination, pino, stdTimeFunctions, type DestinationStream, type Logger } from "pino";

export type { Logger };

export function createLogger(level: string, destination: DestinationStream | number | string = 1): Logger {
  const stream = typeof destination === "object" ? destination : logDestination(destination);
  // Levels as words ("level":"warn"), as every log pipeline and human reads them; same as the access log.
  return pino({ level, base: { pid: process.pid }, timestamp: stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, stream);
}

/**
 * Where a log is written: a file descriptor (1: stdout) or a file, appended to, created with its
 * directory, and reopened by `reopen()` after logrotate moved it. Write errors (a full disk) are
 * dropped rather than thrown: logging must never take the gateway down.
 */
export function logDestination(target: number | string): ReturnType<typeof pinoDestination> {
  const stream = typeof target === "number" ? pinoDestination({ dest: target, sync: false }) : pinoDestination({ dest: target, sync: false, mkdir: true, append: true });
  stream.on("error", () => {});
  return stream;
}

/** For tests and tools that must stay quiet. */
export const silentLogger: Logger = pino({ level: "silent" });

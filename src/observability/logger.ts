// One pino logger for the process. Access-log lines and operational events share it so that one
// JSON stream can be shipped as is; pino writes asynchronously so logging never blocks a request.
import { destination as pinoDestination, pino, stdTimeFunctions, type Logger } from "pino";

export type { Logger };

export function createLogger(level: string, destination: NodeJS.WritableStream | number = 1): Logger {
  const stream = typeof destination === "number" ? pinoDestination({ dest: destination, sync: false }) : destination;
  return pino({ level, base: { pid: process.pid }, timestamp: stdTimeFunctions.isoTime }, stream);
}

/** For tests and tools that must stay quiet. */
export const silentLogger: Logger = pino({ level: "silent" });

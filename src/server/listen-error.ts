// Why a listener could not be opened, with a stable code (the CLI prints it, logs carry it) and the
// fix in words: Node's own "listen EADDRINUSE: address already in use 0.0.0.0:8443" names neither the
// listener nor the config key to change.
import type { ListenAddress } from "../config/schema.js";
import { CodedError } from "../observability/coded-error.js";

export type ListenErrorCode = "LISTEN_ADDRESS_IN_USE" | "LISTEN_PERMISSION_DENIED" | "LISTEN_ADDRESS_UNAVAILABLE" | "LISTEN_FAILED";

export class ListenError extends CodedError<ListenErrorCode> {}

/** The ListenError for `error`, which listening on `address` for the `listener` (http, https, admin) raised. */
export function listenError(listener: string, address: ListenAddress, error: unknown): ListenError {
  const where = `${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}`;
  const head = `cannot listen on ${where} (listen.${listener})`;
  switch ((error as NodeJS.ErrnoException).code) {
    case "EADDRINUSE":
      return new ListenError("LISTEN_ADDRESS_IN_USE", `${head}: the address is in use (another process holds it; stop it or change listen.${listener})`, { cause: error });
    case "EACCES":
      return new ListenError("LISTEN_PERMISSION_DENIED", `${head}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`, { cause: error });
    case "EADDRNOTAVAIL":
      return new ListenError("LISTEN_ADDRESS_UNAVAILABLE", `${head}: no network interface has the address ${address.host}`, { cause: error });
    default:
      return new ListenError("LISTEN_FAILED", `${head}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

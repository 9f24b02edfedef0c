// X-Request-Id: kept from the client when well-formed (so a trace started upstream of Rampart goes on),
// generated otherwise; sent upstream and returned to the client on every response.
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

const WELL_FORMED = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

export function requestIdOf(req: { readonly headers: IncomingHttpHeaders }): string {
  const incoming = req.headers["x-request-id"];
  return typeof incoming === "string" && WELL_FORMED.test(incoming) ? incoming : randomUUID();
}

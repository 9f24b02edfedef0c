// THE request path, in order (DESIGN.md, "The request path, in order"). Every request runs these
// stages top to bottom until one answers; later capabilities add their stage here and nowhere else.
//
//   accept ─► connection gate ─► TLS (SNI) ─► [these stages] ─► response: jails, metrics, access log
//
// The connection gate (server/connection-gate.ts: denylist, bans, connections per IP) and the TLS
// handshake happen before a request exists; offences are counted by the jails, and the access log and
// metrics written, when the response closes (observability/request-log.ts).
import { accessStage } from "../guards/access-stage.js";
import { clientIpStage } from "../guards/client-ip-stage.js";
import { concurrencyStage } from "../guards/concurrency-stage.js";
import { rateLimitStage } from "../guards/rate-limit-stage.js";
import { requestBodyStage } from "../proxy/request-body.js";
import { forwardStage } from "../proxy/forward-stage.js";
import { requestIdStage } from "../proxy/request-id.js";
import { requestTargetStage } from "../routing/request-target.js";
import { routeStage } from "../routing/route-stage.js";
import { pickTargetStage } from "../upstream/pick-target.js";
import type { StageFactory } from "./build-context.js";

export const requestPath: readonly StageFactory[] = Object.freeze([
  requestIdStage, //      X-Request-Id kept or generated
  clientIpStage, //       socket peer, or X-Forwarded-For through trustedProxies
  accessStage, //         allowlist; denylist and bans (403)
  concurrencyStage, //    requests in progress per client address (429)
  requestTargetStage, //  host, normalised path, query; absolute-form checks, Host, header count (400, 421, 431)
  routeStage, //          host + path prefix + method → route (404); TRACE only where allowed (405)
  rateLimitStage, //      the route's policy (429; 503 when the store is down and onStoreFailure is closed)
  requestBodyStage, //    maxBodySize (413), bodyTimeout (408); 100 Continue; buffered up to requestBuffer
  pickTargetStage, //     balancer over eligible targets (503)
  forwardStage, //        http-proxy with the service's keep-alive agent (502, 504)
]);

// THE request path, in order (DESIGN.md, "The request path, in order"). Every request runs the prefix
// top to bottom, then the chain of the route it matched, until one stage answers. A new capability is
// one stage file and one line here: in the prefix if every request needs it, else in the route chain.
//
//   accept ─► connection gate ─► TLS (SNI) ─► [these stages] ─► response: jails, metrics, access log
//
// The connection gate (server/connection-gate.ts: denylist, bans, connections per IP) and the TLS
// handshake happen before a request exists; offences are counted by the jails, and the access log and
// metrics written, when the response closes (pipeline/request-log.ts).
import { accessStage } from "./access-stage.js";
import { clientCertStage } from "./client-cert-stage.js";
import { clientIpStage } from "./client-ip-stage.js";
import { concurrencyStage } from "./concurrency-stage.js";
import { rateLimitStage } from "./rate-limit-stage.js";
import { requestBodyStage } from "./request-body-stage.js";
import { forwardStage } from "./forward-stage.js";
import { requestIdStage } from "./request-id-stage.js";
import { requestTargetStage } from "./request-target-stage.js";
import { routeStage } from "./route-stage.js";
import { pickTargetStage } from "./pick-target-stage.js";
import { faultStage } from "./fault-stage.js";
import { respondStage } from "./respond-stage.js";
import { splitStage } from "./split-stage.js";
import type { PrefixStageFactory, RouteStageFactory } from "./stage-factory.js";

/** Every request, in order: who is asking, may they, what do they ask for, which route serves it. */
export const requestPrefix: readonly PrefixStageFactory[] = Object.freeze([
  requestIdStage, //      X-Request-Id kept or generated
  clientIpStage, //       socket peer, or X-Forwarded-For through trustedProxies
  accessStage, //         allowlist; denylist and bans (403)
  concurrencyStage, //    requests in progress per client address (429)
  requestTargetStage, //  host, normalised path, query; absolute-form checks, Host, header count (400, 421, 431)
  routeStage, //          host + path prefix + method → route (404); TRACE only where allowed (405); its chain next
]);

/** Then the matched route's own chain, in this order, built once per route with the stages it uses. */
export const routeChain: readonly RouteStageFactory[] = Object.freeze([
  clientCertStage, //     with tls.clientAuth: the verified client certificate's subject upstream, never the client's (403 on requireClientCert)
  rateLimitStage, //      the route's policy, if it has one (429; 503 when the store is down and onStoreFailure is closed)
  splitStage, //          the route's split, if any: which service (override header, sticky cookie, ip, header, weights)
  faultStage, //          the route's fault injection, if any: a delay, or an abort with its status (on the chosen side)
  respondStage, //        the route's own answer, if it has `respond` (no upstream; the stages below are not built)
  requestBodyStage, //    maxBodySize (413), bodyTimeout (408); 100 Continue; buffered up to requestBuffer
  pickTargetStage, //     balancer over the chosen service's eligible targets (503)
  forwardStage, //        node:http with the service's keep-alive agent; h2 services over HTTP/2 (502, 504)
]);

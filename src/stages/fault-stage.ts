// Fault injection (Envoy's fault filter; DESIGN.md `fault`): before forwarding, a share of all requests
// is delayed and, drawn independently, a share aborted with a status (a request may get both: the delay,
// then the abort), at most `maxActive` faults at once (beyond, requests go
// through unharmed and the overflow is counted). With `headers: true`, X-Rampart-Fault-Delay: <ms> and
// X-Rampart-Fault-Abort: <status> ask for a fault, honoured only from allowlisted clients or through a
// trusted proxy. An injected abort never reaches a target, so no breaker, health check or jail sees it;
// it is marked in the access log (`fault`) and counted in rampart_faults_injected_total. Routes
// without `fault` do not run this stage.
import { setTimeout as sleep } from "node:timers/promises";
import type { RouteStageFactory } from "./stage-factory.js";
import type { Reply } from "../pipeline/answers.js";
import { GRPC } from "../pipeline/answers.js";
import type { StageResult } from "../pipeline/context.js";
import { seededRandom } from "../upstream/balancers/prng.js";

const DELAY_HEADER = "x-rampart-fault-delay";
const ABORT_HEADER = "x-rampart-fault-abort";
/** A header-asked delay is bounded, so a tester's typo cannot hold a request for hours. */
const MAX_HEADER_DELAY_MS = 60_000;

export const faultStage: RouteStageFactory = (route, { metrics }) => {
  const fault = route.config.fault;
  if (fault === undefined) return undefined;
  const random = seededRandom();
  const delayShare = fault.delay.percent / 100;
  const abortShare = fault.abort.percent / 100;
  const counted = {
    delay: metrics.faultsInjected.labels(route.name, "delay"),
    abort: metrics.faultsInjected.labels(route.name, "abort"),
    overflow: metrics.faultsInjected.labels(route.name, "overflow"),
  };
  const configuredAbort = abortReply(fault.abort.status);
  let active = 0;

  /** Waits, then answers the abort if one was drawn too (Envoy applies both, the delay first). */
  const delayed = async (ms: number, abort: Reply | undefined): Promise<StageResult> => {
    active++;
    try {
      await sleep(ms);
    } finally {
      active--;
    }
    // The client may have gone meanwhile; the stages after this one see that as usual.
    return abort;
  };

  return {
    name: "fault",
    run(ctx) {
      let delayMs = 0;
      let abort: Reply | undefined;
      if (fault.headers && (ctx.allowlisted || ctx.viaTrustedProxy)) {
        const askedDelay = Number(ctx.req.headers[DELAY_HEADER]);
        if (askedDelay > 0) delayMs = Math.min(askedDelay, MAX_HEADER_DELAY_MS);
        const askedAbort = Number(ctx.req.headers[ABORT_HEADER]);
        if (Number.isInteger(askedAbort) && askedAbort >= 200 && askedAbort <= 599) abort = abortReply(askedAbort);
      }
      // Each share is of all requests, drawn independently (Envoy's fault filter): a request may get both.
      if (abort === undefined && abortShare > 0 && random() < abortShare) abort = configuredAbort;
      if (delayMs === 0 && delayShare > 0 && random() < delayShare) delayMs = fault.delay.duration;
      if (abort === undefined && delayMs === 0) return undefined;
      if (active >= fault.maxActive) {
        counted.overflow.inc();
        return undefined;
      }
      if (abort !== undefined) {
        ctx.fault = "abort";
        counted.abort.inc();
      }
      if (delayMs === 0) return abort;
      ctx.fault ??= "delay";
      counted.delay.inc();
      return delayed(delayMs, abort);
    },
  };
};

function abortReply(status: number): Reply {
  return Object.freeze({ status, grpc: GRPC.UNAVAILABLE, error: "fault_injected" });
}

// A named group of targets with its own keep-alive connection pool. Without a keep-alive agent,
// http-proxy opens (and closes) one upstream connection per request: the agent is what makes Rampart
// cheap per request (DESIGN.md, "Known traps").
import http from "node:http";
import https from "node:https";
import type { Histogram } from "prom-client";
import type { ServiceConfig } from "../config/schema.js";
import { Target } from "./target.js";

export class Service {
  readonly targets: readonly Target[];
  readonly agent: http.Agent;
  readonly connectTimeout: number;
  readonly responseTimeout: number;
  readonly #eligible: readonly Target[];
  #next = 0;

  constructor(
    readonly name: string,
    readonly config: ServiceConfig,
    upstreamDuration: Histogram<"service" | "target">,
  ) {
    this.targets = config.targets.map((target) => new Target(name, target.url, target.weight, upstreamDuration));
    const secure = this.targets.some((target) => target.url.protocol === "https:");
    const agentOptions: http.AgentOptions = {
      keepAlive: true,
      maxSockets: config.keepAlive.maxSockets,
      maxFreeSockets: config.keepAlive.maxFreeSockets,
      timeout: config.keepAlive.idleTimeout,
      // LIFO keeps the pool small and warm: the most recently used socket is the least likely to
      // have been closed by the backend's own idle timeout.
      scheduling: "lifo",
    };
    this.agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.#eligible = this.targets.filter((target) => target.weight > 0);
    this.connectTimeout = config.timeouts.connect;
    this.responseTimeout = config.timeouts.response;
  }

  /** The target for this request, or undefined when none is eligible (503). */
  pick(): Target | undefined {
    const eligible = this.#eligible;
    if (eligible.length === 0) return undefined;
    this.#next = (this.#next + 1) % eligible.length;
    return eligible[this.#next];
  }

  close(): void {
    this.agent.destroy();
  }
}

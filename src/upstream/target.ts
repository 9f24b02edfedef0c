// One backend address of a service. Runtime state (in-flight count, last error; health and breaker in
// the balancing issue) lives here and is keyed by service and address, so a reload that keeps the
// target keeps its state.
import type { Histogram } from "prom-client";

export class Target {
  /** "host:port", the `target` label value and the key of its runtime state. */
  readonly key: string;
  readonly url: URL;
  inFlight = 0;
  lastError: string | undefined = undefined;
  weight: number;
  readonly upstreamDuration: ReturnType<Histogram<"service" | "target">["labels"]>;

  constructor(
    readonly service: string,
    url: string,
    weight: number,
    upstreamDuration: Histogram<"service" | "target">,
  ) {
    this.url = new URL(url);
    this.url.pathname = "/";
    this.key = `${this.url.hostname}:${this.url.port || (this.url.protocol === "https:" ? 443 : 80)}`;
    this.weight = weight;
    this.upstreamDuration = upstreamDuration.labels(service, this.key);
  }
}

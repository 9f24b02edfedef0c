// How late the event loop runs: a gateway whose loop stalls answers nothing, yet /healthz (served by the
// same loop once it runs again) would still say 200. The p99 delay over the last window is exported
// as rampart_event_loop_lag_seconds and read by /readyz.
import { monitorEventLoopDelay } from "node:perf_hooks";

const WINDOW_MS = 5_000;

export class EventLoopLag {
  readonly #histogram = monitorEventLoopDelay({ resolution: 20 });
  readonly #timer: NodeJS.Timeout;
  #seconds = 0;

  constructor(gauge: { set(value: number): void }) {
    this.#histogram.enable();
    this.#timer = setInterval(() => {
      this.#seconds = this.#histogram.percentile(99) / 1e9;
      this.#histogram.reset();
      gauge.set(this.#seconds);
    }, WINDOW_MS).unref();
  }

  /** p99 delay over the last complete window, in seconds. */
  get seconds(): number {
    return this.#seconds;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#histogram.disable();
  }
}

// A retry budget (Linkerd's and Envoy's idea): every request deposits `ratio` of a token, every retry
// spends a whole one, so retries stay near `ratio` of the traffic however badly the fleet fails. A small
// reserve lets a quiet service still retry its first few failures, and healthy traffic saves up to CAP
// tokens, so the burst of retries right after a target dies (until its health check or breaker takes it
// out) is covered instead of turning into 502s; a sustained failure still drains the savings.

const RESERVE = 10;
const CAP = 1_000;

export class RetryBudget {
  readonly #ratio: number;
  #tokens = RESERVE;

  constructor(ratio: number) {
    this.#ratio = ratio;
  }

  onRequest(): void {
    if (this.#tokens < CAP) this.#tokens = Math.min(CAP, this.#tokens + this.#ratio);
  }

  /** True, and a token spent, when a retry is within budget. */
  trySpend(): boolean {
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

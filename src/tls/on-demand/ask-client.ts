// Asks the operator's endpoint whether a name may have a certificate: GET <ask>?domain=NAME, any 2xx
// allows; any other status, a timeout or a connection error denies (fail closed). Answers are
// remembered (allowed for allowTtl, denied and failed for denyTtl) in a bounded cache, and concurrent
// questions about one name share one request.
import http from "node:http";
import https from "node:https";

export type AskAnswer = "allowed" | "denied" | "error";

export interface AskResult {
  readonly answer: AskAnswer;
  /** The HTTP status, when the endpoint answered. */
  readonly status?: number;
  /** Why the question failed ("error" only). */
  readonly error?: string;
}

export interface AskDecision extends AskResult {
  /** True when the answer came from the cache. */
  readonly cached: boolean;
}

/** One question to the endpoint; must resolve (an "error" result), never reject. */
export type AskQuery = (name: string) => Promise<AskResult>;

export interface AskCacheOptions {
  /** Milliseconds an "allowed" answer is remembered. */
  readonly allowTtl: number;
  /** Milliseconds a "denied" or "error" answer is remembered. */
  readonly denyTtl: number;
  /** Most names remembered; the oldest answer is forgotten first. */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

const DEFAULT_MAX_ENTRIES = 10_000;

export class AskClient {
  readonly #query: AskQuery;
  readonly #options: AskCacheOptions;
  readonly #cache = new Map<string, { readonly result: AskResult; readonly expires: number }>();
  readonly #inFlight = new Map<string, Promise<AskDecision>>();
  readonly #now: () => number;
  readonly #maxEntries: number;

  constructor(query: AskQuery, options: AskCacheOptions) {
    this.#query = query;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  /** The endpoint's answer for `name` (canonical), from the cache while it is fresh. Never rejects. */
  decide(name: string): Promise<AskDecision> {
    const entry = this.#cache.get(name);
    if (entry !== undefined) {
      if (entry.expires > this.#now()) return Promise.resolve({ ...entry.result, cached: true });
      this.#cache.delete(name);
    }
    let pending = this.#inFlight.get(name);
    if (pending === undefined) {
      pending = this.#ask(name).finally(() => this.#inFlight.delete(name));
      this.#inFlight.set(name, pending);
    }
    return pending;
  }

  /** Forgets every remembered answer. */
  clear(): void {
    this.#cache.clear();
  }

  get size(): number {
    return this.#cache.size;
  }

  async #ask(name: string): Promise<AskDecision> {
    let result: AskResult;
    try {
      result = await this.#query(name);
    } catch (error) {
      result = { answer: "error", error: error instanceof Error ? error.message : String(error) };
    }
    const ttl = result.answer === "allowed" ? this.#options.allowTtl : this.#options.denyTtl;
    if (ttl > 0) {
      if (this.#cache.size >= this.#maxEntries) {
        const oldest = this.#cache.keys().next();
        if (oldest.done !== true) this.#cache.delete(oldest.value);
      }
      this.#cache.set(name, { result, expires: this.#now() + ttl });
    }
    return { ...result, cached: false };
  }
}

/** GET `ask`?domain=NAME over a fresh connection, abandoned after `timeoutMs`. */
export function httpAsk(ask: string, timeoutMs: number, userAgent = "rampart-on-demand-tls"): AskQuery {
  const base = new URL(ask);
  const get = base.protocol === "https:" ? https.get : http.get;
  return (name) =>
    new Promise<AskResult>((resolve) => {
      const url = new URL(base);
      url.searchParams.set("domain", name);
      let settled = false;
      const settle = (result: AskResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      // agent: false: one connection per question, closed after it; answers are cached, so questions are rare.
      const req = get(url, { agent: false, headers: { "user-agent": userAgent, accept: "*/*" } }, (res) => {
        const status = res.statusCode ?? 0;
        // Only the status matters: the body is not read.
        res.destroy();
        settle({ answer: status >= 200 && status < 300 ? "allowed" : "denied", status });
      });
      const timer = setTimeout(() => {
        settle({ answer: "error", error: `no answer within ${timeoutMs} ms` });
        req.destroy();
      }, timeoutMs);
      req.on("error", (error) => settle({ answer: "error", error: error.message }));
    });
}

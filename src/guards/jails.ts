// Fail2Ban-style jails fed by the gateway's own signals. A jail counts offences per client (its
// conditions all hold for the request: status, path regex, method, rate limited), and maxRetry offences
// within findTime ban the client. Counting runs on the shared counters (rate-limiter-flexible), so in
// Redis mode a client's offences add up across the whole fleet, like the ban that follows.
import type { RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible";
import type { Config, JailConfig } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";
import type { LimiterFactory } from "../state/limiters.js";
import type { BanManager } from "./bans.js";

export interface Jail {
  readonly name: string;
  readonly config: JailConfig;
  readonly statuses: ReadonlySet<number> | undefined;
  readonly path: RegExp | undefined;
  readonly methods: ReadonlySet<string> | undefined;
  readonly rateLimited: boolean;
  /** Counts HTTP/2 abuse (GOAWAY for rapid reset, floods, invalid frames), and nothing else. */
  readonly h2Abuse: boolean;
  readonly counter: RateLimiterAbstract;
}

/** What a jail judges: one finished request, as plain values. */
export interface JudgedRequest {
  readonly clientIp: string;
  readonly method: string;
  /** The normalised path, as routing matched it. */
  readonly path: string;
  readonly status: number;
  /** Answered 429 by Rampart's own rate limit (not a 429 from upstream). */
  readonly rateLimited: boolean;
  /** On the allowlist: never judged. */
  readonly allowlisted: boolean;
}

export function compileJails(config: Config, limiter: LimiterFactory): ReadonlyMap<string, Jail> {
  const jails = new Map<string, Jail>();
  for (const [name, jail] of Object.entries(config.jails)) {
    const when = jail.when;
    jails.set(
      name,
      Object.freeze({
        name,
        config: jail,
        statuses: when.status && new Set(when.status),
        path: when.path === undefined ? undefined : new RegExp(when.path),
        methods: when.method && new Set(when.method),
        rateLimited: when.rateLimited === true,
        h2Abuse: when.h2Abuse === true,
        counter: limiter({ name: `jail:${name}`, points: jail.maxRetry, windowMs: jail.findTime }),
      }),
    );
  }
  return jails;
}

/** Every condition the jail names holds for this request (a jail with `status` and `path` wants both). */
export function isOffence(jail: Jail, request: JudgedRequest): boolean {
  if (jail.h2Abuse) return false;
  if (jail.statuses !== undefined && !jail.statuses.has(request.status)) return false;
  if (jail.methods !== undefined && !jail.methods.has(request.method)) return false;
  if (jail.rateLimited && !request.rateLimited) return false;
  if (jail.path !== undefined && !jail.path.test(request.path)) return false;
  return true;
}

/** Judges a finished request by `jails` (its route's): counts offences and bans whoever reaches a jail's maxRetry. */
export type OffenceTracker = (jails: readonly Jail[], request: JudgedRequest) => void;

/** A connection was ended for HTTP/2 abuse: an offence for every jail whose `when` names h2Abuse. */
export type AbuseTracker = (jails: Iterable<Jail>, clientIp: string, reason: string) => void;

export function offenceTracker(bans: BanManager, logger: Logger): { request: OffenceTracker; h2Abuse: AbuseTracker } {
  return {
    request: (jails, request) => {
      if (request.allowlisted || request.clientIp === "") return;
      for (const jail of jails) {
        if (isOffence(jail, request)) void count(jail, request.clientIp, `${request.method} ${request.path} → ${request.status}`);
      }
    },
    h2Abuse: (jails, clientIp, reason) => {
      for (const jail of jails) {
        if (jail.h2Abuse) void count(jail, clientIp, `HTTP/2 GOAWAY: ${reason}`);
      }
    },
  };

  async function count(jail: Jail, ip: string, offence: string): Promise<void> {
    const key = bans.list.subject(ip);
    let result: RateLimiterRes;
    try {
      result = await jail.counter.penalty(key, 1);
    } catch (error) {
      logger.warn({ err: error, jail: jail.name }, "offence not counted: the store is unavailable");
      return;
    }
    if (result.consumedPoints < jail.config.maxRetry || bans.find(ip) !== undefined) return;
    await jail.counter.delete(key).catch(() => undefined);
    const reason = `${jail.config.maxRetry} offence(s) within ${jail.config.findTime / 1000}s, last: ${offence}`;
    await bans.banForJail(ip, jail.name, jail.config, reason);
  }
}

// The performance issue's goals in one table: each row names the scenario ratio that measures it in
// this run, so `npm run bench` ends with every goal, its measured value and whether it is met, and a
// goal whose scenario did not run says so instead of vanishing.
import { formatValue, goalText, printRows, verdict, type Ratio } from "./report.js";

interface PerformanceGoal {
  readonly goal: string;
  /** "scenario: ratio name", as in the all-ratios table. */
  readonly figure: string;
}

const PERFORMANCE_GOALS: readonly PerformanceGoal[] = [
  { goal: "1. every guard ÷ bare http-proxy-3, CPU per request", figure: "core: c/b CPU per request" },
  { goal: "1. no guard configured ÷ bare http-proxy-3, CPU per request", figure: "core: g/b CPU per request" },
  { goal: "1. the same two, both at one fixed rate: every guard", figure: "core: fixed rate: c/b CPU per request" },
  { goal: "1. the same two, both at one fixed rate: no guard", figure: "core: fixed rate: g/b CPU per request" },
  { goal: "1. stretch: every guard ÷ Caddy, CPU per request", figure: "core: c/f CPU per request" },
  { goal: "2. 429 over a limit ÷ a proxied request", figure: "rejections: b/a CPU per request" },
  { goal: "2. 404 no route ÷ a proxied request", figure: "rejections: c/a CPU per request" },
  { goal: "2. 403 denylisted via a trusted proxy ÷ a proxied request", figure: "rejections: d/a CPU per request" },
  { goal: "2. closed at accept ÷ a proxied request, new connections", figure: "rejections: g/f CPU per connection" },
  { goal: "3. workers 2 ÷ 1, CPU per request, shared rate limit", figure: "workers: workers 2/1 CPU per request" },
  { goal: "4. Redis store ÷ memory store, Rampart's CPU", figure: "guards: guards on (redis)/(memory) CPU, Rampart only" },
  { goal: "4. Redis round trips per request", figure: "guards: guards on (redis): Redis round trips per request" },
  { goal: "5. HTTPS ÷ HTTP, CPU per request, reused connections", figure: "core: d/c CPU per request" },
  { goal: "5. (floor) bare node:http, HTTPS ÷ HTTP, CPU per request", figure: "core: h/e CPU per request" },
  { goal: "5. resumed TLS handshakes per second per core, Rampart", figure: "resumption: Rampart resumed handshakes per core" },
  { goal: "5. Rampart ÷ nginx, resumed handshakes per core", figure: "resumption: Rampart ÷ nginx, resumed handshakes/s per core" },
  { goal: "6. p99 at 50 connections ÷ bare http-proxy-3", figure: "core: c/b p99" },
  { goal: "7. RSS per idle keep-alive connection", figure: "idle: Rampart RSS per idle keep-alive connection" },
  { goal: "7. 1,000,000 bans, extra RSS after full GC", figure: "bans: 1M bans extra RSS after full GC" },
];

export function printPerformanceGoals(ratios: readonly Ratio[]): void {
  console.log("\n=== performance goals (issue 11) ===");
  printRows(
    ["goal", "value", "target", "", "figure"],
    PERFORMANCE_GOALS.map(({ goal, figure }) => {
      const entry = ratios.find((candidate) => candidate.name === figure);
      if (entry === undefined) return [goal, "not run", "", "", figure];
      return [goal, formatValue(entry), goalText(entry.goal), verdict(entry), figure];
    }),
    [0, 2, 3, 4],
  );
}

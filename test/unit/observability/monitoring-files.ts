// What the monitoring files Rampart ships ask of a running gateway: the PromQL of the rule files
// (deploy/prometheus/, and what `rampart rules` writes) and of the Grafana dashboard
// (deploy/grafana/rampart.json), and the metric names in it. Shared by the tests next to this file.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export const root = new URL("../../../../", import.meta.url).pathname;

interface Panel {
  readonly targets?: readonly { readonly expr?: string }[];
  readonly panels?: readonly Panel[];
}

/** Every query of every panel of the dashboard (rows' nested panels included). */
export function dashboardQueries(): string[] {
  const dashboard = JSON.parse(readFileSync(join(root, "deploy/grafana/rampart.json"), "utf8")) as { panels: Panel[] };
  const walk = (panels: readonly Panel[]): string[] =>
    panels.flatMap((panel) => [...(panel.targets ?? []).flatMap((target) => (target.expr ? [target.expr] : [])), ...walk(panel.panels ?? [])]);
  return walk(dashboard.panels);
}

export interface RuleExpressions {
  /** `record:` names defined by the rule files. */
  readonly recorded: Set<string>;
  readonly exprs: string[];
}

/** The expressions and recorded names of Prometheus rule files given as YAML text. */
export function ruleExpressions(...files: string[]): RuleExpressions {
  const recorded = new Set<string>();
  const exprs: string[] = [];
  for (const text of files) {
    const { groups } = parse(text) as { groups: { rules: { record?: string; expr: string }[] }[] };
    for (const rule of groups.flatMap((group) => group.rules)) {
      if (rule.record !== undefined) recorded.add(rule.record);
      exprs.push(rule.expr);
    }
  }
  return { recorded, exprs };
}

// PromQL words that are not metric names.
const KEYWORDS = new Set(["sum", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "count", "min", "max", "avg", "rate", "increase", "time", "vector", "round", "histogram_quantile", "label_replace", "inf", "nan"]);

/**
 * Metric names a PromQL expression reads: every identifier outside quotes, label matchers and
 * `by (...)` lists that is not a function or keyword. Names with a colon are recorded series.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, "")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "")
    .replace(/\[[^\]]*\]/g, "");
  const words = bare.match(/[A-Za-z_:][A-Za-z0-9_:]*/g) ?? [];
  return [...new Set(words.filter((word) => !KEYWORDS.has(word) && !/^\d/.test(word)))];
}

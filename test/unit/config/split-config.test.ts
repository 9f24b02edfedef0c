// What `rampart validate` says about `split` and `fault` (issue 13; DESIGN.md "Contract, second round"):
// every problem names the key it is about (FILE:LINE:COL key.path: message), so an operator can find it;
// valid blocks load with their defaults.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, formatProblem, loadConfigText } from "../../../src/config/load.js";

const yaml = (...lines: string[]) => `${lines.join("\n")}\n`;

/** Formatted problems of inline YAML, reported as test.yaml; fails when it loads. */
function problems(text: string): string[] {
  try {
    loadConfigText(text, "test.yaml", {});
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map(formatProblem);
    throw error;
  }
  return assert.fail("expected a ConfigError");
}

/** Each expected problem: its exact "FILE:LINE:COL key.path:" prefix and what its message must say. */
function assertProblems(text: string, expected: readonly (readonly [prefix: string, message: RegExp])[]): void {
  const found = problems(text);
  assert.equal(found.length, expected.length, `expected ${expected.length} problem(s), got:\n${found.join("\n")}`);
  expected.forEach(([prefix, message], index) => {
    const line = found[index]!;
    assert.ok(line.startsWith(`${prefix} `), `problem ${index + 1} should start with "${prefix} ": ${line}`);
    assert.match(line.slice(prefix.length + 1), message, line);
  });
}

// Lines 1–7; the route starts on line 8.
const SERVICES = ["services:", "  v1:", "    targets:", "      - url: http://127.0.0.1:3001", "  v2:", "    targets:", "      - url: http://127.0.0.1:3002"];
const route = (...lines: string[]) => yaml(...SERVICES, "routes:", "  - name: web", ...lines);

describe("split: rejected", () => {
  test("a split whose weights are all 0", () => {
    assertProblems(route("    split:", "      services: { v1: 0, v2: 0 }"), [["test.yaml:11:7 routes[0].split.services:", /every weight is 0/]]);
  });

  test("an unknown service in a split points at that service's key", () => {
    assertProblems(route("    split:", "      services: { v1: 90, v3: 10 }"), [["test.yaml:11:31 routes[0].split.services.v3:", /unknown service "v3"/]]);
  });

  test("both service and split", () => {
    assertProblems(route("    service: v1", "    split:", "      services: { v1: 90, v2: 10 }"), [
      ["test.yaml:11:5 routes[0].split:", /a route names one of "service", "split" and "respond"/],
    ]);
  });

  test("neither service nor split", () => {
    assertProblems(route("    match: { pathPrefix: / }"), [["test.yaml:9:5 routes[0].service:", /missing required key "service" \(or "split", or "respond"\)/]]);
  });

  test("a weight over 100, an empty split, an unknown stickiness", () => {
    assertProblems(route("    split:", "      services: { v1: 101, v2: 10 }"), [["test.yaml:11:23 routes[0].split.services.v1:", /at most 100/]]);
    assertProblems(route("    split:", "      services: {}"), [["test.yaml:11:7 routes[0].split.services:", /at least one service/]]);
    assertProblems(route("    split:", "      services: { v1: 90, v2: 10 }", "      sticky: session"), [
      ["test.yaml:12:15 routes[0].split.sticky:", /"none", "cookie", "ip" or "header:<name>"/],
    ]);
  });

  test("several problems in one pass, each with its own key path", () => {
    const text = yaml(
      ...SERVICES,
      "routes:",
      "  - name: a",
      "    split:",
      "      services: { v1: 0, v2: 0 }",
      "  - name: b",
      "    service: v2",
      "    split:",
      "      services: { nope: 10 }",
    );
    assertProblems(text, [
      ["test.yaml:11:7 routes[0].split.services:", /every weight is 0/],
      ["test.yaml:14:5 routes[1].split:", /names one of "service", "split" and "respond"/],
      ["test.yaml:15:25 routes[1].split.services.nope:", /unknown service "nope"/],
    ]);
  });
});

describe("split: accepted", () => {
  test("95/5 loads in config order with sticky none by default; one side at 0 is fine", () => {
    const config = loadConfigText(route("    split:", "      services: { v1: 95, v2: 5 }"), "test.yaml", {});
    assert.deepEqual(config.routes[0]?.split, { services: { v1: 95, v2: 5 }, sticky: "none" });
    assert.equal(config.routes[0]?.service, undefined);
    const zero = loadConfigText(route("    split:", "      services: { v1: 100, v2: 0 }", "      sticky: cookie"), "test.yaml", {});
    assert.deepEqual(zero.routes[0]?.split, { services: { v1: 100, v2: 0 }, sticky: "cookie" });
  });

  test("every stickiness the contract names", () => {
    for (const sticky of ["none", "cookie", "ip", "header:x-user", "header:X-Tenant-Id"]) {
      const config = loadConfigText(route("    split:", "      services: { v1: 50, v2: 50 }", `      sticky: "${sticky}"`), "test.yaml", {});
      assert.equal(config.routes[0]?.split?.sticky, sticky);
    }
  });
});

describe("fault", () => {
  test("an empty fault block means 0% delays of 200ms, 0% aborts with 503, no header faults, at most 100 at once", () => {
    const config = loadConfigText(route("    service: v1", "    fault: {}"), "test.yaml", {});
    assert.deepEqual(config.routes[0]?.fault, { delay: { percent: 0, duration: 200 }, abort: { percent: 0, status: 503 }, headers: false, maxActive: 100 });
  });

  test("percentages outside 0–100 and an abort status outside 200–599 are rejected at their keys", () => {
    assertProblems(route("    service: v1", "    fault:", "      delay: { percent: 120 }", "      abort: { percent: -1, status: 700 }"), [
      ["test.yaml:12:25 routes[0].fault.delay.percent:", /0 to 100/],
      ["test.yaml:13:25 routes[0].fault.abort.percent:", /0 to 100/],
      ["test.yaml:13:37 routes[0].fault.abort.status:", /at most 599/],
    ]);
  });

  test("a misspelt key and a maxActive of 0", () => {
    assertProblems(route("    service: v1", "    fault:", "      abrot: { percent: 1 }", "      maxActive: 0"), [
      ["test.yaml:12:7 routes[0].fault.abrot:", /unknown key "abrot"/],
      ["test.yaml:13:18 routes[0].fault.maxActive:", /at least 1/],
    ]);
  });
});

// config/rampart.schema.json is generated from the zod schema and must match it: this test regenerates
// it and compares. It also checks what editors get from it: the shipped examples pass, typos fail,
// ${VAR} references are accepted wherever a value is, and gateway.yaml points at it.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { configJsonSchema, configJsonSchemaText } from "../../../src/cli/json-schema.js";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const SHIPPED = join(ROOT, "config", "rampart.schema.json");

const REGENERATE = "config/rampart.schema.json is out of date with src/config/schema.ts; regenerate it with `npm run schema` (npm run build && node dist/src/cli.js schema > config/rampart.schema.json) and commit the result";

test("config/rampart.schema.json is what `rampart schema` prints", () => {
  const shipped = readFileSync(SHIPPED, "utf8");
  const generated = configJsonSchemaText();
  if (shipped !== generated) {
    // Name the first differing key path rather than dump 50 kB.
    assert.deepEqual(JSON.parse(shipped), JSON.parse(generated), REGENERATE);
    assert.equal(shipped, generated, `${REGENERATE} (same content, different formatting)`);
  }
});

test("config/gateway.yaml names the schema on its first line for yaml-language-server", () => {
  const first = readFileSync(join(ROOT, "config", "gateway.yaml"), "utf8").split("\n")[0];
  assert.equal(first, "# yaml-language-server: $schema=./rampart.schema.json");
});

describe("the schema's content", () => {
  const schema = configJsonSchema() as { $schema: string; properties: Record<string, Record<string, unknown>>; additionalProperties: unknown };
  const at = (...path: string[]) => path.reduce<Record<string, unknown>>((node, key) => (node.properties as Record<string, Record<string, unknown>>)[key]!, schema as unknown as Record<string, unknown>);

  test("draft-07, closed objects, input types with defaults", () => {
    assert.equal(schema.$schema, "http://json-schema.org/draft-07/schema#");
    assert.equal(schema.additionalProperties, false);
    assert.equal(at("shutdownGrace").default, "10s", "a duration's default is written as in YAML");
    assert.equal(at("limits", "maxBodySize").default, "10MiB");
    assert.equal(at("listen", "admin").default, "127.0.0.1:9901");
    assert.match(String(at("shutdownGrace").description), /duration/);
  });

  test("whole numbers are integers", () => {
    const maxRetry = JSON.stringify((at("jails").additionalProperties as Record<string, Record<string, unknown>>).properties!.maxRetry);
    assert.match(maxRetry, /"type":"integer"/);
  });
});

// ajv (a dev dependency) as an independent validator of the shipped schema.
const require = createRequire(import.meta.url);
type Validate = ((data: unknown) => boolean) & { errors?: { dataPath?: string; instancePath?: string; message?: string; params?: unknown }[] | null };
const Ajv = require("ajv") as new (options: object) => { compile(schema: unknown): Validate };
const validate: Validate = new Ajv({ allErrors: true }).compile(JSON.parse(readFileSync(SHIPPED, "utf8")));

describe("validated by a JSON Schema validator (ajv)", () => {
  const check = (text: string) => {
    const ok = validate(parse(text) ?? {});
    return { ok, errors: JSON.stringify(validate.errors ?? []) };
  };

  test("the shipped config and every valid fixture pass", () => {
    const files = [join(ROOT, "config", "gateway.yaml"), ...["design-example.yaml", "minimal.yaml", "env.yaml", "empty.yaml"].map((name) => join(ROOT, "test", "fixtures", "config", name))];
    for (const file of files) {
      const { ok, errors } = check(readFileSync(file, "utf8"));
      assert.ok(ok, `${file}: ${errors}`);
    }
    assert.ok(readdirSync(join(ROOT, "test", "fixtures", "config")).includes("many-problems.yaml"));
  });

  test("a misspelled key, a bad duration, a bad enum and a bare duration number fail", () => {
    for (const text of ["rateLimt: {}", "shutdownGrace: soon", "log: { level: loud }", "shutdownGrace: 10", "routes: [ { name: a, service: a, rateLimt: x } ]", "limits: { maxBodySize: ten megs }"]) {
      assert.equal(check(text).ok, false, text);
    }
  });

  test("${VAR} references are accepted where numbers, booleans, enums and durations go", () => {
    for (const text of ["workers: ${WORKERS:-2}", "watch: ${WATCH}", "log: { level: '${LOG_LEVEL:-info}' }", "shutdownGrace: ${GRACE:-5s}", "limits: { maxBodySize: '${BODY}' }"]) {
      const { ok, errors } = check(text);
      assert.ok(ok, `${text}: ${errors}`);
    }
  });
});

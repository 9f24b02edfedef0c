// The pipeline kernel without sockets: requests injected in memory (light-my-request, Fastify's
// inject()) run through a prefix and a per-route chain of stub stages. What a client and the observers
// would see: which stages ran, the answer, and one finished-request notification per request.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import inject from "light-my-request";
import { replies } from "../../../src/pipeline/answers.js";
import { HANDLED, type RequestContext, type Stage, type StageResult } from "../../../src/pipeline/context.js";
import { Linger } from "../../../src/pipeline/linger.js";
import { Pipeline } from "../../../src/pipeline/pipeline.js";
import { captureLogger } from "../../helpers/proxy-tools.js";

const linger = new Linger(() => ({ lingerTime: 1_000, lingerBytes: 1_024 }), () => {});

/** A stage that records its name in `trail` and returns what `result` gives. */
function stage(name: string, trail: string[], result: (ctx: RequestContext) => StageResult | Promise<StageResult> = () => undefined): Stage {
  return {
    name,
    run(ctx) {
      trail.push(name);
      return result(ctx);
    },
  };
}

/** The last prefix stage stands in for routing: it gives the request its route's chain. */
function routeTo(chain: readonly Stage[], trail: string[]): Stage {
  return stage("route", trail, (ctx) => {
    ctx.requestId = "req-1";
    ctx.chain = chain;
    return undefined;
  });
}

const answerOk = (ctx: RequestContext): StageResult => {
  ctx.res!.writeHead(200, { "content-type": "text/plain" }).end("served");
  return HANDLED;
};

function run(pipeline: Pipeline, url = "/") {
  return inject((req, res) => pipeline.handleRequest(req, res, false), { method: "GET", url, headers: { host: "example.test" } });
}

describe("Pipeline", () => {
  test("runs the prefix, then the matched route's chain, in order; HANDLED ends the request", async () => {
    const trail: string[] = [];
    const finished: number[] = [];
    const chain = [stage("rate-limit", trail), stage("forward", trail, answerOk)];
    const pipeline = new Pipeline([stage("request-id", trail), routeTo(chain, trail)], (ctx) => finished.push(ctx.res!.statusCode), captureLogger().logger, linger);
    const res = await run(pipeline);
    assert.equal(res.payload, "served");
    assert.deepEqual(trail, ["request-id", "route", "rate-limit", "forward"]);
    assert.deepEqual(finished, [200], "one finished-request notification, after the response");
  });

  test("a Reply stops the request: the contract's JSON with the request id; later stages never run", async () => {
    const trail: string[] = [];
    const chain = [stage("rate-limit", trail, () => ({ ...replies.rateLimited, headers: { "retry-after": 3 } })), stage("forward", trail, answerOk)];
    const pipeline = new Pipeline([routeTo(chain, trail)], () => {}, captureLogger().logger, linger);
    const res = await run(pipeline);
    assert.equal(res.statusCode, 429);
    assert.equal(res.headers["retry-after"], "3");
    assert.deepEqual(res.json(), { error: "rate_limited", requestId: "req-1" });
    assert.deepEqual(trail, ["route", "rate-limit"]);
  });

  test("an async stage suspends the run and resumes it at the next stage, or answers", async () => {
    const trail: string[] = [];
    const later = <T>(value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), 5));
    const resumes = new Pipeline([routeTo([stage("store", trail, () => later(undefined)), stage("forward", trail, answerOk)], trail)], () => {}, captureLogger().logger, linger);
    assert.equal((await run(resumes)).payload, "served");
    assert.deepEqual(trail, ["route", "store", "forward"]);

    trail.length = 0;
    const answers = new Pipeline([routeTo([stage("store", trail, () => later(replies.storeUnavailable)), stage("forward", trail, answerOk)], trail)], () => {}, captureLogger().logger, linger);
    const res = await run(answers);
    assert.equal(res.statusCode, 503);
    assert.equal(res.json<{ error: string }>().error, "store_unavailable");
    assert.deepEqual(trail, ["route", "store"]);
  });

  test("a stage that throws, or whose promise rejects, is answered 500 and logged with its stack; the process goes on", async () => {
    for (const failing of [
      () => {
        throw new Error("bug in a stage");
      },
      () => Promise.reject(new Error("bug in a stage")),
    ]) {
      const { logger, lines } = captureLogger();
      const pipeline = new Pipeline([routeTo([stage("broken", [], failing)], [])], () => {}, logger, linger);
      const res = await run(pipeline);
      assert.equal(res.statusCode, 500);
      assert.deepEqual(res.json(), { error: "internal_error", requestId: "req-1" });
      const logged = lines.find((line) => line.msg === "unexpected error on the request path");
      assert.match(String((logged?.err as { stack?: string } | undefined)?.stack), /bug in a stage/);
    }
  });

  test("each route runs only its own chain", async () => {
    const trail: string[] = [];
    const limited = [stage("rate-limit", trail), stage("forward", trail, answerOk)];
    const open = [stage("forward", trail, answerOk)];
    const byPath = stage("route", trail, (ctx) => {
      ctx.chain = ctx.req.url === "/limited" ? limited : open;
      return undefined;
    });
    const pipeline = new Pipeline([byPath], () => {}, captureLogger().logger, linger);
    await run(pipeline, "/open");
    await run(pipeline, "/limited");
    assert.deepEqual(trail, ["route", "forward", "route", "rate-limit", "forward"]);
  });
});

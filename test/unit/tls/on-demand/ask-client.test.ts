import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { AskClient, httpAsk, type AskResult } from "../../../../src/tls/on-demand/ask-client.js";

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

/** A query answering from `answers` and counting the questions per name. */
function scripted(answers: Record<string, AskResult>): { query: (name: string) => Promise<AskResult>; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    query: (name) => {
      asked.push(name);
      return Promise.resolve(answers[name] ?? { answer: "denied", status: 404 });
    },
  };
}

describe("AskClient cache", () => {
  test("an allowed answer is remembered for allowTtl, a denial for denyTtl", async () => {
    const time = clock();
    const ask = scripted({ "yes.test": { answer: "allowed", status: 200 }, "no.test": { answer: "denied", status: 403 } });
    const client = new AskClient(ask.query, { allowTtl: 60_000, denyTtl: 10_000, now: time.now });
    assert.deepEqual(await client.decide("yes.test"), { answer: "allowed", status: 200, cached: false });
    assert.deepEqual(await client.decide("no.test"), { answer: "denied", status: 403, cached: false });
    time.advance(9_999);
    assert.deepEqual(await client.decide("yes.test"), { answer: "allowed", status: 200, cached: true });
    assert.deepEqual(await client.decide("no.test"), { answer: "denied", status: 403, cached: true });
    assert.deepEqual(ask.asked, ["yes.test", "no.test"]);
    time.advance(1); // the denial expires
    assert.equal((await client.decide("no.test")).cached, false);
    assert.equal((await client.decide("yes.test")).cached, true);
    time.advance(50_000); // so does the allowance
    assert.equal((await client.decide("yes.test")).cached, false);
    assert.deepEqual(ask.asked, ["yes.test", "no.test", "no.test", "yes.test"]);
  });

  test("a failed question denies (fail closed) and is remembered like a denial; a query that throws counts as failed", async () => {
    const time = clock();
    let calls = 0;
    const client = new AskClient(
      () => {
        calls++;
        return Promise.reject(new Error("boom"));
      },
      { allowTtl: 60_000, denyTtl: 5_000, now: time.now },
    );
    assert.deepEqual(await client.decide("a.test"), { answer: "error", error: "boom", cached: false });
    assert.equal((await client.decide("a.test")).answer, "error");
    assert.equal(calls, 1);
    time.advance(5_000);
    await client.decide("a.test");
    assert.equal(calls, 2);
  });

  test("concurrent questions about one name share one request", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const asked: string[] = [];
    const client = new AskClient(
      async (name) => {
        asked.push(name);
        await gate;
        return { answer: "allowed", status: 204 };
      },
      { allowTtl: 60_000, denyTtl: 5_000 },
    );
    const answers = Promise.all([client.decide("a.test"), client.decide("a.test"), client.decide("b.test"), client.decide("a.test")]);
    release();
    const results = await answers;
    assert.deepEqual(asked, ["a.test", "b.test"]);
    assert.ok(results.every((result) => result.answer === "allowed" && !result.cached));
    assert.equal((await client.decide("a.test")).cached, true);
  });

  test("the cache is bounded: the oldest answer goes first", async () => {
    const ask = scripted({});
    const client = new AskClient(ask.query, { allowTtl: 60_000, denyTtl: 60_000, maxEntries: 3 });
    for (const name of ["a.test", "b.test", "c.test", "d.test"]) await client.decide(name);
    assert.equal(client.size, 3);
    assert.equal((await client.decide("d.test")).cached, true);
    assert.equal((await client.decide("b.test")).cached, true);
    assert.equal((await client.decide("a.test")).cached, false);
  });
});

describe("httpAsk against a real endpoint", { timeout: 20_000 }, () => {
  let server: http.Server;
  let base = "";
  const hits: string[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url!, "http://x");
      const domain = url.searchParams.get("domain") ?? "";
      hits.push(`${url.pathname}?${url.searchParams.toString()}`);
      if (domain === "slow.test") return; // never answers
      const status = domain.startsWith("ok") ? (domain === "ok204.test" ? 204 : 200) : domain === "redirect.test" ? 302 : domain === "broken.test" ? 500 : 404;
      res.writeHead(status, status === 302 ? { location: "http://127.0.0.1:1/" } : {}).end("body is ignored");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test("any 2xx allows; any other status denies; the name travels as ?domain=, next to the URL's own query", async () => {
    const ask = httpAsk(`${base}/check?token=abc`, 2_000);
    assert.deepEqual(await ask("ok.test"), { answer: "allowed", status: 200 });
    assert.deepEqual(await ask("ok204.test"), { answer: "allowed", status: 204 });
    assert.deepEqual(await ask("nope.test"), { answer: "denied", status: 404 });
    assert.deepEqual(await ask("redirect.test"), { answer: "denied", status: 302 });
    assert.deepEqual(await ask("broken.test"), { answer: "denied", status: 500 });
    assert.deepEqual(hits.slice(-5), ["/check?token=abc&domain=ok.test", "/check?token=abc&domain=ok204.test", "/check?token=abc&domain=nope.test",
      "/check?token=abc&domain=redirect.test", "/check?token=abc&domain=broken.test"]);
  });

  test("no answer within the timeout is an error (denied)", async () => {
    const started = Date.now();
    const result = await httpAsk(`${base}/check`, 200)("slow.test");
    assert.equal(result.answer, "error");
    assert.match(result.error ?? "", /no answer within 200 ms/);
    assert.ok(Date.now() - started < 2_000);
  });

  test("a connection error is an error (denied)", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await httpAsk(`http://127.0.0.1:${port}/check`, 2_000)("a.test");
    assert.equal(result.answer, "error");
    assert.match(result.error ?? "", /ECONNREFUSED/);
  });
});

// log.file: both logs append to one file that logrotate can move; reopening (SIGUSR1 in the CLI) starts a
// new file at the configured path. Access lines carry level as a word, the user agent, the protocol,
// the upstream time, the number of attempts and the response body's size.
import assert from "node:assert/strict";
import { request } from "node:http";
import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { Gateway } from "../../../src/main.js";
import { perTest } from "../../helpers/fixtures.js";
import { simpleConfig } from "../../helpers/gateway.js";
import { eventually } from "../../helpers/proxy-tools.js";

const { backend, defer } = perTest();

test("access and event lines go to log.file; after a rename and reopenLogs, new lines go to a new file at the path", async () => {
  const upstream = await backend();
  // Not the test helper's gateway: that one passes its own logger and sink; this one writes where the config says.
  const dir = await mkdtemp(join(tmpdir(), "rampart-log-"));
  defer(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "logs", "rampart.log");
  const configFile = join(dir, "gateway.yaml");
  const config = simpleConfig(upstream.url, { top: { tls: { redirectHttp: false, certDir: join(dir, "certs") } } });
  await writeFile(configFile, stringify({ ...config, listen: { http: "127.0.0.1:0", https: "127.0.0.1:0", admin: "127.0.0.1:0" }, store: { dir: join(dir, "state") }, log: { level: "info", file } }));
  const gw = await Gateway.start({ configFile });
  defer(() => gw.close());
  const port = gw.addresses.http.port;

  const first = await fetch(`http://127.0.0.1:${port}/first`, { headers: { "user-agent": "log-test/1" } });
  assert.equal(first.status, 200);
  const firstBody = Buffer.from(await first.arrayBuffer());
  const lines = async (path: string) => (await readFile(path, "utf8").catch(() => "")).split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Record<string, unknown>);
  const logged = await pollFor(async () => (await lines(file)).find((line) => line.msg === "request" && line.path === "/first"));
  assert.equal(logged.level, "info");
  assert.equal(logged.userAgent, "log-test/1");
  assert.equal(logged.protocol, "http/1.1");
  assert.equal(logged.attempts, 1);
  assert.equal(typeof logged.upstreamMs, "number");
  assert.equal(logged.bytes, firstBody.length, "bytes: the response body as the client received it");
  assert.ok((await lines(file)).some((line) => line.msg === "rampart listening" && line.level === "info"), "event lines share the file, levels as words");

  // Rampart's own answers count their body alike; a HEAD answer sends none.
  const refused = await traceRequest(port, "/refused");
  assert.equal(refused.status, 405);
  const ownAnswer = await pollFor(async () => (await lines(file)).find((line) => line.msg === "request" && line.path === "/refused"));
  assert.ok(refused.body.length > 0);
  assert.equal(ownAnswer.bytes, refused.body.length);
  assert.equal((await fetch(`http://127.0.0.1:${port}/head`, { method: "HEAD" })).status, 200);
  assert.equal((await pollFor(async () => (await lines(file)).find((line) => line.msg === "request" && line.path === "/head"))).bytes, 0);

  await rename(file, `${file}.1`);
  gw.reopenLogs();
  assert.equal((await fetch(`http://127.0.0.1:${port}/second`)).status, 200);
  await pollFor(async () => (await lines(file)).find((line) => line.path === "/second"));
  assert.equal((await lines(`${file}.1`)).some((line) => line.path === "/second"), false, "nothing more is written to the rotated file");
});

/** TRACE, which fetch cannot send: Rampart refuses it (405) on routes that do not allow it. */
function traceRequest(port: number, path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port, path, method: "TRACE" }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    })
      .on("error", reject)
      .end();
  });
}

function pollFor<T>(check: () => Promise<T | undefined>): Promise<T> {
  return eventually(check, 5_000, "the log line", 50);
}

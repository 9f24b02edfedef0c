// A real gateway whose certificate lookup fails for one name: that client's handshake is refused at
// once, and every other client keeps being served by the same process. The fault is injected into
// SniIndex, which the resolver consults on every handshake, because no configuration makes it throw.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SniIndex } from "../../../src/tls/sni-index.js";
import { servedCertificate } from "../../helpers/acme-tools.js";
import { getOnce } from "../../helpers/client.js";
import { suiteGateway } from "../../helpers/fixtures.js";

const FAULTY_NAME = "boom.test";

/** How long a refused handshake may take; the gateway's handshake timeout (10 s) is far beyond it. */
const PROMPT_MS = 3_000;

async function refusedPromptly(port: number, servername: string): Promise<void> {
  const started = Date.now();
  await assert.rejects(servedCertificate(port, servername), `the handshake for ${JSON.stringify(servername)} succeeded`);
  const elapsed = Date.now() - started;
  assert.ok(elapsed < PROMPT_MS, `the handshake for ${JSON.stringify(servername)} took ${elapsed} ms to fail`);
}

describe("a failing certificate lookup refuses one client, not the gateway", () => {
  const suite = suiteGateway();
  const realGet = SniIndex.prototype.get;

  before(() => {
    SniIndex.prototype.get = function (this: SniIndex<unknown>, servername: string) {
      if (servername.toLowerCase() === FAULTY_NAME) throw new TypeError("index corrupted");
      return realGet.call(this, servername);
    };
  });

  after(() => {
    SniIndex.prototype.get = realGet;
  });

  test("the client whose lookup throws is refused; clients before, beside and after it are served", async () => {
    const port = suite.gw.httpsPort;
    assert.equal((await getOnce({ port, path: "/", tls: true })).status, 200);

    const [refusals, served] = await Promise.all([
      Promise.all(Array.from({ length: 3 }, () => refusedPromptly(port, FAULTY_NAME))),
      Promise.all(Array.from({ length: 3 }, () => getOnce({ port, path: "/", tls: true }))),
    ]);
    assert.equal(refusals.length, 3);
    assert.deepEqual(served.map((result) => result.status), [200, 200, 200]);

    assert.equal((await servedCertificate(port, "other.test")).subjectaltname.includes("DNS:localhost"), true);
    assert.equal((await getOnce({ port, path: "/", tls: true })).status, 200);
  });

  test("malformed SNI names are refused and the gateway keeps serving", async () => {
    const port = suite.gw.httpsPort;
    for (const name of ["bad name.test", "caf\u00e9.test"]) {
      await refusedPromptly(port, name);
      assert.equal((await getOnce({ port, path: "/", tls: true })).status, 200, `after ${JSON.stringify(name)}`);
    }
  });
});

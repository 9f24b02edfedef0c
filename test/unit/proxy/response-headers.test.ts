// The client's header block for an upstream answer, built from the upstream's raw header list: what
// never passes (hop-by-hop, framing, the upstream's X-Request-Id), the route's edits, Rampart's cookie and HSTS.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { clientResponseHeaders } from "../../../src/proxy/response-headers.js";
import { compileHeaderEdits } from "../../../src/routing/route.js";

const NO_EDITS = compileHeaderEdits({ set: {}, remove: [] });

/** [name, value] pairs of a flat list, for readable assertions. */
function pairs(list: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let index = 0; index < list.length; index += 2) out.push([list[index]!, list[index + 1]!]);
  return out;
}

describe("clientResponseHeaders", () => {
  test("keeps end-to-end fields with the upstream's case and order, repeated ones repeated", () => {
    const raw = ["Content-Type", "text/plain", "Set-Cookie", "a=1", "Set-Cookie", "b=2", "ETag", '"x"'];
    assert.deepEqual(pairs(clientResponseHeaders(raw, NO_EDITS, undefined, "")), [
      ["Content-Type", "text/plain"],
      ["Set-Cookie", "a=1"],
      ["Set-Cookie", "b=2"],
      ["ETag", '"x"'],
    ]);
  });

  test("drops hop-by-hop fields, the upstream's framing and its X-Request-Id, whatever their case", () => {
    const raw = ["Connection", "keep-alive", "Keep-Alive", "timeout=5", "Transfer-Encoding", "chunked", "TE", "trailers", "Upgrade", "h2c", "Proxy-Authenticate", "Basic", "X-Request-Id", "forged", "Content-Length", "5"];
    assert.deepEqual(pairs(clientResponseHeaders(raw, NO_EDITS, undefined, "")), [["Content-Length", "5"]]);
  });

  test("drops the fields the upstream names in Connection, even those listed before it", () => {
    const raw = ["X-Secret", "1", "Connection", "X-Secret, x-other", "x-other", "2", "X-Kept", "3"];
    assert.deepEqual(pairs(clientResponseHeaders(raw, NO_EDITS, undefined, "")), [["X-Kept", "3"]]);
  });

  test("the route's edits replace and remove, Rampart's cookie is added to the upstream's", () => {
    const edits = compileHeaderEdits({ set: { "X-Frame-Options": "DENY" }, remove: ["Server"] });
    const raw = ["Server", "backend/1.0", "x-frame-options", "SAMEORIGIN", "Set-Cookie", "app=1"];
    assert.deepEqual(pairs(clientResponseHeaders(raw, edits, "rampart_split=canary", "")), [
      ["Set-Cookie", "app=1"],
      ["x-frame-options", "DENY"],
      ["set-cookie", "rampart_split=canary"],
    ]);
  });

  test("HSTS, when Rampart sends one, replaces the upstream's; otherwise the upstream's passes", () => {
    const raw = ["Strict-Transport-Security", "max-age=1"];
    assert.deepEqual(pairs(clientResponseHeaders(raw, NO_EDITS, undefined, "max-age=31536000")), [["strict-transport-security", "max-age=31536000"]]);
    assert.deepEqual(pairs(clientResponseHeaders(raw, NO_EDITS, undefined, "")), [["Strict-Transport-Security", "max-age=1"]]);
  });
});

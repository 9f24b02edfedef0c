// Telling Rampart's own errors from the upstream's: rampart_requests_total counts every answer by status;
// rampart_gateway_answers_total only those Rampart wrote itself. A backend's 500 passes through and is
// not Rampart's; a 502 for a dead target and a 404 for no route are. Per-target error series exist at 0
// from the start, so the first error shows in rate().
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { freePort } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { perTest } from "../../helpers/fixtures.js";
import { fetchMetrics, metricSample } from "../../helpers/proxy-tools.js";

const { backend, gateway } = perTest();

describe("gateway answers versus upstream answers", () => {
  test("a passed-through 500 is the upstream's; a 502 and a 404 are Rampart's; target error series start at 0", async () => {
    const app = await backend((req, res) => res.writeHead(req.url === "/app/fail" ? 500 : 200).end("from the backend"));
    const deadPort = await freePort();
    const gw = await gateway({
      services: { app: { targets: [{ url: app.url }] }, dead: { targets: [{ url: `http://127.0.0.1:${deadPort}` }] } },
      routes: [
        { name: "app", match: { pathPrefix: "/app" }, service: "app" },
        { name: "dead", match: { pathPrefix: "/dead" }, service: "dead" },
      ],
    });
    const before = await fetchMetrics(gw.adminPort);
    for (const kind of ["connect", "reset", "timeout", "tls", "status_5xx"]) {
      assert.equal(metricSample(before, "rampart_upstream_errors_total", { service: "dead", target: `127.0.0.1:${deadPort}`, kind }), 0, `${kind} at 0 before any request`);
    }

    assert.equal((await request({ port: gw.httpsPort, tls: true, path: "/app/fail" })).status, 500);
    assert.equal((await request({ port: gw.httpsPort, tls: true, path: "/app/ok" })).status, 200);
    assert.equal((await request({ port: gw.httpsPort, tls: true, path: "/dead/x" })).status, 502);
    assert.equal((await request({ port: gw.httpsPort, tls: true, path: "/nowhere" })).status, 404);

    const metrics = await fetchMetrics(gw.adminPort);
    const requests = (route: string, code: string) => metricSample(metrics, "rampart_requests_total", { route, method: "GET", code });
    const own = (route: string, code: string, error: string) => metricSample(metrics, "rampart_gateway_answers_total", { route, code, error });
    assert.equal(requests("app", "500"), 1);
    assert.equal(requests("dead", "502"), 1);
    assert.equal(requests("-", "404"), 1);
    assert.equal(own("dead", "502", "bad_gateway"), 1);
    assert.equal(own("-", "404", "no_route"), 1);
    assert.ok(!/rampart_gateway_answers_total\{route="app"/.test(metrics), "the backend's 500 and 200 are not Rampart's answers");
    assert.equal(metricSample(metrics, "rampart_upstream_errors_total", { service: "app", target: new URL(app.url).host, kind: "status_5xx" }), 1);
  });
});

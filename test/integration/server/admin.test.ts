// The admin listener: liveness, readiness, Prometheus metrics with the contract's names and bounded
// labels, the operator API, its token, and reload through POST /api/reload.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { startBackend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { suiteGateway } from "../../helpers/fixtures.js";
import { simpleConfig, startGateway } from "../../helpers/gateway.js";

describe("admin listener", () => {
  const suite = suiteGateway();

  test("/healthz and /readyz answer 200 once listening", async () => {
    assert.equal((await request({ port: suite.gw.adminPort, path: "/healthz" })).status, 200);
    const ready = await request({ port: suite.gw.adminPort, path: "/readyz" });
    assert.equal(ready.status, 200);
    assert.equal(ready.json<{ status: string }>().status, "ready");
  });

  test("/metrics exposes the contract's request metrics with route labels, never raw paths", async () => {
    await request({ port: suite.gw.httpsPort, path: "/some/unique/path-123", tls: true });
    await request({ port: suite.gw.httpsPort, path: "/x", method: "PROPFIND", tls: true });
    const text = (await request({ port: suite.gw.adminPort, path: "/metrics" })).body;
    assert.match(text, /rampart_requests_total\{route="app",method="GET",code="200"\} [1-9]/);
    assert.match(text, /rampart_request_duration_seconds_bucket\{le="[^"]+",route="app",method="GET",code="200"\}/);
    assert.match(text, /rampart_requests_in_flight\{route="app"\} 0/);
    assert.match(text, /rampart_upstream_request_duration_seconds_count\{service="app",target="127\.0\.0\.1:\d+"\} [1-9]/);
    assert.match(text, /rampart_requests_total\{route="app",method="OTHER",code="200"\} 1/);
    assert.match(text, /rampart_connections_rejected_total\{reason="banned"\} 0/);
    assert.match(text, new RegExp(`rampart_build_info\\{version="\\d+\\.\\d+\\.\\d+",node="${process.version.replace(/\./g, "\\.")}"\\} 1`));
    assert.match(text, /rampart_config_last_reload_success_timestamp_seconds \d+/);
    assert.match(text, /rampart_connections_open\{listener="https"\} \d/);
    assert.match(text, /rampart_tls_handshakes_total\{result="ok"\} [1-9]/);
    assert.match(text, /rampart_tls_handshakes_total\{result="failed"\} 0/);
    // The requests above left their keep-alive socket to the backend in the pool.
    assert.match(text, /rampart_upstream_sockets\{service="app",state="idle"\} [1-9]/);
    assert.match(text, /process_cpu_user_seconds_total/);
    assert.match(text, /nodejs_eventloop_lag_seconds/);
    assert.doesNotMatch(text, /path-123/);
  });

  test("/api/upstreams lists every target with its state", async () => {
    const res = await request({ port: suite.gw.adminPort, path: "/api/upstreams" });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), [{ service: "app", target: `127.0.0.1:${suite.backend.port}`, healthy: true, breaker: "closed", inFlight: 0, lastError: null, tls: { errors: 0, lastError: null, lastErrorAt: null } }]);
  });

  test("/api/certificates lists the self-signed fallback", async () => {
    const list = (await request({ port: suite.gw.adminPort, path: "/api/certificates" })).json<{ domain: string; source: string; notAfter: string }[]>();
    const localhost = list.find((entry) => entry.domain === "localhost");
    assert.equal(localhost?.source, "self-signed");
    assert.ok(!Number.isNaN(Date.parse(localhost.notAfter)));
  });

  test("unknown admin paths are 404", async () => {
    assert.equal((await request({ port: suite.gw.adminPort, path: "/api/nope" })).status, 404);
  });

  test("POST /api/reload applies a valid file and rejects an invalid one, keeping the old config", async () => {
    const config = simpleConfig(suite.backend.url);
    await suite.gw.writeConfig({
      ...config,
      routes: [{ name: "added", match: { pathPrefix: "/added" }, service: "app", stripPrefix: "/added" }, ...(config.routes as object[])],
    });
    const ok = await request({ port: suite.gw.adminPort, path: "/api/reload", method: "POST" });
    assert.equal(ok.status, 200);
    const routed = await request({ port: suite.gw.httpsPort, path: "/added/x", tls: true });
    assert.equal(routed.json<{ url: string }>().url, "/x");

    await suite.gw.writeConfig({ ...config, routes: [{ name: "broken", service: "nope" }] });
    const bad = await request({ port: suite.gw.adminPort, path: "/api/reload", method: "POST" });
    assert.equal(bad.status, 422);
    assert.match(bad.json<{ problems: string[] }>().problems.join("\n"), /gateway\.yaml:\d+:\d+ routes\[0\]\.service: unknown service "nope"/);
    const still = await request({ port: suite.gw.httpsPort, path: "/added/y", tls: true });
    assert.equal(still.json<{ url: string }>().url, "/y");

    const metrics = (await request({ port: suite.gw.adminPort, path: "/metrics" })).body;
    assert.match(metrics, /rampart_config_reloads_total\{result="success"\} 1/);
    const reloadedAt = Number(/^rampart_config_last_reload_success_timestamp_seconds (\S+)$/m.exec(metrics)?.[1]);
    assert.ok(Math.abs(reloadedAt - Date.now() / 1000) < 30, `the successful reload's time: ${reloadedAt}`);
    assert.match(metrics, /rampart_config_reloads_total\{result="failure"\} 1/);
  });
});

describe("admin token", () => {
  test("/api/* requires the bearer token when adminToken is set; /metrics and /healthz do not", async () => {
    const backend = await startBackend();
    const gw = await startGateway(simpleConfig(backend.url, { top: { adminToken: "s3cret" } }));
    try {
      assert.equal((await request({ port: gw.adminPort, path: "/api/upstreams" })).status, 401);
      assert.equal((await request({ port: gw.adminPort, path: "/api/upstreams", headers: { authorization: "Bearer wrong" } })).status, 401);
      assert.equal((await request({ port: gw.adminPort, path: "/api/upstreams", headers: { authorization: "Bearer s3cret" } })).status, 200);
      assert.equal((await request({ port: gw.adminPort, path: "/healthz" })).status, 200);
      assert.equal((await request({ port: gw.adminPort, path: "/metrics" })).status, 200);
    } finally {
      await gw.close();
      await backend.close();
    }
  });
});

// The deployment files agree with the gateway config they ship: deploy/compose.yaml and
// deploy/config/gateway.yaml, deploy/kubernetes/ and its ConfigMap, deploy/systemd/rampart.service. Each
// config loads as `rampart start` would load it; ports, probe paths, config paths and stop grace periods
// are read from both sides and compared, so changing one without the other fails here. Also: the
// .dockerignore keeps what the Dockerfile copies, and LICENSE is the license package.json names.
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, posix } from "node:path";
import { describe, test } from "node:test";
import { parse, parseAllDocuments } from "yaml";
import { loadConfigFile, loadConfigText } from "../../../src/config/load.js";
import type { Config } from "../../../src/config/schema.js";
import { parseDuration } from "../../../src/config/units.js";

const root = new URL("../../../../", import.meta.url).pathname;
const read = (path: string) => readFileSync(join(root, path), "utf8");

// Loose shapes of what the manifests hold; every access is checked by an assertion.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const ADMIN_TOKEN_ENV = { RAMPART_ADMIN_TOKEN: "deploy-test-token" };

function isLoopback(host: string): boolean {
  return host === "localhost" || host.startsWith("127.") || host === "::1";
}

/** `rampart start -c FILE` / `start --config FILE`: the config path a command line gives. */
function configArg(args: readonly string[]): string | undefined {
  const index = args.findIndex((arg) => arg === "-c" || arg === "--config");
  return index >= 0 ? args[index + 1] : undefined;
}

describe("deploy/kubernetes", () => {
  const dir = join(root, "deploy/kubernetes");
  const files = readdirSync(dir).filter((name) => name.endsWith(".yaml"));
  const docs: Obj[] = files.flatMap((name) =>
    parseAllDocuments(readFileSync(join(dir, name), "utf8")).map((doc) => {
      assert.deepEqual(doc.errors, [], `${name} parses`);
      return doc.toJS() as Obj;
    }),
  );
  const find = (kind: string, name: string): Obj => {
    const found = docs.find((doc) => doc.kind === kind && doc.metadata?.name === name);
    assert.ok(found, `deploy/kubernetes has ${kind} ${name}`);
    return found;
  };

  const configMap = find("ConfigMap", "rampart-config");
  const deployment = find("Deployment", "rampart");
  const pod = deployment.spec.template.spec as Obj;
  const container = (pod.containers as Obj[]).find((c) => c.name === "rampart")!;
  const config: Config = loadConfigText(configMap.data["gateway.yaml"], "deploy/kubernetes/configmap.yaml gateway.yaml", ADMIN_TOKEN_ENV);
  const containerPort = (nameOrNumber: string | number): number => {
    if (typeof nameOrNumber === "number") return nameOrNumber;
    const port = (container.ports as Obj[]).find((p) => p.name === nameOrNumber);
    assert.ok(port, `container port ${nameOrNumber} is declared`);
    return port.containerPort as number;
  };
  const matches = (selector: Obj, labels: Obj) => Object.entries(selector).every(([key, value]) => labels[key] === value);

  test("kustomization.yaml lists every manifest", () => {
    const kustomization = docs.find((doc) => doc.kind === "Kustomization");
    assert.ok(kustomization, "kustomization.yaml");
    assert.deepEqual([...kustomization.resources].sort(), files.filter((name) => name !== "kustomization.yaml").sort());
  });

  test("the ConfigMap's gateway.yaml loads, shares state through the Redis it ships, and serves at least one route", () => {
    assert.ok(config.routes.length > 0);
    assert.equal(config.store.kind, "redis");
    const redisUrl = new URL(config.store.redis.url);
    const redisService = find("Service", redisUrl.hostname);
    const redisPort = (redisService.spec.ports as Obj[]).find((p) => p.port === Number(redisUrl.port || 6379));
    assert.ok(redisPort, `Service ${redisUrl.hostname} has port ${redisUrl.port}`);
    const redis = find("Deployment", redisUrl.hostname);
    assert.ok(matches(redisService.spec.selector, redis.spec.template.metadata.labels), "the Redis Service selects the Redis pods");
    const redisContainer = redis.spec.template.spec.containers[0] as Obj;
    assert.ok(
      (redisContainer.ports as Obj[]).some((p) => p.containerPort === 6379 && (p.name === redisPort.targetPort || p.containerPort === redisPort.targetPort)),
      "the Redis Service's targetPort is the container's 6379",
    );
  });

  test("the container reads the ConfigMap's file: args -c path = volume mount + item path", () => {
    const path = configArg(container.args ?? []);
    assert.ok(path, "args name the config file with -c");
    const mount = (container.volumeMounts as Obj[]).find((m) => path.startsWith(`${m.mountPath}/`));
    assert.ok(mount, `${path} lies under a volume mount`);
    const volume = (pod.volumes as Obj[]).find((v) => v.name === mount.name);
    assert.equal(volume?.configMap?.name, "rampart-config");
    const item = (volume.configMap.items as Obj[]).find((i) => i.key === "gateway.yaml");
    assert.equal(posix.join(mount.mountPath, item?.path), path);
  });

  test("container ports are the config's listen ports, and the admin listener is reachable off loopback", () => {
    assert.equal(containerPort("http"), config.listen.http.port);
    assert.equal(containerPort("https"), config.listen.https.port);
    assert.equal(containerPort("admin"), config.listen.admin.port);
    assert.ok(!isLoopback(config.listen.admin.host), "the kubelet probes the pod IP: admin must not bind loopback");
    const token = (container.env as Obj[]).find((e) => e.name === "RAMPART_ADMIN_TOKEN");
    assert.ok(token?.valueFrom?.secretKeyRef?.name, "the admin token comes from a Secret");
    assert.equal(deployment.spec.template.metadata.annotations["prometheus.io/port"], String(config.listen.admin.port));
  });

  test("readiness probes /readyz and liveness /healthz on the admin port", () => {
    for (const [probe, path] of [
      ["readinessProbe", "/readyz"],
      ["livenessProbe", "/healthz"],
    ] as const) {
      const get = container[probe]?.httpGet as Obj | undefined;
      assert.ok(get, `${probe} is an HTTP probe`);
      assert.equal(get.path, path, probe);
      assert.equal(containerPort(get.port), config.listen.admin.port, `${probe} hits the admin port`);
    }
    if (container.startupProbe) assert.equal(containerPort(container.startupProbe.httpGet.port), config.listen.admin.port);
  });

  test("the termination grace covers the preStop pause plus shutdownGrace", () => {
    const graceMs = (pod.terminationGracePeriodSeconds as number) * 1_000;
    const preStop = container.lifecycle?.preStop?.exec?.command as string[] | undefined;
    const pauseMs = preStop?.[0] === "sleep" ? Number(preStop[1]) * 1_000 : 0;
    assert.ok(graceMs > pauseMs + config.shutdownGrace, `terminationGracePeriodSeconds ${graceMs / 1_000}s must exceed preStop ${pauseMs / 1_000}s + shutdownGrace ${config.shutdownGrace / 1_000}s`);
  });

  test("with a read-only root filesystem, certDir and store.dir are writable volumes", () => {
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    const mounts = (container.volumeMounts as Obj[]).filter((m) => m.readOnly !== true).map((m) => m.mountPath as string);
    // Relative paths resolve against the image's WORKDIR, /app.
    for (const dir of [config.tls.certDir, config.store.dir].map((d) => posix.resolve("/app", d))) {
      assert.ok(mounts.includes(dir), `${dir} is a writable mount`);
    }
  });

  test("the Services reach the pods' listeners and the PodDisruptionBudget keeps one serving", () => {
    const labels = deployment.spec.template.metadata.labels as Obj;
    assert.ok(matches(deployment.spec.selector.matchLabels, labels));
    const service = find("Service", "rampart");
    assert.ok(matches(service.spec.selector, labels), "Service rampart selects the pods");
    assert.deepEqual(
      (service.spec.ports as Obj[]).map((p) => containerPort(p.targetPort)).sort(),
      [config.listen.http.port, config.listen.https.port].sort(),
    );
    assert.equal(service.spec.externalTrafficPolicy, "Local", "client addresses reach the gateway (bans and limits key on them)");
    const admin = find("Service", "rampart-admin");
    assert.ok(matches(admin.spec.selector, labels));
    assert.deepEqual((admin.spec.ports as Obj[]).map((p) => containerPort(p.targetPort)), [config.listen.admin.port]);
    assert.notEqual(admin.spec.type, "LoadBalancer", "the admin listener stays inside the cluster");

    const pdb = find("PodDisruptionBudget", "rampart");
    assert.ok(matches(pdb.spec.selector.matchLabels, labels));
    const replicas = deployment.spec.replicas as number;
    assert.ok(replicas >= 2);
    if (pdb.spec.maxUnavailable !== undefined) assert.ok(pdb.spec.maxUnavailable < replicas);
    else assert.ok(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < replicas);
  });
});

describe("deploy/compose.yaml", () => {
  const compose = parse(read("deploy/compose.yaml"), { merge: true }) as Obj;
  const services = compose.services as Record<string, Obj>;
  const instances = Object.entries(services).filter(([, service]) => service.build !== undefined || String(service.image).startsWith("rampart"));

  test("two Rampart instances and Redis", () => {
    assert.deepEqual(instances.map(([name]) => name).sort(), ["rampart-1", "rampart-2"]);
    assert.match(String(services.redis?.image), /^redis:/);
    assert.ok(existsSync(join(root, "deploy", instances[0]![1].build.context, instances[0]![1].build.dockerfile ?? "Dockerfile")), "the build context has the Dockerfile");
  });

  for (const [name, service] of instances) {
    test(`${name}: mounts the config it starts with, which loads and agrees with ports, probes, Redis and stop grace`, () => {
      const inContainer = configArg(service.command ?? []);
      assert.ok(inContainer, "command names the config file with -c");
      const mount = (service.volumes as string[]).map((v) => v.split(":")).find(([, target]) => target === inContainer);
      assert.ok(mount, `${inContainer} is mounted`);
      const env = { ...(service.environment as Record<string, string>), ...ADMIN_TOKEN_ENV };
      const config = loadConfigFile(join(root, "deploy", mount[0]!), env);

      assert.equal(config.store.kind, "redis");
      const redis = new URL(config.store.redis.url);
      assert.ok(services[redis.hostname], `the Redis host ${redis.hostname} is a compose service`);
      assert.equal(Number(redis.port || 6379), 6379);
      for (const target of Object.values(config.services).flatMap((s) => s.targets)) {
        const host = new URL(target.url).hostname;
        assert.ok(services[host], `upstream ${host} is a compose service`);
        assert.match(JSON.stringify(services[host]!.command ?? ""), new RegExp(`listen\\(${new URL(target.url).port}\\)`), `${host} listens on the port the config names`);
      }

      const published = (service.ports as string[]).map((p) => Number(p.split(":").at(-1)));
      assert.deepEqual(published.sort(), [config.listen.http.port, config.listen.https.port, config.listen.admin.port].sort());
      assert.ok(!isLoopback(config.listen.admin.host), "admin reachable from outside the container for probes and scrapes");
      assert.ok(config.adminToken !== "", "admin off loopback has a token");
      assert.ok((service.ports as string[]).some((p) => p.startsWith("127.0.0.1:") && p.endsWith(`:${config.listen.admin.port}`)), "the host publishes admin on loopback only");

      const check = (service.healthcheck.test as string[]).join(" ");
      assert.ok(check.includes(`127.0.0.1:${config.listen.admin.port}/readyz`), "the health check asks /readyz on the admin port");

      const graceMs = parseDuration(String(service.stop_grace_period));
      assert.ok(graceMs !== undefined && graceMs > config.shutdownGrace, `stop_grace_period ${service.stop_grace_period} must exceed shutdownGrace`);
      assert.equal(service.init, true, "an init process forwards signals to node");
      assert.ok(config.routes.some((route) => route.slo !== undefined), "the example config has SLO routes for deploy/prometheus");
    });
  }
});

describe("deploy/systemd/rampart.service", () => {
  const unit = read("deploy/systemd/rampart.service");
  const values = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]!.trim());
  const bin = (JSON.parse(read("package.json")) as { bin: Record<string, string> }).bin.rampart!;

  test("starts and validates the same config with the package's CLI, reloads with SIGHUP", () => {
    const [start] = values("ExecStart");
    assert.ok(start);
    const startArgs = start.split(/\s+/);
    assert.ok(startArgs[1]?.endsWith(`/${bin}`), `ExecStart runs ${bin}`);
    assert.equal(startArgs[2], "start");
    const config = configArg(startArgs);
    assert.ok(config, "ExecStart names the config with -c");
    assert.ok(config.startsWith("/etc/"), "the config lives under /etc");
    for (const check of [...values("ExecStartPre"), values("ExecReload")[0]!]) {
      assert.equal(configArg(check.split(/\s+/)), config, `${check} checks the file ExecStart uses`);
      assert.match(check, / validate /);
    }
    assert.ok(values("ExecReload").some((line) => /kill -HUP \$MAINPID/.test(line)));
    assert.ok(values("ReadOnlyPaths").some((line) => config.startsWith(`${line}/`)));
  });

  test("runs unprivileged, and TimeoutStopSec leaves room for the default shutdownGrace", () => {
    assert.ok(values("User")[0] && values("User")[0] !== "root");
    assert.deepEqual(values("KillSignal"), ["SIGTERM"]);
    const stopMs = parseDuration(values("TimeoutStopSec")[0]!);
    const defaults = loadConfigText("{}", "defaults.yaml", {});
    assert.ok(stopMs !== undefined && stopMs >= 2 * defaults.shutdownGrace, "TimeoutStopSec at least twice the default shutdownGrace");
    assert.doesNotMatch(unit, /^MemoryDenyWriteExecute=true/m, "V8's JIT needs writable executable memory");
  });
});

describe("repository files", () => {
  test(".dockerignore keeps everything the Dockerfile copies and drops local state", () => {
    const ignored = read(".dockerignore")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"));
    const sources = read("Dockerfile")
      .split("\n")
      .filter((line) => /^COPY\s/.test(line) && !line.includes("--from="))
      .flatMap((line) => line.trim().split(/\s+/).slice(1, -1));
    assert.ok(sources.length > 0);
    for (const source of sources) {
      const top = source.replace(/^\.\//, "").split("/")[0]!;
      assert.ok(!ignored.includes(top), `${source} is copied by the Dockerfile but excluded by .dockerignore`);
    }
    for (const must of ["node_modules", "dist", ".git", "certs", "state", ".env"]) assert.ok(ignored.includes(must), `.dockerignore excludes ${must}`);
  });

  test("LICENSE is the Apache License 2.0 that package.json names", () => {
    assert.equal((JSON.parse(read("package.json")) as { license: string }).license, "Apache-2.0");
    const license = read("LICENSE");
    assert.match(license, /^\s*Apache License\s+Version 2\.0, January 2004\s+http:\/\/www\.apache\.org\/licenses\//);
    assert.match(license, /TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION/);
    assert.match(license, /END OF TERMS AND CONDITIONS/);
    assert.match(license, /9\. Accepting Warranty or Additional Liability\./);
  });
});

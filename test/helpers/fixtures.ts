// Lifetimes for what the integration tests start. perTest(): backends, gateways and anything else a test
// registers are closed after that test, the latest first. suiteGateway(): one backend and one gateway in
// front of it shared by every test of a suite. Call either where node:test hooks may be declared (at
// the top of the file or in a describe callback): they declare the hooks that do the closing.
import { after, afterEach, before } from "node:test";
import { startBackend, type Backend, type Handler } from "./backend.js";
import { simpleConfig, startGateway, type ConfigObject, type GatewayOptions, type TestGateway } from "./gateway.js";

export interface PerTest {
  /** Runs `cleanup` after the current test; cleanups run in reverse order of registration. */
  defer(cleanup: () => unknown): void;
  /** startBackend(handler), closed after the current test. */
  backend(handler?: Handler): Promise<Backend>;
  /** startGateway(config, options), closed after the current test. */
  gateway(config: ConfigObject, options?: GatewayOptions): Promise<TestGateway>;
}

export interface PerTestOptions {
  /**
   * "fail" (default): every cleanup runs, then the first error fails the hook. "log": errors are printed
   * and ignored (for process trees and servers that may already be gone).
   */
  readonly onCleanupError?: "fail" | "log";
}

export function perTest(options: PerTestOptions = {}): PerTest {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    let failure: { readonly error: unknown } | undefined;
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        if (options.onCleanupError === "log") console.error(error);
        else failure ??= { error };
      }
    }
    if (failure !== undefined) throw failure.error;
  });
  const defer = (cleanup: () => unknown) => void cleanups.push(cleanup);
  return {
    defer,
    backend: async (handler) => {
      const started = await startBackend(handler);
      defer(() => started.close());
      return started;
    },
    gateway: async (config, gatewayOptions) => {
      const started = await startGateway(config, gatewayOptions);
      defer(() => started.close());
      return started;
    },
  };
}

export interface SuiteGateway {
  readonly backend: Backend;
  readonly gw: TestGateway;
}

/**
 * A default backend (JSON echo) and a gateway configured by `config(backend)` (simpleConfig by default),
 * started before the suite's first test and closed after its last. Read `backend` and `gw` in tests.
 */
export function suiteGateway(config: (backend: Backend) => ConfigObject = (backend) => simpleConfig(backend.url), options: GatewayOptions = {}): SuiteGateway {
  let backend: Backend | undefined;
  let gw: TestGateway | undefined;
  before(async () => {
    backend = await startBackend();
    gw = await startGateway(config(backend), options);
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });
  return {
    get backend() {
      return started(backend, "backend");
    },
    get gw() {
      return started(gw, "gateway");
    },
  };
}

/** `value`, once the suite's before hook has set it. */
export function started<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the suite's ${what} is not started: read it inside a test`);
  return value;
}

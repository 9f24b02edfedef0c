// Plain GETs to the ACME server outside acme-client: the reachability probe before an order and ARI.
// acme-client's HTTP layer retries a refused connection five times over 75 s (timers that outlive a
// gateway's shutdown) and then fails with a TypeError that names nothing. Rampart has its own backoff
// for an unreachable server (tls.acme.retry), so these requests fail fast, with the reason.
import http from "node:http";
import https from "node:https";

let httpsAgent: https.Agent | undefined;

/** The agent that trusts tls.acme.caFile (AcmeAccount.trustCa); the default one otherwise. */
export function setAcmeHttpsAgent(agent: https.Agent): void {
  httpsAgent = agent;
}

export interface JsonResponse {
  readonly status: number;
  readonly body: unknown;
}

/** GET `url` and parse its JSON body (undefined when it is not JSON); rejects on a network error or after `timeoutMs`. */
export function getJson(url: string, timeoutMs: number): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const secure = url.startsWith("https:");
    const options = { agent: secure ? httpsAgent : undefined, timeout: timeoutMs, headers: { accept: "application/json" } };
    const req = (secure ? https : http).get(url, options, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("error", reject);
      res.on("end", () => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/** Throws a clear error unless the ACME directory answers 200 with JSON. */
export async function probeDirectory(directoryUrl: string, timeoutMs = 10_000): Promise<void> {
  let response: JsonResponse;
  try {
    response = await getJson(directoryUrl, timeoutMs);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`ACME directory ${directoryUrl} unreachable: ${reason}`, { cause: error });
  }
  if (response.status !== 200 || typeof response.body !== "object" || response.body === null) {
    throw new Error(`ACME directory ${directoryUrl} answered HTTP ${response.status}${response.status === 200 ? " without a JSON directory" : ""}`);
  }
}

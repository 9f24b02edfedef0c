// One JSON POST to a DNS API (httpreq, acme-dns): 2xx or a coded error that names the URL (without
// credentials) and the status; the body is quoted briefly, since APIs put the reason there.
import { DnsChallengeError } from "./dns-errors.js";

const API_TIMEOUT_MS = 30_000;

export async function postJson(url: string, body: unknown, headers: Readonly<Record<string, string>>): Promise<void> {
  // fetch refuses a URL with credentials in it: they become basic authentication unless some is set already.
  const parsed = new URL(url);
  const fromUrl = basicAuth(decodeURIComponent(parsed.username), decodeURIComponent(parsed.password));
  parsed.username = "";
  parsed.password = "";
  const shown = parsed.toString();
  let response: Response;
  try {
    response = await fetch(shown, {
      method: "POST",
      headers: { "content-type": "application/json", ...fromUrl, ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(API_TIMEOUT_MS),
    });
  } catch (error) {
    const reason = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
    throw new DnsChallengeError("DNS_API_FAILED", `POST ${shown}: ${reason}`, { cause: error });
  }
  const text = await response.text().catch(() => "");
  if (!response.ok) throw new DnsChallengeError("DNS_API_FAILED", `POST ${shown} answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ""}`);
}

/** Basic authentication, when a username or password is configured. */
export function basicAuth(username: string, password: string): Record<string, string> {
  return username === "" && password === "" ? {} : { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` };
}

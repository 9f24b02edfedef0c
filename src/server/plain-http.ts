// What the HTTP listener does with a request: ACME HTTP-01 answers under /.well-known/acme-challenge/
// (reserved even when nothing is pending, so no route can shadow it), and a 308 to HTTPS for the rest,
// unless tls.redirectHttp is off (Rampart behind another TLS terminator), then the routes serve it.
import type { IncomingMessage, ServerResponse } from "node:http";
import { replies, writeAnswer } from "../pipeline/answers.js";
import { requestIdOf } from "../proxy/request-id.js";
import { normalizeHost } from "../routing/host.js";

export const ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/";

/** Answers HTTP-01 key authorizations from the shared store, whichever instance created them. */
export interface ChallengeResponder {
  keyAuthorization(token: string): Promise<string | undefined>;
}

export interface PlainHttpOptions {
  readonly redirect: () => boolean;
  readonly httpsPort: () => number;
  readonly challenges: () => ChallengeResponder | undefined;
  readonly serve: (req: IncomingMessage, res: ServerResponse) => void;
}

export function plainHttpHandler(options: PlainHttpOptions) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? "/";
    if (url.startsWith(ACME_CHALLENGE_PREFIX)) {
      const requestId = requestIdOf(req);
      res.setHeader("x-request-id", requestId);
      const token = url.slice(ACME_CHALLENGE_PREFIX.length).split("?")[0] ?? "";
      const responder = options.challenges();
      if (responder === undefined || !/^[A-Za-z0-9_-]+$/.test(token)) return writeAnswer(res, replies.noChallenge, requestId);
      responder.keyAuthorization(token).then(
        (keyAuthorization) => {
          if (keyAuthorization === undefined) return writeAnswer(res, replies.noChallenge, requestId);
          res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(keyAuthorization) }).end(keyAuthorization);
        },
        () => writeAnswer(res, replies.storeUnavailable, requestId),
      );
      return;
    }
    // Served requests get their id from the pipeline's first stage; only answers given here need one now.
    if (!options.redirect()) return options.serve(req, res);
    const requestId = requestIdOf(req);
    res.setHeader("x-request-id", requestId);

    const host = normalizeHost(req.headers.host);
    if (host === undefined || host === "" || !url.startsWith("/")) return writeAnswer(res, replies.badRequest, requestId);
    const port = options.httpsPort();
    const location = `https://${host}${port === 443 ? "" : `:${port}`}${url}`;
    res.writeHead(308, { location, "content-length": 0 }).end();
  };
}

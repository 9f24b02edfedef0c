// The one shape of Rampart's failures: an Error with a stable `code` that logs, the CLI and the admin API
// show and that callers branch on (Fastify's FST_ERR_* codes), the message saying the rest. Each area
// declares its own codes: GatewayError (the request path), ListenError (startup), DnsChallengeError (ACME).
export class CodedError<Code extends string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

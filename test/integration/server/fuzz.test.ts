// Property-based fuzzing of the plain HTTP listener (routes served on HTTP: tls.redirectHttp false) with
// fast-check, over raw TCP: odd methods, targets, versions, header blocks and body framings, each on a
// fresh connection. For every generated request:
// - an answer or a close comes within DEADLINE_MS (Node's own timeouts are set to 1 s, so even a request
//   whose body never finishes must be answered 408 or closed by then);
// - whatever comes back parses as HTTP/1.1 responses (status line, header lines, framing, nothing after);
// - nothing the backend did not produce is a 5xx, or anything but a 4xx (the backend only answers 200);
// - every final response carries X-Request-Id; the gateway's own 4xx are its JSON error with that id;
// - a request the gateway refused (its own 4xx) never reached the backend, unless the refusal could only
//   come after the headers went upstream (bad chunk, body that never finishes, 408);
// - a request with a syntactically valid request line and one valid Host is always answered, never
//   dropped by a bare close (bare closes of garbage are recorded and printed);
// - what the backend receives is what the README promises: a normalised path, no hop-by-hop headers,
//   never a smuggled request, never an absolute-form request for a host no route names, never a request
//   whose header lines Node dropped past its 2,000th, and the same X-Request-Id the client got;
// - the gateway still answers an ordinary GET afterwards.
// Seed and run count are fixed (RAMPART_FUZZ_SEED / RAMPART_FUZZ_RUNS override them to explore).
import assert from "node:assert/strict";
import type http from "node:http";
import net from "node:net";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { startBackend, type Backend } from "../../helpers/backend.js";
import { request } from "../../helpers/client.js";
import { startGateway, type TestGateway } from "../../helpers/gateway.js";

const SEED = Number(process.env.RAMPART_FUZZ_SEED ?? 424_242);
const NUM_RUNS = Number(process.env.RAMPART_FUZZ_RUNS ?? 300);
/** Longest wait for an answer or a close: Node's headersTimeout/requestTimeout (1 s) plus slack. */
const DEADLINE_MS = 3_000;
/** Quiet time after a complete response before the exchange is over (catches stray extra bytes). */
const SETTLE_MS = 25;
/** How long an Expect: 100-continue client holds its body back waiting for "100 Continue" (curl: 1 s). */
const CONTINUE_WAIT_MS = 500;
/** The one host a route names explicitly: absolute-form targets for it are served, others are 421. */
const NAMED_HOST = "fuzz.example";

// ---------------------------------------------------------------------------------------------------
// The generated request. Strings are raw bytes (latin1): unicode is pre-encoded as UTF-8 by utf8().

type TargetForm = "origin" | "absolute" | "asterisk" | "authority" | "other";

interface Target {
  readonly text: string;
  readonly form: TargetForm;
}

interface HeaderItem {
  readonly label: string;
  /** Field lines; a line starting with SP or HTAB is an obs-fold continuation of the one before. */
  readonly lines: readonly string[];
}

interface HostSpec {
  readonly label: string;
  readonly lines: readonly string[];
  /** Exactly one Host field line whose value is a valid host[:port]. */
  readonly valid: boolean;
}

type Body =
  | { readonly kind: "none" }
  /** `embed`: the body carries a whole request (opaque data, which the backend must never parse as one). */
  | { readonly kind: "cl"; readonly data: string; readonly embed: boolean }
  /** Content-Length shorter than what follows: the rest is a second (garbage) request. */
  | { readonly kind: "cl-short"; readonly data: string; readonly extra: string }
  /** Content-Length promises more than is ever sent. */
  | { readonly kind: "cl-incomplete"; readonly data: string; readonly missing: number }
  /** Invalid Content-Length; the body is a smuggled request. */
  | { readonly kind: "cl-bad"; readonly value: string }
  /** Two different Content-Lengths (0 and the smuggled request's length). */
  | { readonly kind: "cl-conflict"; readonly zeroFirst: boolean }
  /** Transfer-Encoding and Content-Length together; "0" chunk then a smuggled request. */
  | { readonly kind: "te-cl"; readonly te: string; readonly clFirst: boolean }
  /** Transfer-Encoding whose final coding is not chunked; the body is a smuggled request. */
  | { readonly kind: "te-other"; readonly te: string }
  | { readonly kind: "chunked"; readonly chunks: readonly string[]; readonly ext: boolean; readonly trailer: boolean; readonly embed: boolean }
  /** A bad chunk after `chunks`, then a smuggled request. */
  | { readonly kind: "chunked-bad"; readonly chunks: readonly string[]; readonly bad: string }
  /** A chunk that never ends. */
  | { readonly kind: "chunked-incomplete"; readonly data: string };

interface FuzzCase {
  readonly method: string;
  readonly sep: string;
  readonly target: Target;
  /** "" leaves the version out (an HTTP/0.9-style request line). */
  readonly version: string;
  readonly eol: string;
  readonly host: HostSpec;
  readonly hostAt: number;
  readonly extras: readonly HeaderItem[];
  readonly body: Body;
  /** Expect: 100-continue: "send" writes the body at once, "wait" holds it until "100 Continue". */
  readonly expect: "none" | "send" | "wait";
  /** The backend answers before reading the body. */
  readonly early: boolean;
}

const utf8 = (text: string): string => Buffer.from(text, "utf8").toString("latin1");

const SMUGGLED_SUFFIX = "-smuggled";
const smuggledRequest = (id: string): string => `GET /smuggled HTTP/1.1\r\nHost: ${NAMED_HOST}\r\nx-fuzz-id: ${id}${SMUGGLED_SUFFIX}\r\n\r\n`;

// --- arbitraries -----------------------------------------------------------------------------------

const KNOWN_METHODS = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"] as const;

const methodArb = fc.oneof(
  { weight: 26, arbitrary: fc.constantFrom(...KNOWN_METHODS.slice(0, 7)) },
  { weight: 4, arbitrary: fc.constantFrom("TRACE", "CONNECT") },
  { weight: 1, arbitrary: fc.constantFrom(...KNOWN_METHODS.map((m) => m.toLowerCase())) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("FOO", "M-SEARCH", "PROPFIND", "PURGE", "BREW", "G@T", "GE/T", "", "GET\u0000", "G\u0001T", utf8("GÉT"), "X".repeat(300)),
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,10}$/) },
);

const segmentArb = fc.oneof(
  { weight: 16, arbitrary: fc.stringMatching(/^[a-z0-9._~-]{1,8}$/) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "a", "..", ".", "%2e%2e", "%2E%2e", "%2e", ".%2e", "%2e.", "%2f", "%2F..", "%5c", "%5C..", "%00", "%41", "%7e", "%7E",
      "%zz", "%", "%2", "\\", "..\\", "\\..", "", "a;b", ";x=..", "~u", "*", "@", "%20", "%ff", "{x}", "|^`",
      utf8("ü"), utf8("日本"), utf8("\u202e"), "\u00ff", "\u0001", "\u007f", "\t", " ", "\u0000",
    ),
  },
);

const queryArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("", "?x=1") },
  { weight: 1, arbitrary: fc.constantFrom( "?a=%00", "?/../..", "?q=" + "q".repeat(50), "?\u0001", "?a=b#frag", "#frag", "?") },
);

const pathArb = fc
  .tuple(fc.array(segmentArb, { maxLength: 6 }), fc.boolean(), queryArb)
  .map(([segments, trailing, query]) => "/" + segments.join("/") + (trailing && segments.length > 0 ? "/" : "") + query);

const originArb: fc.Arbitrary<Target> = fc.oneof(
  { weight: 10, arbitrary: pathArb.map((text) => ({ text, form: "origin" as const })) },
  { weight: 1, arbitrary: pathArb.map((text) => ({ text: "/" + text, form: "origin" as const })) },
);

const absoluteArb: fc.Arbitrary<Target> = fc
  .tuple(
    fc.constantFrom("http", "https", "HTTP", "ftp", "h\u0001ttp"),
    fc.constantFrom(NAMED_HOST, NAMED_HOST.toUpperCase(), `${NAMED_HOST}:80`, `${NAMED_HOST}.`, "other.example", "127.0.0.1", "[::1]", `user@${NAMED_HOST}`, "", `${NAMED_HOST}:x`),
    fc.oneof(pathArb, fc.constantFrom("", "?x=1")),
  )
  .map(([scheme, authority, rest]) => ({ text: `${scheme}://${authority}${rest}`, form: "absolute" as const }));

const longTargetArb: fc.Arbitrary<Target> = fc
  .constantFrom("/" + "a".repeat(1_000), "/" + "a".repeat(8_000), "/" + "a".repeat(17_000), "/%2e%2e".repeat(600), "/a/..".repeat(1_000), "/" + "a/".repeat(3_000))
  .map((text) => ({ text, form: "origin" as const }));

const targetArb: fc.Arbitrary<Target> = fc.oneof(
  { weight: 24, arbitrary: originArb },
  { weight: 3, arbitrary: absoluteArb },
  { weight: 1, arbitrary: fc.constant({ text: "*", form: "asterisk" as const }) },
  { weight: 1, arbitrary: fc.constantFrom(`${NAMED_HOST}:443`, "other.example:80", "127.0.0.1:22").map((text) => ({ text, form: "authority" as const })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom("", "no-slash", "?x=1", "#frag", "\\a", "\\\\evil.example\\x", "a b", "/a b", "/\r", utf8("/ü"), "//evil.example/x")
      .map((text) => ({ text, form: text.startsWith("/") ? ("origin" as const) : ("other" as const) })),
  },
  { weight: 1, arbitrary: longTargetArb },
);

const versionArb = fc.oneof(
  { weight: 30, arbitrary: fc.constant("HTTP/1.1") },
  { weight: 4, arbitrary: fc.constant("HTTP/1.0") },
  { weight: 2, arbitrary: fc.constantFrom("HTTP/2.0", "HTTP/0.9", "HTTP/1.2", "HTTP/3", "http/1.1", "HTTP/11", "HTTP/1.1 ", "HTTP/1.1x", "XYZ", "", "HTTP/9.9", "HTTP/1.\u0001") },
);

const sepArb = fc.oneof({ weight: 20, arbitrary: fc.constant(" ") }, { weight: 1, arbitrary: fc.constantFrom("  ", "\t", " \t") });
const eolArb = fc.oneof({ weight: 24, arbitrary: fc.constant("\r\n") }, { weight: 1, arbitrary: fc.constantFrom("\n", "\r", "\r\r\n") });

const GOOD_HOSTS = [NAMED_HOST, "localhost", "127.0.0.1", "FUZZ.EXAMPLE.", `${NAMED_HOST}:8080`, "[::1]", "[::1]:80", "a-b.example"] as const;
const goodHostArb = fc.constantFrom(...GOOD_HOSTS);
const hostArb: fc.Arbitrary<HostSpec> = fc.oneof(
  { weight: 40, arbitrary: goodHostArb.map((host) => ({ label: "one", lines: [`Host: ${host}`], valid: true })) },
  { weight: 1, arbitrary: goodHostArb.map((host) => ({ label: "odd-case", lines: [`hOsT:${host}`], valid: true })) },
  { weight: 2, arbitrary: fc.constant({ label: "missing", lines: [], valid: false }) },
  { weight: 1, arbitrary: goodHostArb.map((host) => ({ label: "duplicate-same", lines: [`Host: ${host}`, `Host: ${host}`], valid: false })) },
  { weight: 1, arbitrary: fc.tuple(goodHostArb, goodHostArb).map(([a, b]) => ({ label: "duplicate-different", lines: [`Host: ${a}`, `host: ${b}`], valid: false })) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom("a b", "a@b", "a/b", "a:port", "a:99999x", utf8("ü.example"), "[::1", "a\u0001b", "a\u0000b", "\u00ff")
      .map((host) => ({ label: "invalid", lines: [`Host: ${host}`], valid: false })),
  },
  { weight: 1, arbitrary: goodHostArb.map((host) => ({ label: "space-before-colon", lines: [`Host : ${host}`], valid: false })) },
  { weight: 1, arbitrary: goodHostArb.map((host) => ({ label: "folded", lines: ["Host:", ` ${host}`], valid: false })) },
);

const item = (label: string, ...lines: string[]): HeaderItem => ({ label, lines });

const RESERVED_NAMES = new Set(["host", "content-length", "transfer-encoding", "x-fuzz-id", "x-fuzz-early", "connection", "upgrade", "expect", "te", "keep-alive", "trailer"]);

const headerItemArb: fc.Arbitrary<HeaderItem> = fc.oneof(
  {
    weight: 14,
    arbitrary: fc
      .tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/), fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,30}[\x21-\x7e])?$/))
      .filter(([name]) => !RESERVED_NAMES.has(name) && !name.startsWith("proxy-") && name !== "x-request-id")
      .map(([name, value]) => item("valid", `${name}: ${value}`)),
  },
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      item("valid", "Accept: */*"),
      item("valid", "User-Agent: fuzz/1.0"),
      item("valid", "Cookie: a=b; c=d"),
      item("valid", "Authorization: Bearer abc"),
      item("valid", "X-Forwarded-For: 10.9.8.7"),
      item("valid", "Forwarded: for=10.0.0.1"),
      item("valid", utf8("X-Obs-Text: café")),
      item("valid", "Content-Type: application/json"),
      item("request-id", "X-Request-Id: fuzz-trace.1"),
      item("request-id", "X-Request-Id: not valid"),
      item("request-id", "X-Request-Id: " + "r".repeat(129)),
      item("request-id", "X-Request-Id: a\u0001b"),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      item("hop", "Connection: close"),
      item("hop", "Connection: keep-alive"),
      item("hop", "Connection: close, x-drop-me", "x-drop-me: 1"),
      item("hop", "Connection: keep-alive, TE", "TE: trailers"),
      item("hop", "Keep-Alive: timeout=5"),
      item("hop", "TE: trailers"),
      item("hop", "Trailer: x-t"),
      item("hop", "Proxy-Authorization: Basic eDp5"),
      item("hop", "Proxy-Connection: keep-alive"),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      item("bad-name", "bad name: x"),
      item("bad-name", "bad\u0001name: x"),
      item("bad-name", utf8("näme: x")),
      item("bad-name", ": novalue"),
      item("bad-name", "no-colon-at-all"),
      item("bad-name", "(x): y"),
      item("bad-name", "x\ty: z"),
      item("bad-name", "x-space : y"),
      item("bad-name", "x\u0000y: z"),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      item("bad-value", "x-ctl: a\u0000b"),
      item("bad-value", "x-ctl: a\u0001b"),
      item("bad-value", "x-del: a\u007fb"),
      item("bad-value", "x-cr: a\rb"),
      item("bad-value", "x-esc: \u001b[31m"),
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(item("obs-fold", "x-fold: a", " continued"), item("obs-fold", "x-fold: a", "\tcontinued"), item("obs-fold", " leading-fold: x")) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      item("upgrade", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__"),
      item("upgrade", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"),
      item("upgrade", "Connection: Upgrade", "Upgrade: websocket"),
      item("upgrade", "Upgrade: websocket"),
      item("upgrade", "Connection: Upgrade", "Upgrade: garbage/\u0001"),
      item("upgrade", "Connection: Upgrade", "Upgrade: TLS/1.0"),
      item("upgrade", "Connection: Upgrade", "Upgrade: h2c, websocket"),
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(item("expect", "Expect: 100-CONTINUE"), item("expect", "Expect: garbage"), item("expect", "Expect: 200-ok"), item("expect", "Expect:")) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(30, 99, 100, 101, 300, 1_999, 2_001, 2_100).map((count) => ({ label: `many-${count}`, lines: Array.from({ length: count }, () => "a:1") })),
  },
  { weight: 1, arbitrary: fc.constantFrom(4_000, 17_000).map((size) => item(`long-value-${size}`, "x-long: " + "v".repeat(size))) },
);

const dataArb = (minLength: number) => fc.string({ unit: "binary-ascii", minLength, maxLength: 48 });

const bodyArb: fc.Arbitrary<Body> = fc.oneof(
  { weight: 36, arbitrary: fc.constant({ kind: "none" as const }) },
  { weight: 6, arbitrary: fc.tuple(dataArb(0), fc.boolean()).map(([data, embed]) => ({ kind: "cl" as const, data, embed })) },
  { weight: 2, arbitrary: fc.tuple(dataArb(0), dataArb(1)).map(([data, extra]) => ({ kind: "cl-short" as const, data, extra })) },
  { weight: 1, arbitrary: fc.tuple(dataArb(0), fc.integer({ min: 1, max: 100 })).map(([data, missing]) => ({ kind: "cl-incomplete" as const, data, missing })) },
  {
    weight: 2,
    arbitrary: fc.constantFrom("abc", "-1", "1.5", "+5", "5x", "0x5", "99999999999999999999999", "5 5", "").map((value) => ({ kind: "cl-bad" as const, value })),
  },
  { weight: 1, arbitrary: fc.boolean().map((zeroFirst) => ({ kind: "cl-conflict" as const, zeroFirst })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom("chunked", "Chunked", "identity, chunked", "chunked "), fc.boolean())
      .map(([te, clFirst]) => ({ kind: "te-cl" as const, te, clFirst })),
  },
  { weight: 2, arbitrary: fc.constantFrom("gzip", "xchunked", "chunked, gzip", "identity", "chunked, identity", "chunkedx").map((te) => ({ kind: "te-other" as const, te })) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.array(dataArb(1), { maxLength: 3 }), fc.boolean(), fc.boolean(), fc.boolean())
      .map(([chunks, ext, trailer, embed]) => ({ kind: "chunked" as const, chunks, ext, trailer, embed })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.array(dataArb(1), { maxLength: 2 }), fc.constantFrom("zz", "-1", "0x5", "fffffffffffffffffff", "5 5", "", "+5", "3\r\nabcdef"))
      .map(([chunks, bad]) => ({ kind: "chunked-bad" as const, chunks, bad })),
  },
  { weight: 1, arbitrary: dataArb(0).map((data) => ({ kind: "chunked-incomplete" as const, data })) },
);

const caseArb: fc.Arbitrary<FuzzCase> = fc.record({
  method: methodArb,
  sep: sepArb,
  target: targetArb,
  version: versionArb,
  eol: eolArb,
  host: hostArb,
  hostAt: fc.nat({ max: 8 }),
  extras: fc.array(headerItemArb, { maxLength: 3 }),
  body: bodyArb,
  expect: fc.oneof({ weight: 10, arbitrary: fc.constant("none" as const) }, { weight: 1, arbitrary: fc.constantFrom("send" as const, "wait" as const) }),
  early: fc.boolean(),
});

// --- rendering -------------------------------------------------------------------------------------

const chunk = (data: string, ext = false) => `${data.length.toString(16)}${ext ? ";ext=1" : ""}\r\n${data}\r\n`;

/** Header lines and body bytes of a body spec; `id` names the smuggled request some carry. */
function renderBody(body: Body, id: string): { lines: string[]; bytes: string } {
  const smuggled = smuggledRequest(id);
  switch (body.kind) {
    case "none":
      return { lines: [], bytes: "" };
    case "cl": {
      const data = (body.embed ? smuggled : "") + body.data;
      return { lines: [`Content-Length: ${data.length}`], bytes: data };
    }
    case "cl-short":
      return { lines: [`Content-Length: ${body.data.length}`], bytes: body.data + body.extra };
    case "cl-incomplete":
      return { lines: [`Content-Length: ${body.data.length + body.missing}`], bytes: body.data };
    case "cl-bad":
      return { lines: [`Content-Length: ${body.value}`], bytes: smuggled };
    case "cl-conflict": {
      const lines = ["Content-Length: 0", `Content-Length: ${smuggled.length}`];
      return { lines: body.zeroFirst ? lines : lines.reverse(), bytes: smuggled };
    }
    case "te-cl": {
      const bytes = "0\r\n\r\n" + smuggled;
      const lines = [`Transfer-Encoding: ${body.te}`, `Content-Length: ${bytes.length}`];
      return { lines: body.clFirst ? lines.reverse() : lines, bytes };
    }
    case "te-other":
      return { lines: [`Transfer-Encoding: ${body.te}`], bytes: smuggled };
    case "chunked": {
      const chunks = body.embed ? [smuggled, ...body.chunks] : body.chunks;
      return {
        lines: ["Transfer-Encoding: chunked"],
        bytes: chunks.map((data) => chunk(data, body.ext)).join("") + "0\r\n" + (body.trailer ? "x-trailer: 1\r\n" : "") + "\r\n",
      };
    }
    case "chunked-bad":
      return { lines: ["Transfer-Encoding: chunked"], bytes: body.chunks.map((data) => chunk(data)).join("") + `${body.bad}\r\n` + smuggled };
    case "chunked-incomplete":
      return { lines: ["Transfer-Encoding: chunked"], bytes: `${(body.data.length + 10).toString(16)}\r\n${body.data}` };
  }
}

interface Rendered {
  readonly head: string;
  readonly body: string;
  /** Header field lines (obs-fold continuations excluded). */
  readonly fieldLines: readonly string[];
}

function render(c: FuzzCase, id: string): Rendered {
  const requestLine = c.version === "" ? `${c.method}${c.sep}${c.target.text}` : `${c.method}${c.sep}${c.target.text}${c.sep}${c.version}`;
  const extras = c.extras.flatMap((entry) => entry.lines);
  const at = Math.min(c.hostAt, extras.length);
  const body = renderBody(c.body, id);
  const lines = [
    `x-fuzz-id: ${id}`,
    ...(c.early ? ["x-fuzz-early: 1"] : []),
    ...extras.slice(0, at),
    ...c.host.lines,
    ...extras.slice(at),
    ...(c.expect === "none" ? [] : ["Expect: 100-continue"]),
    ...body.lines,
  ];
  const head = requestLine + c.eol + lines.map((line) => line + c.eol).join("") + c.eol;
  return { head, body: body.bytes, fieldLines: lines.filter((line) => !/^[ \t]/.test(line)) };
}

// --- what the request is, syntactically --------------------------------------------------------------

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function targetSyntaxValid(target: string): boolean {
  if (!/^[\x21-\x7e]+$/.test(target)) return false;
  return target.startsWith("/") || /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(target) || target === "*" || /^[A-Za-z0-9.-]+:\d+$/.test(target);
}

/** RFC 9112 §3: method token SP request-target SP HTTP-version CRLF. */
function requestLineValid(c: FuzzCase): boolean {
  return TOKEN.test(c.method) && c.sep === " " && /^HTTP\/\d\.\d$/.test(c.version) && c.eol === "\r\n" && targetSyntaxValid(c.target.text);
}

/** Scheme http(s) and the one host a route names, as the gateway reads an absolute-form target. */
function absoluteNamesRoute(target: string): boolean {
  const match = /^https?:\/\/([^/?#@]+)/i.exec(target);
  if (!match) return false;
  const host = match[1]!.toLowerCase().replace(/:\d{1,5}$/, "").replace(/\.$/, "");
  return host === NAMED_HOST;
}

/** Body kinds whose framing error the gateway can only see after the headers went upstream. */
const MID_BODY_KINDS: ReadonlySet<Body["kind"]> = new Set(["cl-incomplete", "chunked-bad", "chunked-incomplete"]);
/** Host lines RFC 9112 §3.2 says must be answered 400: more than one, or an invalid value (missing: HTTP/1.1 only). */
const MUST_REFUSE_HOSTS: ReadonlySet<string> = new Set(["duplicate-same", "duplicate-different", "invalid", "space-before-colon"]);
/** Body kinds RFC 9112 §6 says must be refused (400) from the headers alone. */
const HEADER_REFUSAL_KINDS: ReadonlySet<Body["kind"]> = new Set(["cl-bad", "cl-conflict", "te-cl", "te-other"]);

// ---------------------------------------------------------------------------------------------------
// A raw exchange: the bytes go out on a fresh connection, responses are parsed as they come in.

interface ParsedResponse {
  readonly statusLine: string;
  readonly status: number;
  readonly headers: ReadonlyMap<string, readonly string[]>;
  readonly body: Buffer;
}

interface Parsed {
  readonly responses: readonly ParsedResponse[];
  /** At least one final response, every response complete, nothing left over. */
  readonly complete: boolean;
  readonly problem: string | undefined;
}

const STATUS_LINE = /^HTTP\/1\.1 ([1-5]\d\d)(?: [\t\x20-\x7e\x80-\xff]*)?$/;
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*$/;

const header = (response: ParsedResponse, name: string): string | undefined => response.headers.get(name)?.join(", ");
const isInterim = (status: number) => status >= 100 && status < 200 && status !== 101;

/** Parses what came back as a sequence of HTTP/1.1 responses; `closed`: the server closed its side. */
function parseResponses(buffer: Buffer, closed: boolean, firstIsHead: boolean): Parsed {
  const responses: ParsedResponse[] = [];
  let offset = 0;
  let finals = 0;
  const incomplete = (what: string): Parsed => ({ responses, complete: false, problem: closed ? `connection closed inside ${what}` : undefined });
  while (offset < buffer.length) {
    const headEnd = buffer.indexOf("\r\n\r\n", offset, "latin1");
    if (finals === 1 && firstIsHead && !buffer.toString("latin1", offset, offset + 5).startsWith("HTTP/".slice(0, buffer.length - offset))) {
      return { responses, complete: false, problem: `content after the response to HEAD: ${JSON.stringify(buffer.subarray(offset, offset + 80).toString("latin1"))}` };
    }
    if (headEnd === -1) {
      const partial = buffer.subarray(offset, offset + 9).toString("latin1");
      if (!"HTTP/1.1 ".startsWith(partial) && !partial.startsWith("HTTP/1.1 ")) {
        return { responses, complete: false, problem: `bytes that are not a response: ${JSON.stringify(buffer.subarray(offset, offset + 80).toString("latin1"))}` };
      }
      return incomplete("a response head");
    }
    const [statusLine = "", ...headerLines] = buffer.subarray(offset, headEnd).toString("latin1").split("\r\n");
    const statusMatch = STATUS_LINE.exec(statusLine);
    if (!statusMatch) return { responses, complete: false, problem: `malformed status line ${JSON.stringify(statusLine.slice(0, 120))}` };
    const headers = new Map<string, string[]>();
    for (const line of headerLines) {
      const match = HEADER_LINE.exec(line);
      if (!match) return { responses, complete: false, problem: `malformed response header line ${JSON.stringify(line.slice(0, 120))}` };
      const name = match[1]!.toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), match[2]!]);
    }
    const status = Number(statusMatch[1]);
    let position = headEnd + 4;
    if (isInterim(status)) {
      responses.push({ statusLine, status, headers, body: Buffer.alloc(0) });
      offset = position;
      continue;
    }
    if (status === 101) {
      // Whatever follows belongs to the upgraded protocol.
      responses.push({ statusLine, status, headers, body: buffer.subarray(position) });
      return { responses, complete: true, problem: undefined };
    }
    const noBody = (finals === 0 && firstIsHead) || status === 204 || status === 304;
    finals++;
    const transferEncoding = headers.get("transfer-encoding")?.join(",").toLowerCase();
    const contentLength = headers.get("content-length");
    let body: Buffer;
    if (noBody) {
      body = Buffer.alloc(0);
    } else if (transferEncoding !== undefined) {
      if (contentLength !== undefined) return { responses, complete: false, problem: "response with both Transfer-Encoding and Content-Length" };
      if (!/(^|,)\s*chunked\s*$/.test(transferEncoding)) return { responses, complete: false, problem: `response Transfer-Encoding ${transferEncoding}` };
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = buffer.indexOf("\r\n", position, "latin1");
        if (lineEnd === -1) return incomplete("a chunked response body");
        const sizeText = buffer.subarray(position, lineEnd).toString("latin1");
        if (!/^[0-9a-fA-F]+(;.*)?$/.test(sizeText)) return { responses, complete: false, problem: `bad chunk size in response: ${JSON.stringify(sizeText)}` };
        const size = parseInt(sizeText, 16);
        position = lineEnd + 2;
        if (size === 0) {
          // Trailer section, up to an empty line.
          for (;;) {
            const trailerEnd = buffer.indexOf("\r\n", position, "latin1");
            if (trailerEnd === -1) return incomplete("a chunked response's trailers");
            const trailer = buffer.subarray(position, trailerEnd).toString("latin1");
            position = trailerEnd + 2;
            if (trailer === "") break;
            if (!HEADER_LINE.test(trailer)) return { responses, complete: false, problem: `malformed trailer ${JSON.stringify(trailer)}` };
          }
          break;
        }
        if (buffer.length < position + size + 2) return incomplete("a response chunk");
        parts.push(buffer.subarray(position, position + size));
        if (buffer.toString("latin1", position + size, position + size + 2) !== "\r\n") return { responses, complete: false, problem: "response chunk not followed by CRLF" };
        position += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (contentLength !== undefined) {
      const text = contentLength.join(",");
      if (!/^\d+$/.test(text)) return { responses, complete: false, problem: `response Content-Length ${JSON.stringify(text)}` };
      const length = Number(text);
      if (buffer.length < position + length) return incomplete("a response body");
      body = buffer.subarray(position, position + length);
      position += length;
    } else {
      // Delimited by the close.
      if (!closed) return { responses, complete: false, problem: undefined };
      body = buffer.subarray(position);
      position = buffer.length;
    }
    responses.push({ statusLine, status, headers, body });
    offset = position;
  }
  return { responses, complete: finals > 0, problem: undefined };
}

interface Outcome extends Parsed {
  readonly raw: Buffer;
  /** The server closed (FIN or reset) before we gave up. */
  readonly closed: boolean;
  readonly timedOut: boolean;
  readonly ms: number;
}

function exchange(port: number, rendered: Rendered, waitForContinue: boolean, firstIsHead: boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    let closed = false;
    let timedOut = false;
    let done = false;
    let bodyDecided = !waitForContinue;
    let settle: NodeJS.Timeout | undefined;
    let continueTimer: NodeJS.Timeout | undefined;
    const socket = net.connect({ port, host: "127.0.0.1" });
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearTimeout(settle);
      clearTimeout(continueTimer);
      socket.destroy();
      const raw = Buffer.concat(chunks);
      resolve({ ...parseResponses(raw, closed, firstIsHead), raw, closed, timedOut, ms: Date.now() - started });
    };
    const deadline = setTimeout(() => {
      timedOut = true;
      finish();
    }, DEADLINE_MS);
    const sendBody = () => {
      if (bodyDecided) return;
      bodyDecided = true;
      if (rendered.body !== "" && socket.writable) socket.write(rendered.body, "latin1");
    };
    socket.setNoDelay(true);
    socket.on("connect", () => {
      socket.write(waitForContinue ? rendered.head : rendered.head + rendered.body, "latin1");
      if (waitForContinue) continueTimer = setTimeout(sendBody, CONTINUE_WAIT_MS);
    });
    socket.on("data", (data: Buffer) => {
      chunks.push(data);
      const parsed = parseResponses(Buffer.concat(chunks), false, firstIsHead);
      if (!bodyDecided) {
        if (parsed.responses.some((response) => response.status === 100)) sendBody();
        // A final answer before "100 Continue": the body is never sent (RFC 9110 §10.1.1).
        else if (parsed.complete) bodyDecided = true;
      }
      clearTimeout(settle);
      if (parsed.complete || parsed.problem !== undefined) settle = setTimeout(finish, SETTLE_MS);
    });
    // A reset is a close too; what was received before it is still judged.
    socket.on("error", () => {});
    socket.on("end", () => {
      closed = true;
      finish();
    });
    socket.on("close", () => {
      closed = true;
      finish();
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// The backend: answers 200 with a JSON echo and x-backend: yes, and records every request by x-fuzz-id.

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

const FUZZ_ID = /^(fz-\d+(-smuggled)?|health-\d+)$/;

class Recorder {
  readonly byId = new Map<string, Seen[]>();
  readonly unattributed: Seen[] = [];

  record(seen: Seen): void {
    const id = seen.headers["x-fuzz-id"];
    if (typeof id !== "string" || !FUZZ_ID.test(id)) {
      this.unattributed.push(seen);
      return;
    }
    this.byId.set(id, [...(this.byId.get(id) ?? []), seen]);
  }

  seen(id: string): readonly Seen[] {
    return this.byId.get(id) ?? [];
  }
}

// ---------------------------------------------------------------------------------------------------
// The checks.

/** README: "%XX escapes of unreserved characters decoded, \ read as /, dot segments removed, duplicate slashes merged", no %00 or controls. */
function upstreamPathProblems(url: string): string[] {
  const query = url.indexOf("?");
  const path = query === -1 ? url : url.slice(0, query);
  const problems: string[] = [];
  if (!path.startsWith("/")) problems.push("does not start with /");
  if (path.includes("//")) problems.push("has //");
  if (path.includes("\\")) problems.push("has a backslash");
  // eslint-disable-next-line no-control-regex -- control characters are what is looked for
  if (/[\x00-\x20\x7f]/.test(path)) problems.push("has a control character or space");
  if (/%00/.test(path)) problems.push("has %00");
  for (const escape of path.match(/%[0-9A-Fa-f]{2}/g) ?? []) {
    if (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(parseInt(escape.slice(1), 16)))) problems.push(`keeps the escape ${escape} of an unreserved character`);
  }
  for (const segment of path.split("/")) {
    if (segment === "." || segment === "..") problems.push(`has a "${segment}" segment`);
  }
  return problems;
}

const HOP_BY_HOP_UPSTREAM = ["keep-alive", "te", "trailer", "proxy-authorization", "proxy-connection", "proxy-authenticate", "expect"];
const PROTECTED_FROM_CONNECTION = new Set(["x-forwarded-for", "x-request-id", "host", "x-fuzz-id"]);

function fieldValues(rendered: Rendered, name: string): string[] {
  const values: string[] = [];
  for (const line of rendered.fieldLines) {
    const colon = line.indexOf(":");
    if (colon > 0 && line.slice(0, colon).toLowerCase() === name) values.push(line.slice(colon + 1).trim());
  }
  return values;
}

interface CaseReport {
  readonly id: string;
  readonly violations: string[];
  readonly bareClose: boolean;
  readonly firstStatus: number | undefined;
  readonly fromBackend: boolean;
}

function checkCase(c: FuzzCase, id: string, rendered: Rendered, outcome: Outcome, recorder: Recorder): CaseReport {
  const violations: string[] = [];
  const finals = outcome.responses.filter((response) => !isInterim(response.status));
  const first = finals[0];
  const seen = recorder.seen(id);
  const lineValid = requestLineValid(c);
  const answerRequired = lineValid && c.host.valid;

  // An answer or a close, in time; whatever came is well-formed HTTP/1.1.
  if (outcome.timedOut && !outcome.complete) {
    violations.push(`no complete response and no close within ${DEADLINE_MS} ms (received ${outcome.raw.length} bytes)`);
  }
  if (outcome.problem !== undefined) violations.push(`malformed response stream: ${outcome.problem}`);
  const bareClose = first === undefined && outcome.closed;
  if (first === undefined && answerRequired && !outcome.timedOut) {
    violations.push("closed without any response, although the request line is valid and it has one valid Host");
  }

  for (const response of finals) {
    const fromBackend = header(response, "x-backend") === "yes";
    const requestId = header(response, "x-request-id");
    if (requestId === undefined || requestId === "") violations.push(`${response.statusLine}: no X-Request-Id`);
    if (!fromBackend) {
      if (response.status >= 500) violations.push(`${response.statusLine}: a 5xx the backend did not produce`);
      else if (response.status < 400) violations.push(`${response.statusLine}: a non-4xx answer the backend did not produce`);
      else if (!(response === first && c.method === "HEAD")) {
        // The gateway's own error answer: {"error": "...", "requestId": "<X-Request-Id>"}.
        let parsed: unknown;
        try {
          parsed = JSON.parse(response.body.toString("utf8"));
        } catch {
          parsed = undefined;
        }
        const error = parsed as { error?: unknown; requestId?: unknown } | undefined;
        if (typeof error?.error !== "string" || error.requestId !== requestId) {
          violations.push(`${response.statusLine}: not the JSON error answer with its X-Request-Id (body ${JSON.stringify(response.body.toString("latin1").slice(0, 100))})`);
        }
      }
    }
  }

  // A request the gateway refused never reached the backend (unless only the body could show it was bad).
  const refusedByGateway = first !== undefined && header(first, "x-backend") !== "yes" && first.status >= 400 && first.status < 500;
  const midBody = MID_BODY_KINDS.has(c.body.kind) || first?.status === 408;
  if (refusedByGateway && !midBody && seen.length > 0) violations.push(`the gateway answered ${first.status} but the backend received the request`);

  // What the backend received.
  if (seen.length > 1) violations.push(`the backend received the request ${seen.length} times`);
  if (recorder.seen(id + SMUGGLED_SUFFIX).length > 0) violations.push("the backend received the request smuggled in the body");
  // Requests that must never be forwarded, whatever else is odd about them.
  const mustRefuse: string[] = [];
  if (HEADER_REFUSAL_KINDS.has(c.body.kind)) mustRefuse.push(`body framing "${c.body.kind}" (RFC 9112 §6.1, §6.3)`);
  if (MUST_REFUSE_HOSTS.has(c.host.label) || (c.host.label === "missing" && c.version === "HTTP/1.1")) mustRefuse.push(`Host "${c.host.label}" (RFC 9112 §3.2)`);
  if (c.extras.some((entry) => entry.label === "bad-name")) mustRefuse.push("a header line that is not a field (RFC 9112 §5)");
  if (lineValid && c.target.form === "absolute" && !absoluteNamesRoute(c.target.text)) mustRefuse.push("an absolute-form target for a host no route names (never an open proxy)");
  if (rendered.fieldLines.length > 2_000) mustRefuse.push(`${rendered.fieldLines.length} header lines (Node drops lines past the 2,000th)`);
  if (mustRefuse.length > 0) {
    if (seen.length > 0) violations.push(`the backend received a request that must be refused: ${mustRefuse.join("; ")}`);
    if (finals.some((response) => header(response, "x-backend") === "yes")) violations.push(`a backend answer came back for a request that must be refused: ${mustRefuse.join("; ")}`);
  }
  const connectionTokens = fieldValues(rendered, "connection").flatMap((value) => value.split(",").map((token) => token.trim().toLowerCase()));
  const webSocket = c.method === "GET" && fieldValues(rendered, "upgrade").join(", ").toLowerCase() === "websocket";
  for (const upstream of seen) {
    for (const problem of upstreamPathProblems(upstream.url)) violations.push(`upstream path ${JSON.stringify(upstream.url.slice(0, 120))} ${problem}`);
    for (const name of HOP_BY_HOP_UPSTREAM) {
      if (upstream.headers[name] !== undefined) violations.push(`hop-by-hop ${name} reached the backend`);
    }
    if (!webSocket && upstream.headers.upgrade !== undefined) violations.push("Upgrade reached the backend on a request that is not a WebSocket handshake");
    for (const token of connectionTokens) {
      if (token === "" || token === "close" || token === "keep-alive" || token === "upgrade" || PROTECTED_FROM_CONNECTION.has(token)) continue;
      if (fieldValues(rendered, token).length > 0 && upstream.headers[token] !== undefined) violations.push(`${token}, named in Connection, reached the backend`);
    }
    if (c.target.form === "absolute" && absoluteNamesRoute(c.target.text)) {
      const host = String(upstream.headers.host ?? "").toLowerCase();
      if (!host.startsWith(NAMED_HOST)) violations.push(`absolute-form target for ${NAMED_HOST} went upstream with Host ${JSON.stringify(host)}`);
    }
  }

  // A backend answer carries the id that went upstream; a well-formed client id is kept.
  if (first !== undefined && header(first, "x-backend") === "yes" && c.method !== "HEAD") {
    const responseId = header(first, "x-request-id");
    let echo: { headers?: Record<string, unknown> } | undefined;
    try {
      echo = JSON.parse(first.body.toString("utf8")) as { headers?: Record<string, unknown> };
    } catch {
      echo = undefined;
    }
    if (echo?.headers?.["x-request-id"] !== responseId) {
      violations.push(`X-Request-Id sent upstream (${String(echo?.headers?.["x-request-id"])}) differs from the one returned (${responseId})`);
    }
    const clientIds = fieldValues(rendered, "x-request-id");
    if (clientIds.length > 0) {
      const clientId = clientIds.join(", ");
      const wellFormed = /^[A-Za-z0-9._:@/+=-]{1,128}$/.test(clientId);
      if (wellFormed && responseId !== clientId) violations.push(`well-formed client X-Request-Id ${clientId} not kept (got ${responseId})`);
      if (!wellFormed && responseId === clientId) violations.push(`malformed client X-Request-Id ${JSON.stringify(clientId)} was kept`);
    }
  }

  return { id, violations, bareClose, firstStatus: first?.status, fromBackend: first !== undefined && header(first, "x-backend") === "yes" };
}

function describeOutcome(outcome: Outcome): string {
  const shown = outcome.raw.toString("latin1");
  return (
    `${outcome.closed ? "closed" : outcome.timedOut ? "timed out" : "still open"} after ${outcome.ms} ms, ${outcome.raw.length} bytes: ` +
    JSON.stringify(shown.length > 600 ? shown.slice(0, 600) + "…" : shown)
  );
}

const shorten = (text: string, max = 700) => JSON.stringify(text.length > max ? text.slice(0, max) + `…(${text.length} bytes)` : text);

// ---------------------------------------------------------------------------------------------------

let backend: Backend;
let gw: TestGateway;
const recorder = new Recorder();

before(async () => {
  backend = await startBackend((req, res) => {
    recorder.record({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    const answer = () => {
      if (res.headersSent || res.destroyed) return;
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "x-backend": "yes" }).end(body);
    };
    req.on("error", () => {});
    if (req.headers["x-fuzz-early"] !== undefined) answer();
    req.on("end", answer);
    req.resume();
  });
  gw = await startGateway({
    services: { app: { targets: [{ url: backend.url }] } },
    routes: [
      { name: "named", match: { host: NAMED_HOST, pathPrefix: "/" }, service: "app" },
      { name: "any", match: { pathPrefix: "/" }, service: "app" },
    ],
    tls: { redirectHttp: false },
    // Node's own parser timeouts, short: a request that never completes is answered (408) well within DEADLINE_MS.
    limits: { headersTimeout: "1s", requestTimeout: "1s" },
  });
});

after(async () => {
  await gw?.close();
  await backend?.close();
});

test(`raw HTTP/1.x fuzzing of the plain listener (fast-check seed ${SEED}, ${NUM_RUNS} runs)`, { timeout: 150_000 }, async () => {
  console.log(`fuzz: seed=${SEED} numRuns=${NUM_RUNS} (RAMPART_FUZZ_SEED / RAMPART_FUZZ_RUNS to change)`);
  const started = Date.now();
  let counter = 0;
  const statuses = new Map<string, number>();
  const bareCloses: string[] = [];
  const refusedIds = new Set<string>();
  const allIds: string[] = [];

  const property = fc.asyncProperty(caseArb, async (c) => {
    const n = ++counter;
    const id = `fz-${n}`;
    allIds.push(id);
    const rendered = render(c, id);
    const outcome = await exchange(gw.httpPort, rendered, c.expect === "wait", c.method === "HEAD");

    // The gateway is still up and serving: an ordinary GET afterwards reaches the backend.
    let health: string | undefined;
    try {
      const res = await request({ port: gw.httpPort, path: "/health-after-case", headers: { host: NAMED_HOST, "x-fuzz-id": `health-${n}` } });
      if (res.status !== 200 || res.headers["x-backend"] !== "yes") health = `an ordinary GET afterwards got ${res.status} ${res.body.slice(0, 120)}`;
    } catch (error) {
      health = `an ordinary GET afterwards failed: ${String(error)}`;
    }

    const report = checkCase(c, id, rendered, outcome, recorder);
    if (health !== undefined) report.violations.push(health);
    const key = report.firstStatus === undefined ? (outcome.timedOut ? "timeout" : "bare close") : `${report.firstStatus}${report.fromBackend ? " backend" : " gateway"}`;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
    if (report.bareClose) bareCloses.push(shorten(rendered.head + rendered.body, 160));
    if (report.firstStatus !== undefined && report.firstStatus >= 400 && !report.fromBackend && !MID_BODY_KINDS.has(c.body.kind) && report.firstStatus !== 408) refusedIds.add(id);

    if (process.env.RAMPART_FUZZ_VERBOSE) console.log(`${id} ${key} ${outcome.ms}ms [lv=${requestLineValid(c)} host=${c.host.label} body=${c.body.kind} extras=${c.extras.map((e) => e.label).join(',')}] ${shorten(rendered.head + rendered.body, 200)}${report.violations.length > 0 ? " VIOLATIONS " + report.violations.join(" | ") : ""}`);
    if (report.violations.length > 0 && !process.env.TMP_COLLECT) {
      throw new Error(
        `${report.violations.map((v) => `- ${v}`).join("\n")}\n` +
          `request (${id}): ${shorten(rendered.head + rendered.body)}\n` +
          `response: ${describeOutcome(outcome)}\n` +
          `backend saw: ${JSON.stringify(recorder.seen(id).map((s) => ({ method: s.method, url: s.url.slice(0, 120) })))}`,
      );
    }
  });

  try {
    await fc.assert(property, { seed: SEED, numRuns: NUM_RUNS, interruptAfterTimeLimit: 100_000, markInterruptAsFailure: true, includeErrorInReport: true });
  } finally {
    console.log(`fuzz: ${counter} requests in ${Date.now() - started} ms; first answers: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    if (bareCloses.length > 0) console.log(`fuzz: ${bareCloses.length} requests got a bare close:\n  ${bareCloses.slice(0, 20).join("\n  ")}`);
  }

  // Sweep once more, after everything settled: a refusal that was still forwarded a moment later, a
  // smuggled request, or a request the backend cannot attribute to any case.
  for (const id of refusedIds) assert.equal(recorder.seen(id).length, 0, `${id} was refused by the gateway but reached the backend later`);
  for (const id of allIds) assert.equal(recorder.seen(id + SMUGGLED_SUFFIX).length, 0, `the request smuggled in ${id} reached the backend`);
  assert.deepEqual(
    recorder.unattributed.map((s) => `${s.method} ${s.url}`),
    [],
    "the backend received requests no case sent (smuggled or re-framed)",
  );
});

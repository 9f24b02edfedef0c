// Reads the server name (SNI) and the offered ALPN protocols out of the first bytes a TLS client
// sends, before any TLS library sees them. Node's SNICallback is told the name but not the ALPN list,
// and TLS-ALPN-01 (RFC 8737) must answer `acme-tls/1` with a different certificate, so the choice is
// made here. Never throws: every length is checked against the bytes actually present.

export interface ClientHello {
  /** The host_name of the server_name extension, lower case; undefined when absent or not a DNS name. */
  readonly serverName: string | undefined;
  /** The application_layer_protocol_negotiation list, in the client's order (empty when absent). */
  readonly alpn: string[];
}

/**
 * The outcome of reading a prefix of a connection: a complete ClientHello; "incomplete" when more bytes
 * could still complete one; "invalid" when no continuation can (not TLS, not a ClientHello, malformed).
 */
export type ClientHelloRead = { readonly status: "complete"; readonly hello: ClientHello } | { readonly status: "incomplete" } | { readonly status: "invalid" };

/** No sane ClientHello is larger (a plaintext record carries at most 2^14 bytes; one is enough in practice). */
export const MAX_CLIENT_HELLO_BYTES = 16 * 1024;

const RECORD_HEADER = 5;
const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const MAX_RECORD_PAYLOAD = 1 << 14;
const EXTENSION_SERVER_NAME = 0;
const EXTENSION_ALPN = 16;
const NAME_TYPE_HOST = 0;
const INCOMPLETE = { status: "incomplete" } as const;
const INVALID = { status: "invalid" } as const;

/** The ClientHello at the start of `data`, or undefined when it is not a complete, well-formed one. */
export function parseClientHello(data: Uint8Array): ClientHello | undefined {
  const read = readClientHello(data);
  return read.status === "complete" ? read.hello : undefined;
}

/**
 * Reads the ClientHello at the start of `data`. The handshake message may be fragmented over several
 * consecutive handshake records (rare); they are reassembled up to MAX_CLIENT_HELLO_BYTES.
 */
export function readClientHello(data: Uint8Array): ClientHelloRead {
  const fragments: Uint8Array[] = [];
  let collected = 0;
  let offset = 0;
  let messageLength: number | undefined;
  for (;;) {
    if (data.length - offset < RECORD_HEADER) {
      // Even a partial header already tells a TLS handshake record from anything else.
      if (offset < data.length && data[offset] !== CONTENT_HANDSHAKE) return INVALID;
      if (data.length - offset >= 2 && data[offset + 1] !== 3) return INVALID;
      return INCOMPLETE;
    }
    const type = data[offset]!;
    const major = data[offset + 1]!;
    const length = (data[offset + 3]! << 8) | data[offset + 4]!;
    if (type !== CONTENT_HANDSHAKE || major !== 3 || length === 0 || length > MAX_RECORD_PAYLOAD) return INVALID;
    if (data.length - offset - RECORD_HEADER < length) return INCOMPLETE;
    const payload = data.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + length);
    offset += RECORD_HEADER + length;
    fragments.push(payload);
    collected += payload.length;
    if (messageLength === undefined) {
      const first = fragments.length === 1 ? payload : concat(fragments, collected);
      if (first.length < 4) continue; // the handshake header itself is split: read the next record
      if (first[0] !== HANDSHAKE_CLIENT_HELLO) return INVALID;
      messageLength = 4 + ((first[1]! << 16) | (first[2]! << 8) | first[3]!);
      if (messageLength > MAX_CLIENT_HELLO_BYTES) return INVALID;
    }
    if (collected >= messageLength) {
      const message = fragments.length === 1 ? payload : concat(fragments, collected);
      const hello = parseBody(message.subarray(4, messageLength));
      return hello === undefined ? INVALID : { status: "complete", hello };
    }
    if (collected > MAX_CLIENT_HELLO_BYTES) return INVALID;
  }
}

/** client_version, random, session_id, cipher_suites, compression_methods, extensions (RFC 8446 4.1.2). */
function parseBody(body: Uint8Array): ClientHello | undefined {
  const reader = new Reader(body);
  if (!reader.skip(2 + 32)) return undefined;
  const sessionId = reader.vector(1);
  if (sessionId === undefined || sessionId.length > 32) return undefined;
  const suites = reader.vector(2);
  if (suites === undefined || suites.length < 2 || suites.length % 2 !== 0) return undefined;
  const compression = reader.vector(1);
  if (compression === undefined || compression.length < 1) return undefined;
  if (reader.remaining === 0) return { serverName: undefined, alpn: [] }; // no extensions at all
  const extensions = reader.vector(2);
  if (extensions === undefined || reader.remaining !== 0) return undefined;

  let serverName: string | undefined;
  let alpn: string[] = [];
  const seen = new Set<number>();
  const list = new Reader(extensions);
  while (list.remaining > 0) {
    const type = list.uint(2);
    const value = list.vector(2);
    if (type === undefined || value === undefined || seen.has(type)) return undefined;
    seen.add(type);
    if (type === EXTENSION_SERVER_NAME) {
      const name = parseServerName(value);
      if (name === null) return undefined;
      serverName = name;
    } else if (type === EXTENSION_ALPN) {
      const protocols = parseAlpn(value);
      if (protocols === undefined) return undefined;
      alpn = protocols;
    }
  }
  return { serverName, alpn };
}

/** RFC 6066 section 3: the host_name entry; null when malformed, undefined when it is no DNS name. */
function parseServerName(value: Uint8Array): string | undefined | null {
  const reader = new Reader(value);
  const names = reader.vector(2);
  if (names === undefined || reader.remaining !== 0 || names.length === 0) return null;
  const list = new Reader(names);
  let host: string | undefined;
  while (list.remaining > 0) {
    const type = list.uint(1);
    const name = list.vector(2);
    if (type === undefined || name === undefined || name.length === 0) return null;
    if (type === NAME_TYPE_HOST && host === undefined) host = hostName(name);
  }
  return host;
}

/** Only a plain ASCII DNS name is used (it becomes a store key); anything else counts as absent. */
function hostName(bytes: Uint8Array): string | undefined {
  if (bytes.length > 254) return undefined;
  const name = String.fromCharCode(...bytes).toLowerCase().replace(/\.$/, "");
  return /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/.test(name) ? name : undefined;
}

/** RFC 7301 section 3.1: a non-empty list of non-empty protocol names. */
function parseAlpn(value: Uint8Array): string[] | undefined {
  const reader = new Reader(value);
  const list = reader.vector(2);
  if (list === undefined || reader.remaining !== 0 || list.length === 0) return undefined;
  const protocols: string[] = [];
  const entries = new Reader(list);
  while (entries.remaining > 0) {
    const protocol = entries.vector(1);
    if (protocol === undefined || protocol.length === 0) return undefined;
    protocols.push(String.fromCharCode(...protocol));
  }
  return protocols;
}

/** A bounds-checked cursor: every read returns undefined instead of running past the end. */
class Reader {
  readonly #bytes: Uint8Array;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  skip(count: number): boolean {
    if (this.remaining < count) return false;
    this.#offset += count;
    return true;
  }

  uint(size: 1 | 2): number | undefined {
    if (this.remaining < size) return undefined;
    const value = size === 1 ? this.#bytes[this.#offset]! : (this.#bytes[this.#offset]! << 8) | this.#bytes[this.#offset + 1]!;
    this.#offset += size;
    return value;
  }

  /** A length-prefixed vector (`size`-byte length). */
  vector(size: 1 | 2): Uint8Array | undefined {
    const length = this.uint(size);
    if (length === undefined || this.remaining < length) return undefined;
    const value = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return value;
  }
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  const joined = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

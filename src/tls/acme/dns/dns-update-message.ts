// The wire format of one DNS UPDATE (RFC 2136) that adds or deletes one TXT record, signed with TSIG
// (RFC 8945), and the check of the server's signed answer. Hand-written because no maintained npm
// library signs TSIG (dns-packet, the common encoder, has neither TSIG nor the NONE class an UPDATE
// deletion needs); the format is small and fixed, and the real check is the test against BIND.
import { createHmac, randomInt, timingSafeEqual } from "node:crypto";

export type TsigAlgorithm = "hmac-sha256" | "hmac-sha384" | "hmac-sha512" | "hmac-sha1" | "hmac-md5";

export interface TsigKey {
  readonly name: string;
  readonly algorithm: TsigAlgorithm;
  /** The shared secret, decoded from base64. */
  readonly secret: Buffer;
}

export interface TxtChange {
  readonly zone: string;
  readonly name: string;
  readonly value: string;
  readonly ttl: number;
  /** add: publish the record; delete: remove exactly this record (class NONE), other TXT values stay. */
  readonly action: "add" | "delete";
}

export interface SignedUpdate {
  readonly id: number;
  readonly message: Buffer;
  /** The request's MAC: the answer's MAC covers it (RFC 8945 §5.3). */
  readonly mac: Buffer;
}

export interface UpdateAnswer {
  /** RFC 1035/2136 response code name (NOERROR, NOTAUTH, REFUSED, ...). */
  readonly rcode: string;
  /** The TSIG error the server reported (BADSIG, BADKEY, BADTIME), or undefined. */
  readonly tsigError: string | undefined;
  /** True when the answer carried a TSIG record whose MAC verified with the key. */
  readonly verified: boolean;
}

const TYPE_SOA = 6;
const TYPE_TXT = 16;
const TYPE_TSIG = 250;
const CLASS_IN = 1;
const CLASS_NONE = 254;
const CLASS_ANY = 255;
const OPCODE_UPDATE = 5;
/** Seconds of clock difference the server tolerates (RFC 8945 recommends 300). */
const FUDGE = 300;

const HASHES: Readonly<Record<TsigAlgorithm, string>> = { "hmac-sha256": "sha256", "hmac-sha384": "sha384", "hmac-sha512": "sha512", "hmac-sha1": "sha1", "hmac-md5": "md5" };
/** hmac-md5 keeps its historical name (RFC 8945 §6). */
const ALGORITHM_NAMES: Readonly<Record<TsigAlgorithm, string>> = {
  "hmac-sha256": "hmac-sha256.",
  "hmac-sha384": "hmac-sha384.",
  "hmac-sha512": "hmac-sha512.",
  "hmac-sha1": "hmac-sha1.",
  "hmac-md5": "hmac-md5.sig-alg.reg.int.",
};
const RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"];
const TSIG_ERRORS: Readonly<Record<number, string>> = { 16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 22: "BADTRUNC" };

/** The UPDATE for `change`, signed with `key` at `now` (seconds since the epoch). */
export function signedUpdate(change: TxtChange, key: TsigKey, now = Math.floor(Date.now() / 1000)): SignedUpdate {
  const id = randomInt(0, 0x10000);
  const unsigned = Buffer.concat([
    header(id, OPCODE_UPDATE << 11, [1, 0, 1, 0]),
    encodeName(change.zone),
    u16(TYPE_SOA),
    u16(CLASS_IN),
    encodeName(change.name),
    u16(TYPE_TXT),
    u16(change.action === "add" ? CLASS_IN : CLASS_NONE),
    u32(change.action === "add" ? change.ttl : 0),
    withLength(txtData(change.value)),
  ]);
  const time = timeSigned(now);
  const mac = hmac(key, [unsigned, tsigVariables(key, time, 0, Buffer.alloc(0))]);
  const tsig = tsigRecord(key, time, mac, id);
  const message = Buffer.concat([unsigned, tsig]);
  message.writeUInt16BE(1, 10); // ARCOUNT: the TSIG record
  return { id, message, mac };
}

/** Reads the server's answer to `request`: its response code and whether its TSIG signature verifies. */
export function readAnswer(answer: Buffer, request: SignedUpdate, key: TsigKey): UpdateAnswer {
  if (answer.length < 12) throw new Error("a DNS answer shorter than its header");
  if (answer.readUInt16BE(0) !== request.id) throw new Error("a DNS answer to another query");
  const rcode = RCODES[answer.readUInt16BE(2) & 0xf] ?? `RCODE${answer.readUInt16BE(2) & 0xf}`;
  const tsig = findTsig(answer);
  if (tsig === undefined) return { rcode, tsigError: undefined, verified: false };
  const tsigError = tsig.error === 0 ? undefined : (TSIG_ERRORS[tsig.error] ?? `TSIG error ${tsig.error}`);
  if (tsig.mac.length === 0) return { rcode, tsigError, verified: false };
  const unsigned = Buffer.from(answer.subarray(0, tsig.start));
  unsigned.writeUInt16BE(tsig.originalId, 0);
  unsigned.writeUInt16BE(answer.readUInt16BE(10) - 1, 10);
  const expected = hmac(key, [u16(request.mac.length), request.mac, unsigned, tsigVariables(key, tsig.time, tsig.error, tsig.other)]);
  const verified = expected.length === tsig.mac.length && timingSafeEqual(expected, tsig.mac);
  return { rcode, tsigError, verified };
}

/** A name in wire format, uncompressed and lowercased (TSIG's canonical form; DNS ignores case). */
export function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, "").split(".").filter((label) => label !== "");
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label.toLowerCase(), "ascii");
    if (bytes.length > 63) throw new Error(`DNS label longer than 63 bytes in "${name}"`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

interface TsigFound {
  readonly start: number;
  readonly time: Buffer;
  readonly mac: Buffer;
  readonly originalId: number;
  readonly error: number;
  readonly other: Buffer;
}

/** The TSIG record, which RFC 8945 requires to be the last additional record. */
function findTsig(message: Buffer): TsigFound | undefined {
  const counts = [4, 6, 8, 10].map((at) => message.readUInt16BE(at));
  let offset = 12;
  for (let i = 0; i < counts[0]!; i++) offset = skipName(message, offset) + 4;
  const records = counts[1]! + counts[2]! + counts[3]!;
  for (let i = 0; i < records; i++) {
    const start = offset;
    offset = skipName(message, offset);
    const type = message.readUInt16BE(offset);
    const length = message.readUInt16BE(offset + 8);
    const data = offset + 10;
    offset = data + length;
    if (type !== TYPE_TSIG || i !== records - 1) continue;
    let at = skipName(message, data); // algorithm name
    const time = message.subarray(at, at + 6);
    const macLength = message.readUInt16BE(at + 8);
    at += 10;
    const mac = message.subarray(at, at + macLength);
    at += macLength;
    const otherLength = message.readUInt16BE(at + 4);
    return { start, time, mac, originalId: message.readUInt16BE(at), error: message.readUInt16BE(at + 2), other: message.subarray(at + 6, at + 6 + otherLength) };
  }
  return undefined;
}

function skipName(message: Buffer, offset: number): number {
  for (;;) {
    const length = message[offset];
    if (length === undefined) throw new Error("a DNS name runs past the end of the answer");
    if (length === 0) return offset + 1;
    if ((length & 0xc0) === 0xc0) return offset + 2; // a compression pointer ends the name
    offset += length + 1;
  }
}

function header(id: number, flags: number, counts: readonly number[]): Buffer {
  const buffer = Buffer.alloc(12);
  buffer.writeUInt16BE(id, 0);
  buffer.writeUInt16BE(flags, 2);
  counts.forEach((count, index) => buffer.writeUInt16BE(count, 4 + index * 2));
  return buffer;
}

/** TXT RDATA: the value as <character-string>s of at most 255 bytes. */
function txtData(value: string): Buffer {
  const bytes = Buffer.from(value, "utf8");
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length || at === 0; at += 255) {
    const chunk = bytes.subarray(at, at + 255);
    parts.push(Buffer.from([chunk.length]), chunk);
  }
  return Buffer.concat(parts);
}

function timeSigned(seconds: number): Buffer {
  const buffer = Buffer.alloc(6);
  buffer.writeUIntBE(seconds, 0, 6);
  return buffer;
}

/** What the MAC covers after the message (RFC 8945 §4.3.3): the TSIG record without MAC, size and original id. */
function tsigVariables(key: TsigKey, time: Buffer, error: number, other: Buffer): Buffer {
  return Buffer.concat([encodeName(key.name), u16(CLASS_ANY), u32(0), encodeName(ALGORITHM_NAMES[key.algorithm]), time, u16(FUDGE), u16(error), u16(other.length), other]);
}

function tsigRecord(key: TsigKey, time: Buffer, mac: Buffer, id: number): Buffer {
  const data = Buffer.concat([encodeName(ALGORITHM_NAMES[key.algorithm]), time, u16(FUDGE), u16(mac.length), mac, u16(id), u16(0), u16(0)]);
  return Buffer.concat([encodeName(key.name), u16(TYPE_TSIG), u16(CLASS_ANY), u32(0), withLength(data)]);
}

function hmac(key: TsigKey, parts: readonly Buffer[]): Buffer {
  const mac = createHmac(HASHES[key.algorithm], key.secret);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

function withLength(data: Buffer): Buffer {
  return Buffer.concat([u16(data.length), data]);
}

function u16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeUInt16BE(value);
  return buffer;
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
}

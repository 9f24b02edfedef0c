// The ClientHello reader behind TLS-ALPN-01: real ClientHellos captured from node's TLS client (what a
// plain TCP server receives first), every truncation, fragmentation over records, and garbage — which
// must give undefined, never an exception.
import assert from "node:assert/strict";
import net, { type AddressInfo } from "node:net";
import { before, describe, test } from "node:test";
import tls from "node:tls";
import { parseClientHello, readClientHello } from "../../../src/tls/acme/client-hello.js";

/** The first TLS record a real `tls.connect` sends (its ClientHello), as a plain TCP server sees it. */
async function captureClientHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const captured = new Promise<Buffer>((resolve, reject) => {
    server.once("connection", (socket) => {
      const chunks: Buffer[] = [];
      socket.on("error", reject);
      socket.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        const bytes = Buffer.concat(chunks);
        if (bytes.length >= 5 && bytes.length >= 5 + bytes.readUInt16BE(3)) {
          resolve(bytes);
          socket.destroy();
        }
      });
    });
  });
  const client = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...options });
  client.on("error", () => {}); // the server hangs up on it
  try {
    return await captured;
  } finally {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** One TLS handshake record around `message`. */
function record(message: Buffer, version = 0x0301): Buffer {
  const header = Buffer.alloc(5);
  header[0] = 22;
  header.writeUInt16BE(version, 1);
  header.writeUInt16BE(message.length, 3);
  return Buffer.concat([header, message]);
}

function vector(lengthBytes: 1 | 2, body: Buffer): Buffer {
  const length = Buffer.alloc(lengthBytes);
  if (lengthBytes === 1) length[0] = body.length;
  else length.writeUInt16BE(body.length);
  return Buffer.concat([length, body]);
}

function extension(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(2);
  header.writeUInt16BE(type);
  return Buffer.concat([header, vector(2, body)]);
}

function sni(name: Buffer): Buffer {
  return extension(0, vector(2, Buffer.concat([Buffer.from([0]), vector(2, name)])));
}

function alpn(protocols: string[]): Buffer {
  return extension(16, vector(2, Buffer.concat(protocols.map((protocol) => vector(1, Buffer.from(protocol))))));
}

/** A hand-built ClientHello message (handshake header included); `extensions` undefined leaves the block out. */
function clientHelloMessage(extensions: Buffer[] | undefined): Buffer {
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 7),
    vector(1, Buffer.alloc(32, 1)),
    vector(2, Buffer.from([0x13, 0x01, 0x13, 0x02])),
    vector(1, Buffer.from([0])),
    ...(extensions === undefined ? [] : [vector(2, Buffer.concat(extensions))]),
  ]);
  const header = Buffer.from([1, 0, 0, 0]);
  header.writeUIntBE(body.length, 1, 3);
  return Buffer.concat([header, body]);
}

describe("parseClientHello with real ClientHellos", () => {
  let acme: Buffer;
  let browserLike: Buffer;
  let noSni: Buffer;
  let tls12: Buffer;

  before(async () => {
    acme = await captureClientHello({ servername: "alpn.test", ALPNProtocols: ["acme-tls/1"] });
    browserLike = await captureClientHello({ servername: "Www.Example.COM", ALPNProtocols: ["h2", "http/1.1", "acme-tls/1"] });
    // Node sends no SNI for an IP address, and no ALPN extension unless asked.
    noSni = await captureClientHello({});
    tls12 = await captureClientHello({ servername: "old.test", ALPNProtocols: ["http/1.1"], maxVersion: "TLSv1.2" });
  });

  test("the server name and the ALPN list of a TLS-ALPN-01 style client", () => {
    assert.deepEqual(parseClientHello(acme), { serverName: "alpn.test", alpn: ["acme-tls/1"] });
    assert.deepEqual(readClientHello(acme), { status: "complete", hello: { serverName: "alpn.test", alpn: ["acme-tls/1"] } });
  });

  test("several protocols keep the client's order; the name is lower-cased", () => {
    assert.deepEqual(parseClientHello(browserLike), { serverName: "www.example.com", alpn: ["h2", "http/1.1", "acme-tls/1"] });
  });

  test("no SNI and no ALPN: serverName undefined, alpn empty", () => {
    assert.deepEqual(parseClientHello(noSni), { serverName: undefined, alpn: [] });
  });

  test("a TLS 1.2-only ClientHello parses too", () => {
    assert.deepEqual(parseClientHello(tls12), { serverName: "old.test", alpn: ["http/1.1"] });
  });

  test("bytes after the ClientHello record (the client's next flight) do not matter", () => {
    assert.deepEqual(parseClientHello(Buffer.concat([acme, Buffer.from("more bytes")])), { serverName: "alpn.test", alpn: ["acme-tls/1"] });
  });

  test("every truncation is incomplete, never a result or an exception", () => {
    for (let length = 0; length < acme.length; length++) {
      const prefix = acme.subarray(0, length);
      assert.equal(parseClientHello(prefix), undefined, `length ${length}`);
      assert.deepEqual(readClientHello(prefix), { status: "incomplete" }, `length ${length}`);
    }
  });

  test("a ClientHello fragmented over several records is reassembled", () => {
    const message = acme.subarray(5);
    for (const cut of [2, 40, message.length - 1]) {
      const split = Buffer.concat([record(message.subarray(0, cut)), record(message.subarray(cut))]);
      assert.deepEqual(parseClientHello(split), { serverName: "alpn.test", alpn: ["acme-tls/1"] }, `cut at ${cut}`);
      assert.deepEqual(readClientHello(split.subarray(0, 5 + cut + 3)), { status: "incomplete" });
    }
  });

  test("random corruption of a real ClientHello never throws", () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let round = 0; round < 5_000; round++) {
      const bytes = Buffer.from(browserLike);
      const flips = 1 + (random() % 4);
      for (let flip = 0; flip < flips; flip++) bytes[random() % bytes.length] = random() & 0xff;
      const result = parseClientHello(bytes.subarray(0, random() % (bytes.length + 1)));
      if (result !== undefined) {
        assert.ok(result.serverName === undefined || /^[a-z0-9._-]+$/.test(result.serverName));
        assert.ok(Array.isArray(result.alpn));
      }
    }
  });
});

describe("parseClientHello with hand-built and garbage input", () => {
  test("a minimal ClientHello without extensions", () => {
    assert.deepEqual(parseClientHello(record(clientHelloMessage(undefined))), { serverName: undefined, alpn: [] });
  });

  test("hand-built SNI and ALPN extensions", () => {
    const bytes = record(clientHelloMessage([sni(Buffer.from("alpn.test.")), alpn(["acme-tls/1", "http/1.1"])]));
    assert.deepEqual(parseClientHello(bytes), { serverName: "alpn.test", alpn: ["acme-tls/1", "http/1.1"] });
  });

  test("a server name that is no DNS name counts as absent", () => {
    for (const name of ["a/b.test", "a b.test", "bad\0.test", "..", "é.test"]) {
      const bytes = record(clientHelloMessage([sni(Buffer.from(name, "latin1")), alpn(["acme-tls/1"])]));
      assert.deepEqual(parseClientHello(bytes), { serverName: undefined, alpn: ["acme-tls/1"] }, name);
    }
  });

  test("malformed extensions make the whole ClientHello invalid", () => {
    const cases: Record<string, Buffer[]> = {
      "duplicate extension": [alpn(["a"]), alpn(["b"])],
      "empty ALPN list": [extension(16, vector(2, Buffer.alloc(0)))],
      "empty protocol name": [extension(16, vector(2, Buffer.from([0])))],
      "protocol longer than its list": [extension(16, vector(2, Buffer.from([9, 0x61])))],
      "server name list with trailing bytes": [extension(0, Buffer.concat([vector(2, Buffer.concat([Buffer.from([0]), vector(2, Buffer.from("a.test"))])), Buffer.from([1])]))],
      "empty server name": [sni(Buffer.alloc(0))],
    };
    for (const [name, extensions] of Object.entries(cases)) {
      assert.deepEqual(readClientHello(record(clientHelloMessage(extensions))), { status: "invalid" }, name);
    }
  });

  test("an extension block that overruns its message is invalid", () => {
    const message = clientHelloMessage([alpn(["acme-tls/1"])]);
    // The last two bytes of the fixed part before the extensions are the extensions' length.
    const broken = Buffer.from(message);
    const extensionsAt = 4 + 2 + 32 + 33 + 6 + 2;
    broken.writeUInt16BE(0xffff, extensionsAt);
    assert.deepEqual(readClientHello(record(broken)), { status: "invalid" });
  });

  test("not TLS, not a handshake, not a ClientHello: invalid at once", () => {
    const inputs: Record<string, Buffer> = {
      "an HTTP request": Buffer.from("GET / HTTP/1.1\r\nHost: alpn.test\r\n\r\n"),
      "an application data record": Buffer.from([23, 3, 3, 0, 1, 0]),
      "a ServerHello": record(Buffer.from([2, 0, 0, 1, 0])),
      "a zero-length record": Buffer.from([22, 3, 1, 0, 0]),
      "an oversized record": Buffer.from([22, 3, 1, 0x40, 0x01]),
      "an SSLv2 hello": Buffer.from([0x80, 0x2e, 1, 0, 2]),
      "a single wrong byte": Buffer.from([0x47]),
      "a wrong version byte": Buffer.from([22, 9]),
      "a ClientHello body too short for its random": record(Buffer.from([1, 0, 0, 3, 3, 3, 0])),
    };
    for (const [name, bytes] of Object.entries(inputs)) {
      assert.deepEqual(readClientHello(bytes), { status: "invalid" }, name);
      assert.equal(parseClientHello(bytes), undefined, name);
    }
  });

  test("empty input and a bare record header are incomplete", () => {
    assert.deepEqual(readClientHello(Buffer.alloc(0)), { status: "incomplete" });
    assert.deepEqual(readClientHello(Buffer.from([22])), { status: "incomplete" });
    assert.deepEqual(readClientHello(Buffer.from([22, 3, 1, 0, 200])), { status: "incomplete" });
  });

  test("a declared ClientHello beyond 16 KiB is refused before it is read", () => {
    assert.deepEqual(readClientHello(record(Buffer.from([1, 0x01, 0x00, 0x00, 3, 3]))), { status: "invalid" });
  });

  test("random bytes never throw", () => {
    let seed = 7;
    for (let round = 0; round < 2_000; round++) {
      const bytes = Buffer.alloc(round % 300);
      for (let index = 0; index < bytes.length; index++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        bytes[index] = seed & 0xff;
      }
      if (round % 2 === 0 && bytes.length > 5) bytes.set([22, 3, 1], 0);
      assert.doesNotThrow(() => parseClientHello(bytes));
    }
  });
});

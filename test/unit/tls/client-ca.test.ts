// tls.clientAuth.ca: read once per configuration, a clear error naming the file when it is unusable.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { clientAuthServerOptions, clientCaContextOptions, clientCaOf } from "../../../src/tls/client-ca.js";
import { makeClientCertificates, type ClientCertificates } from "../../helpers/client-certs.js";
import { makeTempDir, removeTempDir, tlsConfig } from "../../fixtures/tls/tls-helpers.js";

let dir = "";
let certs: ClientCertificates;

before(async () => {
  dir = await makeTempDir();
  certs = makeClientCertificates(dir);
});
after(() => removeTempDir(dir));

test("off without a CA: no CA, no server or context options", () => {
  const { clientAuth } = tlsConfig({});
  assert.equal(clientCaOf(clientAuth), undefined);
  assert.deepEqual(clientCaContextOptions(clientAuth), {});
  assert.deepEqual(clientAuthServerOptions(undefined), {});
});

test("a CA file: requested in both modes, refused handshakes only with require", () => {
  const optional = clientCaOf(tlsConfig({ clientAuth: { ca: certs.caFile } }).clientAuth);
  const required = clientCaOf(tlsConfig({ clientAuth: { ca: certs.caFile, mode: "require" } }).clientAuth);
  assert.match(optional?.pem ?? "", /BEGIN CERTIFICATE/);
  assert.deepEqual(clientAuthServerOptions(optional), { ca: optional!.pem, requestCert: true, rejectUnauthorized: false });
  assert.deepEqual(clientAuthServerOptions(required), { ca: required!.pem, requestCert: true, rejectUnauthorized: true });
});

test("read once per configuration: a later change to the file is not picked up (tls.clientAuth is restart-only)", async () => {
  const copy = join(dir, "copy.pem");
  await writeFile(copy, certs.alice.cert);
  const { clientAuth } = tlsConfig({ clientAuth: { ca: copy } });
  const first = clientCaOf(clientAuth);
  await writeFile(copy, "changed");
  assert.equal(clientCaOf(clientAuth), first);
  assert.deepEqual(clientCaContextOptions(clientAuth), { ca: first!.pem });
});

test("a missing file, a file without a certificate and a broken certificate are errors naming the file", async () => {
  const missing = join(dir, "missing.pem");
  assert.throws(() => clientCaOf(tlsConfig({ clientAuth: { ca: missing } }).clientAuth), { message: `tls.clientAuth.ca: cannot read "${missing}": no such file` });
  const empty = join(dir, "key-only.pem");
  await writeFile(empty, certs.alice.key);
  assert.throws(() => clientCaOf(tlsConfig({ clientAuth: { ca: empty } }).clientAuth), { message: `tls.clientAuth.ca: "${empty}" holds no PEM certificate` });
  const broken = join(dir, "broken.pem");
  await writeFile(broken, `${certs.alice.cert}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`);
  assert.throws(() => clientCaOf(tlsConfig({ clientAuth: { ca: broken } }).clientAuth), new RegExp(`certificate 2 in "${broken}" is invalid`));
});

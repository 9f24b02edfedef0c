// The health answer's one field, read from a gRPC message frame without a protobuf library.
import assert from "node:assert/strict";
import { test } from "node:test";
import { servingStatus } from "../../../src/upstream/grpc-health.js";

/** A gRPC message frame: uncompressed flag, 4-byte length, then the message. */
function frame(...message: number[]): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, Buffer.from(message)]);
}

test("HealthCheckResponse status: SERVING, NOT_SERVING, absent (UNKNOWN), after an unknown field", () => {
  assert.equal(servingStatus(frame(0x08, 0x01)), 1);
  assert.equal(servingStatus(frame(0x08, 0x02)), 2);
  assert.equal(servingStatus(frame()), 0, "protobuf leaves a default value (UNKNOWN) off the wire");
  // An unknown varint field 2 (0x10) and a length-delimited field 3 (0x1a) before status.
  assert.equal(servingStatus(frame(0x10, 0x96, 0x01, 0x1a, 0x02, 0x61, 0x62, 0x08, 0x01)), 1);
});

test("frames that are not one uncompressed message read as UNKNOWN", () => {
  assert.equal(servingStatus(Buffer.alloc(0)), 0);
  assert.equal(servingStatus(Buffer.from([1, 0, 0, 0, 2, 0x08, 0x01])), 0, "compressed");
  assert.equal(servingStatus(frame(0x0d, 1, 2, 3, 4)), 0, "a fixed32 field where status should be");
});

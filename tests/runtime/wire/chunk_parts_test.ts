import assert from "node:assert/strict";
import {
  decodeFrame,
  encodeChunkFrameParts,
  encodeFrame,
  FRAME_PREFIX_BYTES,
} from "../../../runtime/wire/codec.ts";
import type { ChunkMessage } from "../../../runtime/wire/messages.ts";
import { Rng } from "../../../runtime/rng.ts";

function assemble(msg: ChunkMessage): Uint8Array {
  const { head, padding } = encodeChunkFrameParts(msg);
  const frame = new Uint8Array(head.length + msg.payload.length + padding);
  frame.set(head);
  frame.set(msg.payload, head.length);
  return frame;
}

Deno.test("encodeChunkFrameParts() frames decode exactly like encodeFrame() frames", () => {
  const rng = new Rng(5);
  const schemes = ["", "fp32", "layerwise", "a-much-longer-scheme-name", "ü"];
  for (let k = 0; k < 300; k++) {
    const len = k < 20 ? k : Math.floor(rng.nextFloat() * 5000);
    const msg: ChunkMessage = {
      type: "chunk",
      ringId: BigInt(rng.nextU32()) << 32n | BigInt(rng.nextU32()),
      epoch: rng.nextU32(),
      opId: Math.floor(rng.nextFloat() * Number.MAX_SAFE_INTEGER),
      phase: k % 2 ? "allGather" : "reduceScatter",
      hop: rng.nextU32(),
      segment: rng.nextU32(),
      totalLength: Math.floor(rng.nextFloat() * 2 ** 40),
      offset: rng.nextU32(),
      count: rng.nextU32(),
      scheme: schemes[k % schemes.length],
      bits: k % 256,
      payload: new Uint8Array(len).map(() => rng.nextU32() & 255),
      // Every third one names a shared-memory slot instead (slot 0 included).
      ...(k % 3 === 2 ? { shm: { slot: k % 7, bytes: rng.nextU32() } } : {}),
    };
    const fast = assemble(msg);
    const slow = encodeFrame(msg);
    const prefix = new DataView(fast.buffer).getUint32(0, true);
    assert.equal(prefix, fast.length - FRAME_PREFIX_BYTES, "length prefix");
    assert.equal(prefix % 8, 0);
    assert.deepEqual(decodeFrame(fast.slice(FRAME_PREFIX_BYTES)), msg, `message ${k}`);
    assert.deepEqual(decodeFrame(slow.slice(FRAME_PREFIX_BYTES)), msg);
    assert.equal(fast.length, slow.length, "same size as capnp-es's own layout");
  }
});

Deno.test("encodeChunkFrameParts() validates fields like encodeFrame()", () => {
  const ok: ChunkMessage = {
    type: "chunk",
    ringId: 0n,
    epoch: 0,
    opId: 0,
    phase: "allGather",
    hop: 0,
    segment: 0,
    totalLength: 0,
    offset: 0,
    count: 0,
    scheme: "fp32",
    bits: 32,
    payload: new Uint8Array(0),
  };
  assert.throws(() => encodeChunkFrameParts({ ...ok, hop: -1 }), RangeError);
  assert.throws(() => encodeChunkFrameParts({ ...ok, bits: 256 }), RangeError);
  assert.throws(() => encodeChunkFrameParts({ ...ok, ringId: -1n }), RangeError);
  assert.throws(() => encodeChunkFrameParts({ ...ok, phase: "x" as "allGather" }), RangeError);
  assert.throws(() => encodeChunkFrameParts({ ...ok, shm: { slot: -1, bytes: 1 } }), RangeError);
  assert.throws(
    () => encodeChunkFrameParts({ ...ok, shm: { slot: 0, bytes: 2 ** 32 } }),
    RangeError,
  );
});

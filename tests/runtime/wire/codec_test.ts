import assert from "node:assert/strict";
import { Float64List, Message, utils } from "capnp-es";
import { Rng } from "../../../runtime/rng.ts";
import {
  type ChunkMessage,
  decodeFrame,
  encodeFrame,
  FRAME_PREFIX_BYTES,
  FrameError,
  MAX_FRAME_BYTES,
  type WireMessage,
} from "../../../runtime/wire/mod.ts";
import { Frame } from "../../../runtime/wire/ring_capnp.ts";
import { randomBytes, sampleMessages } from "./_samples.ts";

/** The body of a frame, in its own ArrayBuffer (as FrameReader delivers it). */
function bodyOf(frame: Uint8Array): Uint8Array {
  return frame.slice(FRAME_PREFIX_BYTES);
}

function chunk(payload: Uint8Array, extra: Partial<ChunkMessage> = {}): ChunkMessage {
  return {
    type: "chunk",
    ringId: 7n,
    epoch: 1,
    opId: 3,
    phase: "allGather",
    hop: 1,
    segment: 2,
    totalLength: payload.length / 4,
    offset: 0,
    count: payload.length / 4,
    scheme: "fp32",
    bits: 32,
    payload,
    ...extra,
  };
}

/** Encodes a Frame built directly with capnp-es (to forge frames our encoder refuses). */
function forge(build: (root: Frame) => void): Uint8Array {
  const m = new Message();
  build(m.initRoot(Frame));
  const s = m.getSegment(0);
  return new Uint8Array(s.buffer.slice(0, s.byteLength));
}

Deno.test("encodeFrame()/decodeFrame() round-trip every message type", () => {
  const msgs = sampleMessages(new Rng(1));
  const types = new Set(msgs.map((m) => m.type));
  assert.equal(types.size, 10, "samples cover all 10 message types");
  for (const msg of msgs) {
    const frame = encodeFrame(msg);
    const len = new DataView(frame.buffer).getUint32(0, true);
    assert.equal(len, frame.length - FRAME_PREFIX_BYTES, `${msg.type}: prefix is the body length`);
    assert.equal(len % 8, 0);
    assert.deepStrictEqual(decodeFrame(bodyOf(frame)), msg, msg.type);
  }
});

Deno.test("decodeFrame() returns zero-copy views for payload, nonce and mac", () => {
  const rng = new Rng(2);
  const c = chunk(randomBytes(rng, 4096));
  const body = bodyOf(encodeFrame(c));
  const got = decodeFrame(body) as ChunkMessage;
  assert.equal(got.payload.buffer, body.buffer);
  assert.equal(got.payload.byteOffset % 8, 0, "payload is 8-byte aligned");
  assert.deepStrictEqual(got.payload, c.payload);
  // A view really aliases the body: change the body, the payload changes.
  const at = got.payload.byteOffset;
  body[at] ^= 0xff;
  assert.equal(got.payload[0], c.payload[0] ^ 0xff);

  const hello: WireMessage = {
    type: "hello",
    version: 1,
    ringId: 1n,
    epoch: 1,
    rank: 0,
    worldSize: 2,
    nonce: randomBytes(rng, 32),
    mac: randomBytes(rng, 32),
  };
  const hb = bodyOf(encodeFrame(hello));
  const h = decodeFrame(hb);
  assert.ok(h.type === "hello");
  assert.equal(h.nonce.buffer, hb.buffer);
  assert.equal(h.mac.buffer, hb.buffer);
  const ab = bodyOf(encodeFrame({ type: "auth", mac: randomBytes(rng, 32) }));
  const a = decodeFrame(ab);
  assert.ok(a.type === "auth");
  assert.equal(a.mac.buffer, ab.buffer);
});

Deno.test("decodeFrame() copies once when the body does not span its buffer", () => {
  const c = chunk(randomBytes(new Rng(3), 1024));
  const frame = encodeFrame(c);
  // A subarray at offset 4 (not 8-aligned), and one with trailing bytes after it.
  const offsetView = frame.subarray(FRAME_PREFIX_BYTES);
  const got = decodeFrame(offsetView) as ChunkMessage;
  assert.deepStrictEqual(got, c);
  assert.notEqual(got.payload.buffer, frame.buffer);
  const padded = new Uint8Array(frame.length + 64);
  padded.set(frame.subarray(FRAME_PREFIX_BYTES));
  const trailing = padded.subarray(0, frame.length - FRAME_PREFIX_BYTES);
  const got2 = decodeFrame(trailing) as ChunkMessage;
  assert.deepStrictEqual(got2, c);
  assert.notEqual(got2.payload.buffer, padded.buffer);
  // The input is never written to.
  const before = offsetView.slice();
  decodeFrame(offsetView);
  assert.deepStrictEqual(offsetView, before);
});

Deno.test("encodeFrame() handles empty, 16 MiB and maximum-size payloads", () => {
  const rng = new Rng(4);
  const empty = chunk(new Uint8Array(0));
  assert.deepStrictEqual(decodeFrame(bodyOf(encodeFrame(empty))), empty);

  const big = chunk(randomBytes(rng, 16 * 1024 * 1024));
  const body = bodyOf(encodeFrame(big));
  const got = decodeFrame(body) as ChunkMessage;
  assert.equal(got.payload.buffer, body.buffer);
  assert.deepStrictEqual(got, big);

  // 64 MiB of payload: the largest tensor segment the limit is meant for.
  const max = chunk(new Uint8Array(64 * 1024 * 1024).fill(0x5a));
  const maxBody = bodyOf(encodeFrame(max));
  assert.ok(maxBody.length <= MAX_FRAME_BYTES);
  const gotMax = decodeFrame(maxBody) as ChunkMessage;
  assert.equal(gotMax.payload.length, max.payload.length);
  assert.equal(gotMax.payload[max.payload.length - 1], 0x5a);
});

Deno.test("encodeFrame() of a 1 MiB chunk is at most payload + 200 bytes", () => {
  const payload = randomBytes(new Rng(5), 1024 * 1024);
  const frame = encodeFrame(chunk(payload));
  assert.ok(
    frame.length <= payload.length + 200,
    `frame is ${frame.length - payload.length} bytes over the payload`,
  );
});

Deno.test("encodeFrame() rejects frames over MAX_FRAME_BYTES with FrameError", () => {
  const tooBig = new Uint8Array(MAX_FRAME_BYTES + 1);
  assert.throws(() => encodeFrame(chunk(tooBig)), FrameError);
  // Fits as a Data field on its own, but not with the structs around it.
  const almost = new Uint8Array(MAX_FRAME_BYTES - 8);
  assert.throws(() => encodeFrame(chunk(almost)), (e: unknown) => {
    assert.ok(e instanceof FrameError);
    assert.match(e.message, /exceeds the frame limit/);
    return true;
  });
});

Deno.test("encodeFrame() rejects values outside their wire width", () => {
  const ok = chunk(new Uint8Array(8));
  const bad: [string, WireMessage, ErrorConstructor | RangeErrorConstructor][] = [
    ["negative epoch", { ...ok, epoch: -1 }, RangeError],
    ["fractional hop", { ...ok, hop: 1.5 }, RangeError],
    ["bits 256", { ...ok, bits: 256 }, RangeError],
    ["opId unsafe", { ...ok, opId: 2 ** 53 }, RangeError],
    ["negative ringId", { ...ok, ringId: -1n }, RangeError],
    ["ringId 2^64", { ...ok, ringId: 1n << 64n }, RangeError],
    ["bad phase", { ...ok, phase: "sideways" as never }, RangeError],
    ["segment 2^32", { ...ok, segment: 2 ** 32 }, RangeError],
    ["culprit below int32", {
      type: "error",
      epoch: 0,
      opId: -1,
      reporter: 0,
      culprit: -(2 ** 31) - 1,
      code: "x",
      message: "y",
    }, RangeError],
    ["unknown type", { type: "nope" } as unknown as WireMessage, TypeError],
    ["payload not bytes", { ...ok, payload: [1, 2] as unknown as Uint8Array }, TypeError],
  ];
  for (const [name, msg, cls] of bad) {
    assert.throws(() => encodeFrame(msg), cls, name);
  }
});

Deno.test("decodeFrame() rejects out-of-range enums and unsafe integers", () => {
  const phase = forge((r) => {
    const c = r._initChunk();
    c.phase = 2 as never;
  });
  assert.throws(() => decodeFrame(phase), /chunk\.phase has unknown enum value 2/);
  for (const field of ["opId", "totalLength", "offset", "count"] as const) {
    const body = forge((r) => {
      r._initChunk()[field] = 1n << 53n;
    });
    assert.throws(() => decodeFrame(body), (e: unknown) => {
      assert.ok(e instanceof FrameError);
      assert.match(e.message, new RegExp(`chunk\\.${field} = 9007199254740992`));
      return true;
    });
  }
  const step = forge((r) => {
    r._initStepReport().step = (1n << 64n) - 1n;
  });
  assert.throws(() => decodeFrame(step), FrameError);
  const errOp = forge((r) => {
    r._initError().opId = -(1n << 60n);
  });
  assert.throws(() => decodeFrame(errOp), /error\.opId/);
});

Deno.test("decodeFrame() rejects wrong pointer kinds, null arms and unknown tags", () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["unknown tag", forge((r) => utils.setUint16(0, 10, r)), /unknown message tag 10/],
    ["null arm", forge((r) => utils.setUint16(0, Frame.CHUNK, r)), /null body pointer/],
    [
      "arm is a list",
      forge((r) => {
        utils.setUint16(0, Frame.CHUNK, r);
        utils.initData(0, 16, r);
      }),
      /chunk is not a struct pointer/,
    ],
    [
      "payload is a struct",
      forge((r) => {
        const c = r._initChunk();
        utils.initStructAt(1, Frame, c);
      }),
      /chunk\.payload is not a list pointer/,
    ],
    [
      "scheme is a struct",
      forge((r) => {
        const c = r._initChunk();
        utils.initStructAt(0, Frame, c);
      }),
      /chunk\.scheme is not a list pointer/,
    ],
    [
      "payload is a list of words",
      forge((r) => {
        const c = r._initChunk();
        utils.initList(1, Float64List, 4, c);
      }),
      /chunk\.payload is not a byte list/,
    ],
    [
      "text without NUL",
      (() => {
        const b = forge((r) => {
          r._initShutdown().reason = "abc";
        });
        b[b.length - 8 + 3] = 0x21; // overwrite the terminator
        return b;
      })(),
      /shutdown\.reason: text is not NUL-terminated/,
    ],
    ["empty", new Uint8Array(0), /not a whole number of 8-byte words/],
    ["ragged", new Uint8Array(12), /not a whole number of 8-byte words/],
    ["null root", new Uint8Array(64), /null root pointer/],
  ];
  for (const [name, body, re] of cases) {
    assert.throws(() => decodeFrame(body), (e: unknown) => {
      assert.ok(e instanceof FrameError, `${name}: ${e}`);
      assert.match(e.message, re, name);
      return true;
    });
  }
});

Deno.test("decodeFrame() wraps capnp-es errors in FrameError with the cause", () => {
  // Found by fuzzing: a stepReport arm pointer that points back over the root
  // pointer with a short data section; capnp-es throws CAPNP-TS020 on read.
  const body = new Uint8Array([
    0,
    0,
    0,
    0,
    1,
    0,
    1,
    0,
    4,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    244,
    255,
    255,
    255,
    6,
    0,
    0,
    0,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    31,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    248,
    127,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    128,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    240,
    127,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
    255,
  ]);
  assert.throws(() => decodeFrame(body), (e: unknown) => {
    assert.ok(e instanceof FrameError);
    assert.match(e.message, /^malformed frame of 88 bytes: CAPNP-TS020/);
    assert.ok(e.cause instanceof Error && e.cause.message.startsWith("CAPNP-TS020"));
    return true;
  });
});

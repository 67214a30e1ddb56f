import assert from "node:assert/strict";
import { CODERS, decode, encode, HEADER_BYTES } from "../../../runtime/coding/codec.ts";
import { FrameError } from "../../../runtime/errors.ts";
import { Rng } from "../../../runtime/rng.ts";
import { makeBlock } from "./_blocks.ts";

// Byte offsets of the u32 size fields: bins, length, bucketSize, levels, meta, aux, payload.
const U32_FIELDS = [12, 16, 20, 24, 28, 32, 36];
const TYPED = ["Uint8Array", "Uint16Array", "Uint32Array", "Float32Array"] as const;

function validFrames(): Uint8Array[] {
  return [
    encode(makeBlock("qsgd", 3, 13, 1), "gamma"),
    encode(makeBlock("layerwise", 5, 9, 2, "small"), "omega"),
    encode(makeBlock("maxmin", 5, 9, 3), "fixed"),
    encode(makeBlock("ptq", 4, 11, 4), "fixed"),
    encode(makeBlock("psq", 2, 6, 5), "fixed"),
    encode(makeBlock("bhq", 7, 7, 6), "omega"),
    encode(makeBlock("bhq", 1, 12, 7), "gamma"),
    encode(makeBlock("none", 32, 3, 8)),
    encode(makeBlock("fp16", 16, 4, 9)),
    encode(makeBlock("qsgd", 16, 3, 10), "fixed"),
    encode(makeBlock("maxmin", 8, 0, 11), "gamma"),
  ];
}

/**
 * Runs `fn` while counting the largest typed array allocated by length (in
 * bytes). Decode must never size an allocation from an unchecked field.
 */
function largestAllocation(fn: () => void): number {
  const g = globalThis as unknown as Record<string, unknown>;
  const saved = TYPED.map((name) => g[name]);
  let largest = 0;
  TYPED.forEach((name, i) => {
    const ctor = saved[i] as { new (...a: unknown[]): ArrayBufferView; BYTES_PER_ELEMENT: number };
    g[name] = new Proxy(ctor, {
      construct(target, args, newTarget) {
        if (typeof args[0] === "number") {
          largest = Math.max(largest, args[0] * target.BYTES_PER_ELEMENT);
        }
        return Reflect.construct(target, args, newTarget);
      },
    });
  });
  try {
    fn();
  } finally {
    TYPED.forEach((name, i) => (g[name] = saved[i]));
  }
  return largest;
}

/** decode() either succeeds (and the frame is canonical) or throws FrameError. */
function check(bytes: Uint8Array, what: string): "ok" | "rejected" {
  let result: ReturnType<typeof decode> | undefined;
  const t0 = performance.now();
  const largest = largestAllocation(() => {
    try {
      result = decode(bytes);
    } catch (e) {
      if (!(e instanceof FrameError)) {
        throw new Error(`${what}: decode threw ${(e as Error)?.name}: ${(e as Error)?.message}`, {
          cause: e,
        });
      }
      assert.ok(e.message.length > 0);
    }
  });
  const ms = performance.now() - t0;
  assert.ok(ms < 250, `${what}: decode took ${ms.toFixed(1)} ms`);
  assert.ok(
    largest <= 16 * bytes.length + 64,
    `${what}: allocated ${largest} bytes for a ${bytes.length}-byte frame`,
  );
  if (!result) return "rejected";
  // Whatever decodes is canonical: re-encoding gives the very same bytes.
  const again = encode(result, CODERS[bytes[4]]);
  assert.deepStrictEqual(again, bytes, `${what}: decoded but not canonical`);
  return "ok";
}

Deno.test("decode() survives 20,000 hostile mutations with FrameError only", () => {
  const rng = new Rng(2024);
  const frames = validFrames();
  // Warm-up: the first omega decode builds a fixed 64 KiB bound table once.
  for (const frame of frames) decode(frame);
  let runs = 0;
  let accepted = 0;
  const run = (bytes: Uint8Array, what: string) => {
    if (check(bytes, what) === "ok") accepted++;
    runs++;
  };
  // Truncation at every length.
  for (const [f, frame] of frames.entries()) {
    assert.equal(check(frame, `frame ${f} intact`), "ok");
    for (let cut = 0; cut < frame.length; cut++) {
      assert.throws(() => decode(frame.subarray(0, cut)), FrameError, `frame ${f} cut ${cut}`);
      runs++;
    }
    // Trailing bytes are rejected too.
    const longer = new Uint8Array(frame.length + 1);
    longer.set(frame);
    assert.throws(() => decode(longer), FrameError, `frame ${f} + 1 byte`);
  }
  while (runs < 20000) {
    const frame = frames[rng.nextU32() % frames.length];
    const bytes = frame.slice();
    const kind = rng.nextU32() % 6;
    let mutated = bytes;
    if (kind === 0) {
      const flips = 1 + (rng.nextU32() % 4);
      for (let k = 0; k < flips; k++) {
        const bit = rng.nextU32() % (bytes.length * 8);
        bytes[bit >> 3] ^= 1 << (bit & 7);
      }
    } else if (kind === 1) {
      // Flip bits in the payload only (decodes further).
      const start = bytes.length - new DataView(bytes.buffer).getUint32(36, true);
      if (start < bytes.length) {
        const bit = start * 8 + (rng.nextU32() % ((bytes.length - start) * 8));
        bytes[bit >> 3] ^= 1 << (bit & 7);
      }
    } else if (kind === 2) {
      const view = new DataView(bytes.buffer);
      const off = U32_FIELDS[rng.nextU32() % U32_FIELDS.length];
      const r = rng.nextU32() % 3;
      view.setUint32(
        off,
        r === 0 ? 0xffffffff : r === 1 ? rng.nextU32() : rng.nextU32() % 64,
        true,
      );
    } else if (kind === 3) {
      mutated = new Uint8Array(rng.nextU32() % 120);
      for (let i = 0; i < mutated.length; i++) mutated[i] = rng.nextU32() & 255;
      if (mutated.length >= 6 && rng.nextFloat() < 0.7) {
        // A plausible header prefix, so that the garbage gets past the magic.
        mutated.set(bytes.subarray(0, 3 + (rng.nextU32() % 4)));
      }
    } else if (kind === 4) {
      const i = rng.nextU32() % HEADER_BYTES;
      bytes[i] = rng.nextU32() & 255;
    } else {
      const cut = rng.nextU32() % bytes.length;
      mutated = bytes.subarray(0, cut);
    }
    run(mutated, `mutation ${runs} kind ${kind}`);
  }
  assert.ok(runs >= 20000);
  assert.ok(accepted > 0, "no mutated frame decoded at all: the test is too weak");
});

Deno.test("decode() rejects huge size fields quickly and names the field", () => {
  const frame = encode(makeBlock("maxmin", 4, 10, 1));
  const cases: [number, RegExp][] = [
    [16, /payload byte count/],
    [24, /levels count/],
    [28, /meta count/],
    [32, /aux count/],
    [36, /payload byte count/],
  ];
  for (const [off, re] of cases) {
    const bytes = frame.slice();
    new DataView(bytes.buffer).setUint32(off, 0xffffffff, true);
    const t0 = performance.now();
    const largest = largestAllocation(() =>
      assert.throws(() => decode(bytes), (e) => e instanceof FrameError && re.test(e.message))
    );
    assert.ok(performance.now() - t0 < 50, `offset ${off} was slow`);
    assert.ok(largest < 4096, `offset ${off}: allocated ${largest} bytes`);
  }
  // A maximal Elias length with a short payload: rejected before allocating codes.
  const g = encode(makeBlock("qsgd", 4, 10, 1), "gamma");
  new DataView(g.buffer).setUint32(16, 0xffffffff, true);
  assert.throws(
    () => decode(g),
    (e) => e instanceof FrameError && /payload byte count/.test(e.message),
  );
});

Deno.test("decode() names the bad header field", () => {
  const frame = encode(makeBlock("qsgd", 4, 10, 1), "gamma");
  const cases: [number, number, RegExp][] = [
    [0, 0x58, /magic/],
    [2, 9, /version/],
    [3, 200, /scheme id/],
    [4, 3, /coder id/],
    [5, 0, /bits/],
    [5, 17, /bits/],
    [6, 2, /flags/],
  ];
  for (const [off, value, re] of cases) {
    const bytes = frame.slice();
    bytes[off] = value;
    assert.throws(
      () => decode(bytes),
      (e) => e instanceof FrameError && re.test(e.message),
      `${re}`,
    );
  }
  const nan = frame.slice();
  new DataView(nan.buffer).setFloat32(8, NaN, true);
  assert.throws(() => decode(nan), (e) => e instanceof FrameError && /normQ/.test(e.message));
  // Elias on fp16 is not a valid frame.
  const fp = encode(makeBlock("fp16", 16, 4, 2));
  fp[4] = 1;
  assert.throws(
    () => decode(fp),
    (e) => e instanceof FrameError && /does not apply/.test(e.message),
  );
  // Trailing garbage after the last Elias code (beyond byte padding).
  const z = makeBlock("ptq", 4, 16, 3, "zero");
  const zb = encode(z, "gamma"); // 16 one-bit codes = 2 bytes
  const grown = new Uint8Array(zb.length + 1);
  grown.set(zb);
  new DataView(grown.buffer).setUint32(36, 3, true);
  assert.throws(() => decode(grown), (e) => e instanceof FrameError && /payload/.test(e.message));
  // Nonzero padding bits.
  const odd = encode(makeBlock("ptq", 4, 3, 3, "zero"), "fixed");
  odd[odd.length - 1] |= 0x80;
  assert.throws(() => decode(odd), (e) => e instanceof FrameError && /padding/.test(e.message));
  assert.throws(() => decode("QR" as unknown as Uint8Array), FrameError);
});

// decodeAddInto(): the fused decode + dequantize + add of the reduce-scatter's receive,
// against the plain JS reference (decode, dequantize, add), and its rejections.
import assert from "node:assert/strict";
import {
  decode,
  decodeAddInto,
  decodeInto,
  encode,
  quantizeEncode,
} from "../../../runtime/coding/codec.ts";
import { FrameError, QuantizationError } from "../../../runtime/errors.ts";
import { LayerwiseQuantizer } from "../../../runtime/quant/layerwise.ts";
import { MaxMinQuantizer } from "../../../runtime/quant/max_min.ts";
import { QsgdQuantizer } from "../../../runtime/quant/qsgd.ts";
import type { Quantizer } from "../../../runtime/quant/types.ts";
import { Rng } from "../../../runtime/rng.ts";

function data(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  // Some exact zeros (zero buckets with bucket size 1), some large values.
  return new Float32Array(n).map((_, i) => (i % 13 === 5 ? 0 : rng.normal() ** 3));
}

/** The reference: acc[i] += v[i] in float32 for the decoded, dequantized v. */
function reference(bytes: Uint8Array, q: Quantizer, acc: Float32Array): Float32Array {
  const v = q.dequantize(decode(bytes));
  const out = acc.slice();
  for (let i = 0; i < out.length; i++) out[i] = Math.fround(out[i] + v[i]);
  return out;
}

function same(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}

Deno.test("decodeAddInto() equals decode + dequantize + add: widths, odd lengths, buckets", () => {
  const layer = { name: "d/kernel", type: "dense" };
  for (const bits of [2, 3, 4, 8]) {
    for (const n of [1, 2, 15, 16, 17, 31, 33, 1023, 1025, 4097]) {
      const v = data(n, bits * 1000 + n);
      for (
        const q of [
          new QsgdQuantizer({ bits, bucketSize: 1 }),
          new QsgdQuantizer({ bits, bucketSize: 17 }),
          new QsgdQuantizer({ bits, bucketSize: 100, normQ: Infinity }),
          new LayerwiseQuantizer({ bits, bucketSize: 1024 }),
          new MaxMinQuantizer({ bits, bucketSize: 64 }), // not fused: decoded, then added
        ]
      ) {
        for (const coder of ["fixed", "gamma"] as const) {
          const bytes = quantizeEncode(q, v, new Rng(n), { layer, coder });
          const acc = data(n, 7 + n).map((x) => x * 0.1);
          const want = reference(bytes, q, acc);
          const got = decodeAddInto(bytes, q, acc);
          assert.equal(got, acc);
          assert(same(got, want), `${q.scheme} ${bits} bits, n ${n}, ${coder}`);
        }
      }
    }
  }
});

Deno.test("decodeAddInto() reads frames at any byte offset, and adds into a subarray", () => {
  const q = new QsgdQuantizer({ bits: 4, bucketSize: 64 });
  const v = data(3001, 5);
  const frame = encode(q.quantize(v, new Rng(3)));
  const shifted = new Uint8Array(frame.length + 3);
  shifted.set(frame, 3);
  const big = data(3010, 6);
  const acc = big.subarray(5, 3006);
  const want = reference(frame, q, acc);
  decodeAddInto(shifted.subarray(3), q, acc);
  assert(same(acc, want));
  assert.equal(big[4], data(3010, 6)[4]); // neighbours untouched
  assert.equal(big[3006], data(3010, 6)[3006]);
});

Deno.test("decodeAddInto() rejects hostile frames with a clear error and leaves acc alone", () => {
  const v = data(101, 3);
  const q3 = new QsgdQuantizer({ bits: 3, bucketSize: 16 }); // 4 levels: codes 0..7
  // A 4-bit frame with the 3-bit table: code 15 overflows it.
  const small = encode({ ...q3.quantize(v, new Rng(2)), bits: 4 });
  const last = small.length - 1;
  const acc = data(101, 4);
  const before = acc.slice();
  const bad = small.slice();
  bad[last - 10] = 0xff; // codes 80 and 81
  assert.throws(() => decodeAddInto(bad, q3, acc), (e: unknown) => {
    return e instanceof FrameError && /code at index 80 exceeds the 4-level table/.test(e.message);
  });
  assert(same(acc, before), "acc changed by a rejected frame");
  // Nonzero padding bits after the last code.
  bad.set(small);
  bad[last] |= 0xf0;
  assert.throws(() => decodeAddInto(bad, q3, acc), FrameError);
  // A bucket norm that is not finite.
  const q4 = new QsgdQuantizer({ bits: 4, bucketSize: 16 });
  const good = encode(q4.quantize(v, new Rng(2)));
  const nanMeta = good.slice();
  const levels = new DataView(good.buffer).getUint32(24, true);
  new DataView(nanMeta.buffer).setFloat32(40 + 4 * levels + 4 * 3, NaN, true);
  assert.throws(
    () => decodeAddInto(nanMeta, q4, acc),
    (e: unknown) => e instanceof FrameError && /bucket norm 3 is NaN/.test(e.message),
  );
  const infMeta = good.slice();
  new DataView(infMeta.buffer).setFloat32(40 + 4 * levels, -Infinity, true);
  assert.throws(() => decodeAddInto(infMeta, q4, acc), /bucket norm 0 is -Infinity/);
  assert(same(acc, before));
  // Truncated, bad magic, garbage, wrong length.
  assert.throws(() => decodeAddInto(good.subarray(0, good.length - 1), q4, acc), FrameError);
  const magic = good.slice();
  magic[0] = 0;
  assert.throws(() => decodeAddInto(magic, q4, acc), FrameError);
  assert.throws(() => decodeAddInto(new Uint8Array([1, 2, 3]), q4, acc), FrameError);
  assert.throws(() => decodeAddInto(good, q4, new Float32Array(100)), QuantizationError);
  assert(same(acc, before));
});

Deno.test("decodeAddInto() of an empty frame changes nothing", () => {
  const q = new QsgdQuantizer({ bits: 4, bucketSize: 16 });
  const bytes = encode(q.quantize(new Float32Array(0), new Rng(1)));
  const acc = new Float32Array(0);
  assert.equal(decodeAddInto(bytes, q, acc), acc);
});

Deno.test("buckets over 2^17 coordinates take the general path (the fused one would not fit)", () => {
  // Such a frame used to hang decodeInto: no whole 8 buckets fit the kernel's chunk.
  const q = new QsgdQuantizer({ bits: 4, bucketSize: 200_000 });
  const n = 300_001;
  const v = data(n, 8);
  const bytes = encode(q.quantize(v, new Rng(1)));
  const want = q.dequantize(decode(bytes));
  assert(same(decodeInto(bytes, q, new Float32Array(n)), want));
  const acc = data(n, 9);
  const wantAcc = reference(bytes, q, acc);
  assert(same(decodeAddInto(bytes, q, acc), wantAcc));
});

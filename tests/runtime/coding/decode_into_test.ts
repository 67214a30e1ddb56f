import assert from "node:assert/strict";
import { decode, decodeInto, encode } from "../../../runtime/coding/codec.ts";
import { FrameError, QuantizationError } from "../../../runtime/errors.ts";
import { LayerwiseQuantizer } from "../../../runtime/quant/layerwise.ts";
import { MaxMinQuantizer } from "../../../runtime/quant/max_min.ts";
import { QsgdQuantizer } from "../../../runtime/quant/qsgd.ts";
import { Rng } from "../../../runtime/rng.ts";

function data(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return new Float32Array(n).map(() => rng.normal() ** 3);
}

Deno.test("decodeInto() equals decode() + dequantize() on every path", () => {
  const layer = { name: "d/kernel", type: "dense" };
  for (const bits of [2, 3, 4, 8]) {
    for (const n of [1, 7, 1000, 1023, 1025, 5000]) {
      const v = data(n, bits * 100 + n);
      for (
        const q of [
          new QsgdQuantizer({ bits, bucketSize: 100 }),
          new LayerwiseQuantizer({ bits, bucketSize: 1024, initialLevels: "exponential" }),
          new MaxMinQuantizer({ bits, bucketSize: 64 }),
        ]
      ) {
        for (const coder of ["fixed", "gamma"] as const) {
          const bytes = encode(q.quantize(v, new Rng(1), layer), coder);
          const want = q.dequantize(decode(bytes));
          const got = decodeInto(bytes, q, new Float32Array(n));
          assert.deepEqual(got, want, `${q.scheme} ${bits} bits, n ${n}, ${coder}`);
        }
      }
    }
  }
});

Deno.test("decodeInto() rejects corrupt fused frames and wrong buffers", () => {
  const q = new QsgdQuantizer({ bits: 4, bucketSize: 16 });
  const v = data(101, 3);
  const bytes = encode(q.quantize(v, new Rng(2)));
  assert.throws(() => decodeInto(bytes, q, new Float32Array(100)), QuantizationError);
  // 4 bits, 8 levels: the codes 0..15 are all valid, so use 3 bits' table (4 levels).
  const q3 = new QsgdQuantizer({ bits: 3, bucketSize: 16 });
  const b3 = encode(q3.quantize(v, new Rng(2)));
  const tampered = b3.slice();
  // Raise the bits field to 4 and rewrite the payload so one code (15) overflows 4 levels.
  const small = encode({ ...q3.quantize(v, new Rng(2)), bits: 4 });
  const last = small.length - 1;
  const bad = small.slice();
  bad[last - 10] = 0xff;
  assert.throws(() => decodeInto(bad, q3), (e: unknown) => e instanceof FrameError);
  assert.throws(() => q3.dequantize(decode(bad)), QuantizationError);
  // Nonzero padding bits after the last 4-bit code (101 codes: the last byte's high nibble).
  bad.set(small);
  bad[last] |= 0xf0;
  assert.throws(() => decodeInto(bad, q3), FrameError);
  assert.throws(() => decode(bad), FrameError);
  tampered[0] = 0; // bad magic
  assert.throws(() => decodeInto(tampered, q3), FrameError);
});

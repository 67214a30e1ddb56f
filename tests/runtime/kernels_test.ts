import assert from "node:assert/strict";
import { CHUNK, kernels } from "../../runtime/kernels/kernels.ts";
import { uniformLevels } from "../../runtime/quant/qsgd.ts";
import { Rng } from "../../runtime/rng.ts";

Deno.test("packFixed() and unpackFixed() round-trip every width across chunk boundaries", () => {
  const rng = new Rng(1);
  for (const bits of [1, 2, 3, 4, 5, 7, 8, 11, 16]) {
    for (const n of [0, 1, 7, 8, 1001, CHUNK + 13]) {
      const codes = new Uint16Array(n).map(() => rng.nextU32() & ((1 << bits) - 1));
      const bytes = new Uint8Array(Math.ceil((n * bits) / 8));
      kernels().packFixed(codes, bits, bytes);
      const back = new Uint16Array(n);
      kernels().unpackFixed(bytes, n, bits, back);
      assert.deepEqual(back, codes, `bits ${bits}, n ${n}`);
    }
  }
});

Deno.test("smQuantize() gives the same codes whatever the chunking", () => {
  // 2.5 chunks of data: the random stream must continue across chunks, so the
  // second half of a long vector differs from quantizing it alone.
  const n = CHUNK * 2 + CHUNK / 2;
  const rng = new Rng(2);
  const v = new Float32Array(n).map(() => rng.normal());
  const levels = uniformLevels(4);
  const lut = new Uint16Array(1025);
  const run = () => {
    const norms = new Float32Array(n / 1024), codes = new Uint16Array(n);
    kernels().smQuantize(v, 1024, 2, levels, lut, new Rng(9), norms, codes);
    return codes;
  };
  const a = run(), b = run();
  assert.deepEqual(a, b, "same seed, same codes");
  let same = 0;
  for (let i = 0; i < 1024; i++) same += a[i] === a[CHUNK + i] ? 1 : 0;
  assert.ok(same < 1024, "chunks must not reuse the random stream");
});

Deno.test("smUnpackDequantize() equals unpack then dequantize, and flags invalid codes", () => {
  const rng = new Rng(3);
  const n = 5000, bucket = 100;
  const levels = uniformLevels(3); // 4 levels: codes 0..7 valid
  for (const bits of [4, 8] as const) {
    const codes = new Uint16Array(n).map(() => rng.nextU32() & 7);
    const norms = new Float32Array(n / bucket).map(() => rng.nextFloat() * 3);
    const bytes = new Uint8Array((n * bits) / 8);
    kernels().packFixed(codes, bits, bytes);
    const a = new Float32Array(n), b = new Float32Array(n);
    assert.equal(kernels().smUnpackDequantize(bytes, n, bits, bucket, norms, levels, a), -1);
    assert.equal(kernels().smDequantize(codes, bucket, norms, levels, b), -1);
    assert.deepEqual(a, b);
    codes[4321] = 9; // beyond the 4-level table
    kernels().packFixed(codes, bits, bytes);
    assert.equal(kernels().smUnpackDequantize(bytes, n, bits, bucket, norms, levels, a), 4321);
    assert.equal(kernels().smDequantize(codes, bucket, norms, levels, b), 4321);
  }
});

import assert from "node:assert/strict";
import { CHUNK, kernels, STREAM_CHUNK } from "../../../runtime/kernels/kernels.ts";
import { nativeQuantKernel } from "../../../runtime/kernels/native.ts";
import { skewedLevels, withNative } from "../../_support/kernels.ts";
import { uniformLevels } from "../../../runtime/quant/qsgd.ts";
import { Rng } from "../../../runtime/rng.ts";

Deno.test("packFixed() and unpackFixed() round-trip every width across chunk boundaries", () => {
  const rng = new Rng(1);
  for (const bits of [1, 2, 3, 4, 5, 7, 8, 11, 16]) {
    for (const n of [0, 1, 7, 8, 15, 16, 17, 33, 1001, CHUNK + 13]) {
      const codes = new Uint16Array(n).map(() => rng.nextU32() & ((1 << bits) - 1));
      const bytes = new Uint8Array(Math.ceil((n * bits) / 8));
      kernels().packFixed(codes, bits, bytes);
      const back = new Uint16Array(n);
      kernels().unpackFixed(bytes, n, bits, back);
      assert.deepEqual(back, codes, `bits ${bits}, n ${n}`);
    }
  }
});

/** The quantize kernels to test here: WebAssembly, and native where it loads. */
const QUANTIZE_KERNELS = nativeQuantKernel() ? [false, true] : [false];

Deno.test("smQuantize() gives the same codes whatever the chunking", () =>
  withNative(false, () => {
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
  }));

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

/** The level lookup table smQuantize needs for more than 16 levels (as _sign_magnitude.ts builds it). */
function levelLut(levels: Float32Array): Uint16Array {
  const s = levels.length - 1, scale = Math.min(65536, Math.max(1024, 8 * (s + 1)));
  const lut = new Uint16Array(scale + 1);
  for (let b = 0, j = 0; b <= scale; b++) {
    while (j + 1 < s && levels[j + 1] <= b / scale) j++;
    lut[b] = j;
  }
  return lut;
}

Deno.test("smQuantizeInto() packs exactly the codes smQuantize() makes, with the same sums, statistics and draws", () => {
  for (const native of QUANTIZE_KERNELS) withNative(native, () => packsWhatItQuantizes(native));
});

function packsWhatItQuantizes(native: boolean): void {
  const k = kernels();
  const rng = new Rng(4);
  let cases = 0;
  for (const nlev of [2, 3, 4, 8, 16, 128]) {
    const bits = Math.ceil(Math.log2(nlev)) + 1;
    const levels = nlev === 4 ? uniformLevels(3) : skewedLevels(nlev, rng);
    const lut = levelLut(levels);
    for (const n of [0, 1, 7, 8, 9, 15, 16, 17, 31, 1000, 1023, 1025, STREAM_CHUNK + 3]) {
      for (const bucket of [1, 3, 8, 100, 1000, 1024, 4096]) {
        if (n > 2000 && bucket < 100) continue;
        const v = new Float32Array(n).map((_, i) => (i % 500 < 300 ? rng.normal() ** 3 : 0));
        for (const kind of [2, 0] as const) {
          for (const histStride of [8, 5]) {
            const what = `${native ? "native" : "wasm"}: nlev ${nlev}, n ${n}, ` +
              `bucket ${bucket}, kind ${kind}, stride ${histStride}`;
            const nb = Math.ceil(n / bucket);
            const normsA = new Float32Array(nb), codes = new Uint16Array(n);
            const histA = new Float64Array(300).fill(1);
            const ra = new Rng(n + bucket);
            const a = k.smQuantize(
              v,
              bucket,
              kind,
              levels,
              lut,
              ra,
              normsA,
              codes,
              histA,
              histStride,
            );
            const want = new Uint8Array(Math.ceil((n * bits) / 8));
            k.packFixed(codes, bits, want);

            const normsB = new Float32Array(nb), histB = new Float64Array(300).fill(1);
            const packed = new Uint8Array(want.length + 7).fill(0xee);
            const rb = new Rng(n + bucket);
            assert.ok(k.canPackQuantize(bucket, bits), what);
            const b = k.smQuantizeInto(v, bucket, kind, levels, lut, rb, normsB, {
              packed,
              packedAt: 5,
              bits,
              hist: histB,
              histStride,
            });
            assert.deepStrictEqual(packed.subarray(5, 5 + want.length), want, what);
            assert.equal(packed[4], 0xee, what);
            assert.deepStrictEqual(b, a, what);
            assert.deepStrictEqual(normsB, normsA, what);
            assert.deepStrictEqual(histB, histA, what);
            assert.equal(rb.nextU32(), ra.nextU32(), what);
            cases++;
          }
        }
      }
    }
  }
  assert.ok(cases > 1000);
}

Deno.test("canPackQuantize() needs whole bytes per chunk of whole buckets", () => {
  const k = kernels();
  assert.ok(k.canPackQuantize(1024, 4));
  assert.ok(k.canPackQuantize(3, 4));
  assert.ok(k.canPackQuantize(CHUNK, 3));
  assert.ok(!k.canPackQuantize(CHUNK - 1, 4), "an odd bucket of ~CHUNK codes leaves half bytes");
  assert.ok(!k.canPackQuantize(1024, 1));
  assert.ok(!k.canPackQuantize(1024, 17));
});

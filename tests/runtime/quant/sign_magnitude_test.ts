import assert from "node:assert/strict";
import {
  type PackedCodes,
  quantizeSignMagnitude,
  SIGN_MAGNITUDE_OUTPUT,
  type SignMagnitudeParams,
} from "../../../runtime/quant/sign_magnitude.ts";
import { exponentialLevels } from "../../../runtime/quant/layerwise.ts";
import { QsgdQuantizer } from "../../../runtime/quant/qsgd.ts";
import type { QuantizeStats } from "../../../runtime/quant/types.ts";
import { Rng } from "../../../runtime/rng.ts";

function data(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  // Zero buckets too: their codes must be written as 0 into a dirty buffer.
  return new Float32Array(n).map((_, i) => (i % 700 < 200 ? 0 : rng.normal() ** 3));
}

const params = (normQ: number, bucketSize: number): SignMagnitudeParams => ({
  scheme: "layerwise",
  bits: 4,
  bucketSize,
  normQ,
  levels: exponentialLevels(4),
  layer: "x",
});

Deno.test("quantizeSignMagnitude() into reused buffers gives the fresh result", () => {
  // normQ 2 and ∞ run in the kernel, 3 in TypeScript.
  for (const normQ of [2, Infinity, 3]) {
    for (const n of [0, 1, 17, 1000, 5003]) {
      for (const bucket of [1, 100, 1024]) {
        const v = data(n, n + bucket);
        const p = params(normQ, bucket);
        const sa: QuantizeStats = { sqError: 0, sqNorm: 0 };
        const ha = new Float64Array(64), ra = new Rng(3);
        const want = quantizeSignMagnitude(v, p, ra, sa, ha);
        const codes = new Uint16Array(n + 5).fill(0xffff);
        const meta = new Float32Array(Math.ceil(n / bucket) + 2).fill(-1);
        const sb: QuantizeStats = { sqError: 0, sqNorm: 0 };
        const hb = new Float64Array(64), rb = new Rng(3);
        const got = quantizeSignMagnitude(v, p, rb, sb, hb, { codes, meta });
        const what = `normQ ${normQ}, n ${n}, bucket ${bucket}`;
        assert.deepStrictEqual(Array.from(got.codes), Array.from(want.codes), what);
        assert.deepStrictEqual(Array.from(got.meta), Array.from(want.meta), what);
        assert.equal(got.codes.buffer, codes.buffer, what);
        assert.equal(got.meta.buffer, meta.buffer, what);
        assert.deepStrictEqual(sb, sa, what);
        assert.deepStrictEqual(hb, ha, what);
        assert.equal(rb.nextU32(), ra.nextU32(), what);
      }
    }
  }
});

Deno.test("quantizeSignMagnitude() packs into the target it is given, or declines", () => {
  const v = data(3001, 1);
  const p = params(2, 100);
  const want = quantizeSignMagnitude(v, p, new Rng(2));
  const bytes = new Uint8Array(2000).fill(0xcc);
  const packed: PackedCodes = { open: () => ({ bytes, at: 3 }) };
  const got = quantizeSignMagnitude(v, p, new Rng(2), undefined, undefined, { packed });
  assert.ok(packed.written);
  assert.equal(got.codes.length, 0, "no code array is made");
  assert.deepStrictEqual(got.meta, want.meta);
  const nbytes = Math.ceil((3001 * 4) / 8);
  for (let i = 0; i < 3001; i++) {
    assert.equal((bytes[3 + (i >> 1)] >> ((i & 1) * 4)) & 15, want.codes[i], `code ${i}`);
  }
  assert.equal(bytes[2], 0xcc);
  assert.equal(bytes[3 + nbytes], 0xcc);

  // Declined (open returns null), or a norm the kernel does not take: codes as usual.
  for (const [q, open] of [[2, () => null], [3, () => ({ bytes, at: 0 })]] as const) {
    const decline: PackedCodes = { open };
    const r = quantizeSignMagnitude(v, params(q, 100), new Rng(2), undefined, undefined, {
      packed: decline,
    });
    assert.ok(!decline.written);
    assert.deepStrictEqual(r.codes, quantizeSignMagnitude(v, params(q, 100), new Rng(2)).codes);
  }
});

Deno.test("a stats object can carry the output request through Quantizer.quantize", () => {
  const q = new QsgdQuantizer({ bits: 4, bucketSize: 64 });
  const v = data(1000, 5);
  const codes = new Uint16Array(1000).fill(9);
  const stats = { sqError: 0, sqNorm: 0, [SIGN_MAGNITUDE_OUTPUT]: { codes } };
  const got = q.quantize(v, new Rng(1), undefined, stats);
  assert.equal(got.codes.buffer, codes.buffer);
  assert.deepStrictEqual(got.codes, q.quantize(v, new Rng(1)).codes);
  assert.ok(stats.sqNorm > 0);
});

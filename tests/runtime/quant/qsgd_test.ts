import assert from "node:assert/strict";
import { QsgdQuantizer, uniformLevels } from "../../../runtime/quant/qsgd.ts";
import { NonFiniteError, QuantizationError } from "../../../runtime/errors.ts";
import { Rng } from "../../../runtime/rng.ts";
import type { Quantizer } from "../../../runtime/quant/types.ts";
import { assertUnbiased, biasRatio, draw } from "../../_support/stats.ts";

function gradientLike(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal() * (i % 97 === 0 ? 20 : 1);
  return v;
}

// Tolerances: see assertUnbiased (bias ratio within 5 estimated standard
// deviations of 1). The mean squared error over K = 400 draws has a relative
// standard error of a few percent here, so ±10% is several standard errors.
for (const bits of [2, 4, 8]) {
  for (const normQ of [2, Infinity]) {
    Deno.test(`qsgd ${bits}-bit L${normQ === 2 ? 2 : "∞"} is unbiased and within its bound`, () => {
      const q = new QsgdQuantizer({ bits, bucketSize: 512, normQ });
      const v = gradientLike(3000, bits);
      const exp = q.expectedVariance(v);
      const bound = q.varianceBound(v);
      assert.ok(exp > 0 && exp <= bound, `expected ${exp} ≤ bound ${bound}`);
      const s = draw(q, v, 400, new Rng(11 + bits));
      assertUnbiased(s, exp, bound);
    });
  }
}

Deno.test("bias check has power: a small injected bias is caught", () => {
  const q = new QsgdQuantizer({ bits: 4, bucketSize: 512 });
  const v = gradientLike(3000, 4);
  const K = 400, V = q.expectedVariance(v);
  // A per-coordinate bias δ with n·δ² = 30·V/K: each coordinate is off by only
  // about a tenth of its own noise over one draw.
  const delta = Math.sqrt((30 * V) / (v.length * K));
  const biased: Quantizer = {
    scheme: q.scheme,
    bits: q.bits,
    unbiased: false,
    quantize: (x, rng, layer, stats) => q.quantize(x, rng, layer, stats),
    dequantize: (b, out) => {
      const y = q.dequantize(b, out);
      for (let i = 0; i < y.length; i++) y[i] += delta;
      return y;
    },
    varianceBound: (x) => q.varianceBound(x),
    expectedVariance: (x) => q.expectedVariance(x),
  };
  const { r, sd } = biasRatio(draw(biased, v, K, new Rng(3)), V);
  assert.ok(r - 1 > 5 * sd, `bias ratio ${r}, sd ${sd}: the injected bias went unnoticed`);
  const honest = biasRatio(draw(q, v, K, new Rng(3)), V);
  assert.ok(Math.abs(honest.r - 1) <= 5 * honest.sd);
});

Deno.test("qsgd classical bound min(d/s², √d/s)·‖v‖² holds per bucket", () => {
  const q = new QsgdQuantizer({ bits: 2, bucketSize: 4096 });
  const v = gradientLike(4096, 5);
  let n2 = 0;
  for (const x of v) n2 += x * x;
  assert.ok(q.varianceBound(v) <= Math.min(4096, 64) * n2 * (1 + 1e-9));
  assert.ok(q.expectedVariance(v) <= q.varianceBound(v));
});

Deno.test("qsgd codes: norm per bucket, sign only on non-zero levels, zeros stay zero", () => {
  const q = new QsgdQuantizer({ bits: 3, bucketSize: 2 });
  const b = q.quantize(new Float32Array([3, -4, 0, 0, -0, 1]), new Rng(1));
  assert.deepEqual(Array.from(b.meta), [5, 0, 1]);
  assert.deepEqual(Array.from(b.levels), Array.from(uniformLevels(3)));
  assert.equal(b.codes[2], 0);
  assert.equal(b.codes[3], 0);
  assert.equal(b.codes[4], 0);
  assert.equal(b.codes[5], 3 << 1); // 1/1 = top level, positive
  assert.equal(b.codes[1] & 1, 1); // negative
  for (const c of b.codes) assert.ok(c !== 1, "index 0 never carries a sign");
});

Deno.test("qsgd rejects bad input with typed errors naming the layer", () => {
  const q = new QsgdQuantizer({ bits: 4 });
  const v = new Float32Array(10);
  v[7] = NaN;
  assert.throws(() => q.quantize(v, new Rng(1), { name: "fc1/kernel" }), (e: unknown) => {
    assert.ok(e instanceof NonFiniteError);
    assert.equal(e.index, 7);
    assert.equal(e.layer, "fc1/kernel");
    assert.match(e.message, /fc1\/kernel.*NaN.*index 7/);
    return true;
  });
  v[7] = -Infinity;
  assert.throws(() => q.quantize(v, new Rng(1), { name: "x" }), NonFiniteError);
  assert.throws(() => new QsgdQuantizer({ bits: 1 }), /bits must be an integer in 2\.\.16, got 1/);
  assert.throws(() => new QsgdQuantizer({ bits: 17 }), QuantizationError);
  assert.throws(() => new QsgdQuantizer({ bits: 4, normQ: 3 }), QuantizationError);
  const block = q.quantize(new Float32Array(5), new Rng(1));
  assert.throws(() => q.dequantize(block, new Float32Array(4)), /output buffer has length 4/);
  assert.throws(() => q.dequantize({ ...block, codes: new Uint16Array(3) }), QuantizationError);
  assert.throws(() => q.dequantize({ ...block, meta: new Float32Array(2) }), QuantizationError);
});

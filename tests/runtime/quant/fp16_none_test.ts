import assert from "node:assert/strict";
import { Fp16Quantizer } from "../../../runtime/quant/fp16.ts";
import { NoneQuantizer } from "../../../runtime/quant/none.ts";
import { NonFiniteError, QuantizationError } from "../../../runtime/errors.ts";
import { Rng } from "../../../runtime/rng.ts";
import { assertUnbiased, draw } from "../../_support/stats.ts";

function values(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return new Float32Array(n).map(() => rng.normal() * Math.exp(3 * rng.normal()));
}

Deno.test("none is exact and copies its input", () => {
  const q = new NoneQuantizer();
  const v = values(1000, 1);
  const stats = { sqError: -1, sqNorm: 0 };
  const b = q.quantize(v, new Rng(0), undefined, stats);
  v[0] += 1;
  const back = q.dequantize(b);
  assert.equal(back[0], b.raw[0]);
  assert.notEqual(back[0], v[0]);
  assert.equal(stats.sqError, 0);
  assert.equal(q.expectedVariance(v), 0);
  v[3] = NaN;
  assert.throws(() => q.quantize(v, new Rng(0), { name: "w" }), NonFiniteError);
});

Deno.test("fp16 nearest: error within half an ulp, bias within fp16 precision", () => {
  const q = new Fp16Quantizer();
  const v = values(5000, 2);
  const back = q.dequantize(q.quantize(v, new Rng(0)));
  let err = 0;
  for (let i = 0; i < v.length; i++) {
    const rel = Math.abs(back[i] - v[i]) / Math.max(Math.abs(v[i]), 6.1e-5);
    assert.ok(rel <= 2 ** -11 * (1 + 1e-6) || Math.abs(back[i] - v[i]) <= 2 ** -25, `index ${i}`);
    err += (back[i] - v[i]) ** 2;
  }
  assert.ok(Math.abs(err - q.expectedVariance(v)) <= 1e-9 * err + 1e-30);
  assert.ok(err <= q.varianceBound(v));
});

// Tolerances as in qsgd_test.ts (see assertUnbiased).
Deno.test("fp16 stochastic is unbiased and matches its expected variance", () => {
  const q = new Fp16Quantizer({ rounding: "stochastic" });
  const v = values(3000, 3);
  const exp = q.expectedVariance(v);
  const s = draw(q, v, 400, new Rng(4));
  assertUnbiased(s, exp, q.varianceBound(v));
});

Deno.test("fp16 rejects values outside its range, naming layer and index", () => {
  const q = new Fp16Quantizer();
  const v = new Float32Array([1, 2, 70000]);
  assert.throws(
    () => q.quantize(v, new Rng(0), { name: "big" }),
    (e: unknown) => e instanceof QuantizationError && /big.*70000.*index 2/.test(e.message),
  );
  v[2] = Infinity;
  assert.throws(() => q.quantize(v, new Rng(0)), NonFiniteError);
});

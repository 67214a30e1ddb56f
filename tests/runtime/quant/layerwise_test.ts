import assert from "node:assert/strict";
import { exponentialLevels, LayerwiseQuantizer } from "../../../runtime/quant/layerwise.ts";
import { LayerTypeMap } from "../../../runtime/quant/layer_types.ts";
import { NonFiniteError, QuantizationError } from "../../../runtime/errors.ts";
import { Rng } from "../../../runtime/rng.ts";
import { assertUnbiased, draw } from "../../_support/stats.ts";

// Explicit types: the test vectors' lengths vary, so no fixed shape would fit.
const DENSE = { name: "dense_1/kernel", type: "dense" };
const CONV = { name: "conv2d_1/kernel", type: "conv" };
const BIAS = { name: "dense_1/bias", type: "bias" };

/** Heavy-tailed (cube of a normal) with a few large rows: mass near u = 0. */
function skewed(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal() ** 3 * (i % 512 < 8 ? 10 : 1);
  return v;
}

function gaussian(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return new Float32Array(n).map(() => rng.normal());
}

Deno.test("layerwise keeps separate levels per layer type", () => {
  const q = new LayerwiseQuantizer({ bits: 4, adapt: { warmup: [1], every: 0 } });
  const rng = new Rng(1);
  q.quantize(skewed(8192, 1), rng, DENSE);
  q.quantize(gaussian(8192, 2), rng, CONV);
  assert.ok(q.maybeAdapt(1));
  const t = q.table();
  assert.equal(t.version, 1);
  assert.deepEqual(Object.keys(t.levels).sort(), ["conv", "dense"]);
  assert.notDeepEqual(t.levels.dense, t.levels.conv);
  assert.equal(t.levels.dense.length, 8);
  for (const l of Object.values(t.levels)) {
    assert.equal(l[0], 0);
    assert.equal(l[l.length - 1], 1);
    for (let i = 1; i < l.length; i++) assert.ok(l[i] > l[i - 1]);
  }
  // Gaussian buckets of 1024 normalize to u < 0.15, so the conv levels below
  // the top one stay there; the heavy rows of the dense data reach much higher.
  assert.ok(t.levels.conv[6] < 0.15, `conv ${t.levels.conv}`);
  assert.ok(t.levels.dense[6] > 2 * t.levels.conv[6], `dense ${t.levels.dense}`);
  assert.equal(q.maybeAdapt(2), false, "step 2 is not on the schedule");
});

// Tolerances as in qsgd_test.ts (see assertUnbiased).
for (const bits of [2, 4, 8]) {
  Deno.test(`layerwise ${bits}-bit with adapted levels is unbiased and within its bound`, () => {
    const q = new LayerwiseQuantizer({ bits, bucketSize: 512, adapt: { warmup: [1], every: 0 } });
    const v = skewed(3000, 40 + bits);
    q.quantize(v, new Rng(0), DENSE);
    q.maybeAdapt(1);
    const exp = q.expectedVariance(v, DENSE);
    const bound = q.varianceBound(v, DENSE);
    assert.ok(exp > 0 && exp <= bound);
    const s = draw(q, v, 400, new Rng(5), DENSE);
    assertUnbiased(s, exp, bound);
  });
}

Deno.test("adapted levels give lower variance than uniform levels on skewed data", () => {
  for (const bits of [3, 4, 6]) {
    const uniform = new LayerwiseQuantizer({ bits, adapt: false });
    const adapted = new LayerwiseQuantizer({ bits, adapt: { warmup: [1], every: 0 } });
    const train = skewed(65536, 7);
    adapted.quantize(train, new Rng(1), DENSE);
    adapted.maybeAdapt(1);
    const test = skewed(65536, 8); // fresh data from the same distribution
    const vu = uniform.expectedVariance(test, DENSE);
    const va = adapted.expectedVariance(test, DENSE);
    assert.ok(va < 0.8 * vu, `${bits} bits: adapted ${va} vs uniform ${vu}`);
  }
});

Deno.test("layer-wise variance ≤ global variance on heterogeneous layers", () => {
  // Three layers with very different coordinate distributions.
  const layers = [
    { info: DENSE, v: skewed(32768, 21) },
    { info: CONV, v: gaussian(32768, 22) },
    { info: BIAS, v: new Float32Array(4096).map((_, i) => (i % 64 === 0 ? 5 : 0.01)) },
  ];
  const bits = 4;
  const perType = new LayerwiseQuantizer({ bits, adapt: { warmup: [1], every: 0 } });
  // Global: one type for everything, levels solved on the pooled statistics.
  const global = new LayerwiseQuantizer({
    bits,
    adapt: { warmup: [1], every: 0 },
    typeMap: new LayerTypeMap([{ match: () => true, type: "global" }]),
  });
  const uniform = new LayerwiseQuantizer({ bits, adapt: false });
  for (const { info, v } of layers) {
    perType.quantize(v, new Rng(1), info);
    global.quantize(v, new Rng(1), info);
  }
  perType.maybeAdapt(1);
  global.maybeAdapt(1);
  let vLayer = 0, vGlobal = 0, vUniform = 0;
  for (const { info, v } of layers) {
    vLayer += perType.expectedVariance(v, info);
    vGlobal += global.expectedVariance(v, info);
    vUniform += uniform.expectedVariance(v, info);
  }
  assert.ok(vLayer <= vGlobal, `layer-wise ${vLayer} > global ${vGlobal}`);
  assert.ok(vGlobal < vUniform, `global adapted ${vGlobal} ≥ uniform ${vUniform}`);
});

Deno.test("measured ε_Q per layer type equals Σ‖Q(v) − v‖² / Σ‖v‖²", () => {
  const q = new LayerwiseQuantizer({ bits: 4, adapt: false });
  const rng = new Rng(2);
  let err = 0, norm = 0;
  for (let k = 0; k < 5; k++) {
    const v = gaussian(2000, 100 + k);
    const back = q.dequantize(q.quantize(v, rng, CONV));
    for (let i = 0; i < v.length; i++) {
      err += (back[i] - v[i]) ** 2;
      norm += v[i] ** 2;
    }
    q.quantize(skewed(100, k), rng, DENSE);
  }
  const e = q.eps.get("conv");
  assert.equal(e.count, 5);
  // The kernel sums squared errors in float32 within each bucket (≤ 256 terms
  // per SIMD lane), so agreement is to about 1e-6 relative; 1e-5 is the bound.
  assert.ok(Math.abs(e.eps - err / norm) < 1e-5 * (err / norm), `${e.eps} vs ${err / norm}`);
  // Uniform 4-bit levels on 1024-buckets: ε_Q ≤ √d/s = 32/7 (the QSGD bound).
  assert.ok(e.eps > 0 && e.eps <= 32 / 7, `eps ${e.eps}`);
  assert.equal(q.eps.get("dense").count, 5);
});

Deno.test("setLevels and loadTable validate and round-trip", () => {
  const q = new LayerwiseQuantizer({ bits: 3, bitsByType: { bias: 4 } });
  q.setLevels("dense", [0, 0.1, 0.5, 1]);
  assert.throws(() => q.setLevels("dense", [0, 0.5, 0.4, 1]), /strictly increasing/);
  assert.throws(() => q.setLevels("dense", [0, 0.5, 1]), /expected 4 levels/);
  assert.throws(() => q.setLevels("dense", [0.1, 0.2, 0.5, 1]), /start at 0/);
  assert.equal(q.levelsOf("bias").length, 8);
  const copy = new LayerwiseQuantizer({ bits: 3, bitsByType: { bias: 4 } });
  copy.loadTable(q.table());
  assert.deepEqual(copy.table(), q.table());
  const v = gaussian(100, 3);
  const a = q.quantize(v, new Rng(9), DENSE);
  const b = copy.quantize(v, new Rng(9), DENSE);
  assert.deepEqual(a.codes, b.codes);
  assert.deepEqual(a.levels, b.levels);
});

Deno.test("layerwise rejects bad input naming the layer", () => {
  const q = new LayerwiseQuantizer({ bits: 4 });
  const v = gaussian(3000, 1);
  v[2500] = Infinity;
  assert.throws(() => q.quantize(v, new Rng(1), CONV), (e: unknown) => {
    assert.ok(e instanceof NonFiniteError);
    assert.equal(e.index, 2500);
    assert.match(e.message, /conv2d_1\/kernel/);
    return true;
  });
  assert.throws(() => new LayerwiseQuantizer({ bits: 0 }), QuantizationError);
  assert.throws(() => new LayerwiseQuantizer({ bitsByType: { bias: 20 } }), /type bias/);
  assert.throws(() => new LayerwiseQuantizer({ normQ: 0.5 }), /≥ 1/);
});

Deno.test("exponential levels stay strictly increasing at every width", () => {
  for (let bits = 2; bits <= 16; bits++) {
    const l = exponentialLevels(bits);
    assert.equal(l[0], 0);
    assert.equal(l[l.length - 1], 1);
    for (let i = 1; i < l.length; i++) assert.ok(l[i] > l[i - 1], `bits ${bits} at ${i}`);
  }
});

Deno.test("layerwise with an L^3 norm (TypeScript path) is unbiased and within its bound", () => {
  const q = new LayerwiseQuantizer({ bits: 4, bucketSize: 256, normQ: 3, adapt: false });
  const v = skewed(2000, 77);
  const s = draw(q, v, 400, new Rng(8), DENSE);
  assertUnbiased(s, q.expectedVariance(v, DENSE), q.varianceBound(v, DENSE));
  const b = q.quantize(v, new Rng(1), DENSE);
  let n3 = 0;
  for (let i = 0; i < 256; i++) n3 += Math.abs(v[i]) ** 3;
  assert.ok(Math.abs(b.meta[0] - Math.cbrt(n3)) <= 1e-6 * b.meta[0]);
});

Deno.test("layerwise infers types from shapes and rejects a shape that does not fit", () => {
  const q = new LayerwiseQuantizer({ bits: 3, adapt: false });
  const rng = new Rng(1);
  q.quantize(gaussian(12, 1), rng, { name: "k", shape: [3, 4] });
  q.quantize(gaussian(72, 2), rng, { name: "c", shape: [3, 3, 2, 4] });
  q.quantize(gaussian(4, 3), rng, { name: "b", shape: [4] });
  assert.deepEqual(Object.keys(q.eps.snapshot()).sort(), ["bias", "conv", "dense"]);
  assert.throws(
    () => q.quantize(gaussian(100, 4), rng, { name: "dense_2/kernel", shape: [64, 64] }),
    /dense_2\/kernel.*shape \[64, 64\] holds 4096 values but the tensor has 100/,
  );
  assert.throws(
    () => q.quantize(gaussian(4, 4), rng, { name: "x", shape: [2, -2] }),
    /bad dimension/,
  );
});

import assert from "node:assert/strict";
import { MaxMinQuantizer, PsqQuantizer, PtqQuantizer } from "../../../runtime/quant/max_min.ts";
import { affineUnit, codeBits } from "../../../runtime/quant/_affine.ts";
import { NonFiniteError, QuantizationError } from "../../../runtime/errors.ts";
import { Rng } from "../../../runtime/rng.ts";
import type { Quantized, Quantizer, QuantizeStats } from "../../../runtime/quant/types.ts";

/** An N×D gradient-like matrix: row r has scale 10^((r mod 5) − 2), plus a per-row offset. */
function matrix(N: number, D: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const v = new Float32Array(N * D);
  for (let r = 0; r < N; r++) {
    const scale = 10 ** ((r % 5) - 2);
    const offset = rng.normal() * scale;
    for (let d = 0; d < D; d++) v[r * D + d] = offset + scale * rng.normal();
  }
  return v;
}

/**
 * Per-coordinate variance unit²·f(1 − f) and largest single-draw deviation
 * (unit) of stochastic affine rounding, from a block's [unit, min] pairs.
 */
function affineCoordStats(
  v: Float32Array,
  b: Quantized,
): { sigma2: Float64Array; m: Float64Array } {
  const sigma2 = new Float64Array(v.length), m = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const k = Math.floor(i / b.bucketSize);
    const unit = b.meta[2 * k], mn = b.meta[2 * k + 1];
    if (unit === 0) continue;
    const y = (v[i] - mn) / unit;
    const f = y - Math.floor(y);
    sigma2[i] = unit * unit * f * (1 - f);
    m[i] = unit;
  }
  return { sigma2, m };
}

/**
 * Mean of K draws of Q(v). Returns the largest ratio |mean_i − v_i| / tol_i
 * with tol_i = c·σ_i/√K + c²·M_i/(3K) + floatTol. By Bernstein's inequality
 * (each draw deviates by at most M_i, variance σ_i²),
 * P(|mean_i − v_i| ≥ c·σ_i/√K + c²M_i/(3K)) ≤ 2·exp(−c²/2); with c = 6 that
 * is 3e-8 per coordinate, so a union bound over a few thousand coordinates
 * still leaves a false-failure probability below 1e-4. floatTol allows the
 * float32 rounding of each reconstructed value (a few ulps of the largest
 * magnitude involved).
 */
function worstBiasRatio(
  q: Quantizer,
  v: Float32Array,
  K: number,
  rng: Rng,
  sigma2: Float64Array,
  m: Float64Array,
  floatTol: number,
  c = 6,
): number {
  const n = v.length;
  const sum = new Float64Array(n);
  const out = new Float32Array(n);
  for (let k = 0; k < K; k++) {
    q.dequantize(q.quantize(v, rng), out);
    for (let i = 0; i < n; i++) sum[i] += out[i];
  }
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const tol = c * Math.sqrt(sigma2[i] / K) + c * c * m[i] / (3 * K) + floatTol;
    worst = Math.max(worst, Math.abs(sum[i] / K - v[i]) / tol);
  }
  return worst;
}

/**
 * K draws of ‖Q(v) − v‖² (from the stats argument, checked against an
 * explicit dequantization on the first draw). Returns the mean and its
 * standard error (sample standard deviation / √K).
 */
function sqErrorDraws(
  q: Quantizer,
  v: Float32Array,
  K: number,
  rng: Rng,
): { mean: number; se: number } {
  const st: QuantizeStats = { sqError: 0, sqNorm: 0 };
  let s = 0, s2 = 0;
  for (let k = 0; k < K; k++) {
    const b = q.quantize(v, rng, undefined, st);
    if (k === 0) {
      const back = q.dequantize(b);
      let e = 0, nn = 0;
      for (let i = 0; i < v.length; i++) {
        e += (back[i] - v[i]) ** 2;
        nn += v[i] * v[i];
      }
      assert.ok(Math.abs(st.sqError - e) <= 1e-9 * e + 1e-30, `stats ${st.sqError} vs ${e}`);
      assert.ok(Math.abs(st.sqNorm - nn) <= 1e-12 * nn, `sqNorm ${st.sqNorm} vs ${nn}`);
    }
    s += st.sqError;
    s2 += st.sqError * st.sqError;
  }
  const mean = s / K;
  const sd = Math.sqrt(Math.max(0, (s2 - K * mean * mean) / (K - 1)));
  return { mean, se: sd / Math.sqrt(K) };
}

function maxAbs(v: Float32Array): number {
  let m = 0;
  for (const x of v) m = Math.max(m, Math.abs(x));
  return m;
}

const KNOWN = new Float32Array([0, 0.5, 1, 0, 50, 100]);

Deno.test("known answer: psq is exact on [[0, .5, 1], [0, 50, 100]] with 2 bins", () => {
  const q = new PsqQuantizer({ bits: 2, bins: 2, rowLength: 3 });
  assert.equal(q.expectedVariance(KNOWN), 0);
  assert.equal(q.varianceBound(KNOWN), 3 * 0.25 / 4 + 3 * 2500 / 4);
  const rng = new Rng(1);
  const st: QuantizeStats = { sqError: -1, sqNorm: 0 };
  for (let k = 0; k < 200; k++) {
    const b = q.quantize(KNOWN, rng, undefined, st);
    assert.deepEqual(Array.from(b.meta), [0.5, 0, 50, 0]);
    assert.deepEqual(Array.from(q.dequantize(b)), Array.from(KNOWN));
    assert.equal(st.sqError, 0);
  }
  assert.equal(st.sqNorm, 0.25 + 1 + 2500 + 10000);
});

Deno.test("known answer: ptq expected variance is 73.75 and the draws agree", () => {
  const q = new PtqQuantizer({ bits: 2, bins: 2 });
  const exp = q.expectedVariance(KNOWN);
  assert.ok(Math.abs(exp - 73.75) <= 1e-9 * 73.75, `expected variance ${exp}`);
  // Only 0.5 (f = .01) and 1 (f = .02) are off the grid (unit 50). Per draw,
  // Var(ε²) = unit⁴·Σ f(1−f)(1−2f)² = 2500²·(.01·.99·.98² + .02·.98·.96²)
  // ≈ 1.723e5, so the mean of K = 200000 draws has standard error
  // √(1.723e5/2e5) ≈ 0.93. Tolerance: 5 standard errors = 4.64.
  const K = 200_000;
  const rng = new Rng(2);
  const st: QuantizeStats = { sqError: 0, sqNorm: 0 };
  let sum = 0;
  for (let k = 0; k < K; k++) {
    q.quantize(KNOWN, rng, undefined, st);
    sum += st.sqError;
  }
  const mean = sum / K;
  assert.ok(Math.abs(mean - 73.75) <= 4.64, `empirical ${mean} vs 73.75`);
});

Deno.test("affine grid: unit rounded up to float32, min per bucket, short last bucket", () => {
  assert.equal(affineUnit(0, 15), 0);
  for (const [range, bins] of [[1, 3], [0.1, 7], [1e-30, 255], [12345.678, 65535]]) {
    const u = affineUnit(range, bins);
    assert.equal(u, Math.fround(u));
    assert.ok(u * bins >= range, `unit ${u}·${bins} < ${range}`);
    assert.ok(u <= (range / bins) * (1 + 2 ** -22), `unit ${u} too large`);
  }
  const q = new MaxMinQuantizer({ bits: 3, bucketSize: 4 });
  const v = new Float32Array([1, 2, 3, 4, -1, 0, 5, 1, 7, 7]);
  const b = q.quantize(v, new Rng(3));
  assert.equal(b.meta.length, 6);
  assert.deepEqual(Array.from(b.meta.filter((_, i) => i % 2 === 1)), [1, -1, 7]);
  assert.equal(b.meta[4], 0); // constant last bucket: unit 0, exact
  assert.equal(b.codes[8], 0);
  assert.equal(b.bits, 3);
  assert.equal(b.bins, 7);
  const back = q.dequantize(b);
  assert.equal(back[8], 7);
  assert.equal(back[9], 7);
  for (let i = 0; i < v.length; i++) assert.ok(b.codes[i] <= 7);
});

Deno.test("Quantized.bits is ceil(log2(B + 1)); custom bins are honoured", () => {
  assert.deepEqual([1, 2, 3, 4, 7, 8, 255, 65535].map(codeBits), [1, 2, 2, 3, 3, 4, 8, 16]);
  const v = matrix(4, 8, 1);
  assert.equal(new PtqQuantizer({ bits: 4, bins: 4 }).quantize(v, new Rng(1)).bits, 3);
  assert.equal(
    new PsqQuantizer({ bits: 2, bins: 65535, rowLength: 8 }).quantize(v, new Rng(1)).bits,
    16,
  );
  const one = new MaxMinQuantizer({ bits: 1 }).quantize(v, new Rng(1));
  assert.equal(one.bins, 1);
  assert.ok(one.codes.every((c) => c <= 1));
});

// Unbiasedness of the stochastic affine schemes, coordinate by coordinate
// (tolerance derived in worstBiasRatio: Bernstein with c = 6).
const UNBIASED: [string, () => Quantizer][] = [
  ["maxmin", () => new MaxMinQuantizer({ bits: 4, bucketSize: 100 })],
  ["ptq", () => new PtqQuantizer({ bits: 4 })],
  ["psq", () => new PsqQuantizer({ bits: 4, rowLength: 64 })],
];
for (const [name, make] of UNBIASED) {
  Deno.test(`${name} stochastic is unbiased: mean of 2000 draws within 6 σ/√K per coordinate`, () => {
    const q = make();
    assert.ok(q.unbiased);
    const v = matrix(16, 64, 7);
    const { sigma2, m } = affineCoordStats(v, q.quantize(v, new Rng(0)));
    const worst = worstBiasRatio(q, v, 2000, new Rng(8), sigma2, m, 1e-6 * maxAbs(v));
    assert.ok(worst <= 1, `worst |mean − v|/tol = ${worst}`);
  });
}

Deno.test("the per-coordinate bias check has power: nearest rounding fails it", () => {
  const q = new MaxMinQuantizer({ bits: 4, bucketSize: 100, rounding: "nearest" });
  assert.equal(q.unbiased, false);
  const v = matrix(16, 64, 7);
  const { sigma2, m } = affineCoordStats(v, q.quantize(v, new Rng(0)));
  const worst = worstBiasRatio(q, v, 2000, new Rng(8), sigma2, m, 1e-6 * maxAbs(v));
  // A bias of up to unit/2 against a tolerance of about 0.07 units: ratios far above 1.
  assert.ok(worst > 3, `nearest rounding passed the bias check (${worst})`);
});

// Empirical variance vs expectedVariance and varianceBound. Tolerance: 5
// standard errors of the mean of K = 400 draws (sample standard deviation
// of ‖Q(v) − v‖² / √K), plus 1e-6 relative for float rounding.
for (const bits of [2, 4, 8]) {
  const schemes: [string, Quantizer][] = [
    ["maxmin", new MaxMinQuantizer({ bits, bucketSize: 256 })],
    ["ptq", new PtqQuantizer({ bits })],
    ["psq", new PsqQuantizer({ bits, rowLength: 100 })],
  ];
  for (const [name, q] of schemes) {
    Deno.test(`${name} ${bits}-bit: empirical variance ≈ expectedVariance ≤ varianceBound`, () => {
      const v = matrix(20, 100, 100 + bits);
      const exp = q.expectedVariance(v);
      const bound = q.varianceBound(v);
      assert.ok(exp > 0 && exp <= bound, `expected ${exp}, bound ${bound}`);
      const { mean, se } = sqErrorDraws(q, v, 400, new Rng(bits));
      assert.ok(
        Math.abs(mean - exp) <= 5 * se + 1e-6 * exp,
        `empirical ${mean} vs expected ${exp} (se ${se})`,
      );
      assert.ok(mean <= bound, `empirical ${mean} > bound ${bound}`);
    });
  }
}

Deno.test("psq ≤ ptq: per-row ranges never exceed the tensor's range", () => {
  const v = matrix(20, 100, 5);
  const psq = new PsqQuantizer({ bits: 4, rowLength: 100 });
  const ptq = new PtqQuantizer({ bits: 4 });
  assert.ok(psq.varianceBound(v) <= ptq.varianceBound(v));
  assert.ok(psq.expectedVariance(v) < ptq.expectedVariance(v));
});

for (
  const [name, make] of [
    ["maxmin", () => new MaxMinQuantizer({ bits: 3, bucketSize: 50, rounding: "nearest" })],
    ["ptq", () => new PtqQuantizer({ bits: 3, rounding: "nearest" })],
  ] as [string, () => Quantizer][]
) {
  Deno.test(`${name} nearest: deterministic, error within unit/2, expectedVariance is the error`, () => {
    const q = make();
    const v = matrix(10, 50, 9);
    const r1 = new Rng(1), r2 = new Rng(2);
    const st: QuantizeStats = { sqError: 0, sqNorm: 0 };
    const b1 = q.quantize(v, r1, undefined, st);
    const b2 = q.quantize(v, r2);
    assert.deepEqual(b1.codes, b2.codes);
    assert.deepEqual(b1.meta, b2.meta);
    assert.equal(r1.nextU32(), new Rng(1).nextU32(), "nearest rounding must not draw randomness");
    const back = q.dequantize(b1);
    let worst = 0, sq = 0;
    for (let i = 0; i < v.length; i++) {
      const k = Math.floor(i / b1.bucketSize);
      const unit = b1.meta[2 * k];
      const e = Math.abs(back[i] - v[i]);
      // unit/2 from rounding, plus half an ulp from the float32 reconstruction.
      assert.ok(e <= unit / 2 + 2 ** -24 * Math.abs(v[i]) * 2, `error ${e} > unit/2 at ${i}`);
      worst = Math.max(worst, e / unit);
      sq += e * e;
    }
    assert.ok(worst > 0.25, `nearest rounding should be visibly biased (worst ${worst} units)`);
    assert.ok(Math.abs(q.expectedVariance(v) - sq) <= 1e-9 * sq);
    assert.ok(Math.abs(st.sqError - sq) <= 1e-9 * sq);
    assert.ok(q.varianceBound(v) >= sq);
  });
}

Deno.test("psq row length comes from rowLength or layer.shape, else a QuantizationError", () => {
  const v = matrix(3, 4, 2);
  const q = new PsqQuantizer({ bits: 4 });
  assert.equal(q.quantize(v, new Rng(1), { name: "w", shape: [3, 2, 2] }).bucketSize, 4);
  assert.equal(q.quantize(v, new Rng(1), { name: "b", shape: [12] }).bucketSize, 12);
  assert.throws(() => q.quantize(v, new Rng(1), { name: "conv/k" }), (e: unknown) => {
    assert.ok(e instanceof QuantizationError);
    assert.equal(e.layer, "conv/k");
    assert.match(e.message, /row length unknown.*12/);
    return true;
  });
  const q5 = new PsqQuantizer({ bits: 4, rowLength: 5 });
  assert.throws(() => q5.quantize(v, new Rng(1), { name: "fc2/kernel" }), (e: unknown) => {
    assert.ok(e instanceof QuantizationError);
    assert.equal(e.layer, "fc2/kernel");
    assert.match(e.message, /fc2\/kernel.*length 12 is not a multiple of the row length 5/);
    return true;
  });
  assert.throws(() => q5.expectedVariance(v, { name: "x" }), QuantizationError);
});

Deno.test("bad input: NaN/Inf, bits, bins, rounding, out length, corrupt blocks", () => {
  const v = matrix(2, 5, 4);
  v[5] = NaN;
  const all: Quantizer[] = [
    new MaxMinQuantizer({ bits: 4, bucketSize: 3 }),
    new PtqQuantizer({ bits: 4 }),
    new PsqQuantizer({ bits: 4, rowLength: 5 }),
  ];
  for (const q of all) {
    for (const bad of [NaN, Infinity, -Infinity]) {
      v[5] = bad;
      assert.throws(() => q.quantize(v, new Rng(1), { name: "fc1/kernel" }), (e: unknown) => {
        assert.ok(e instanceof NonFiniteError, `${q.scheme}: ${e}`);
        assert.equal(e.index, 5);
        assert.equal(e.layer, "fc1/kernel");
        assert.match(e.message, /fc1\/kernel.*index 5/);
        return true;
      });
      assert.throws(() => q.expectedVariance(v, { name: "fc1/kernel" }), NonFiniteError);
    }
  }
  for (const bits of [0, 17, 2.5]) {
    assert.throws(() => new MaxMinQuantizer({ bits }), QuantizationError);
    assert.throws(() => new PtqQuantizer({ bits }), QuantizationError);
    assert.throws(() => new PsqQuantizer({ bits }), /bits must be an integer in 1\.\.16/);
  }
  for (const bins of [0, 65536, 2.5]) {
    assert.throws(() => new PtqQuantizer({ bits: 4, bins }), /bins must be an integer/);
    assert.throws(() => new PsqQuantizer({ bits: 4, bins }), QuantizationError);
  }
  assert.throws(() => new MaxMinQuantizer({ bits: 4, bucketSize: 0 }), QuantizationError);
  assert.throws(
    () => new PtqQuantizer({ bits: 4, rounding: "up" as "nearest" }),
    QuantizationError,
  );
  const w = matrix(2, 5, 4);
  for (const q of all) {
    const b = q.quantize(w, new Rng(1));
    assert.throws(() => q.dequantize(b, new Float32Array(9)), /output buffer has length 9/);
    assert.throws(() => q.dequantize({ ...b, codes: new Uint16Array(3) }), QuantizationError);
    assert.throws(() => q.dequantize({ ...b, meta: new Float32Array(1) }), QuantizationError);
    const hi = b.codes.slice();
    hi[2] = b.bins + 1;
    assert.throws(() => q.dequantize({ ...b, codes: hi }), /exceeds bins/);
    const other = q.scheme === "ptq" ? "psq" : "ptq";
    assert.throws(() => q.dequantize({ ...b, scheme: other }), /expected a/);
    assert.deepEqual(q.dequantize(b, new Float32Array(10)), q.dequantize(b));
  }
});

Deno.test("empty vectors quantize to empty blocks", () => {
  const e = new Float32Array(0);
  for (
    const q of [
      new MaxMinQuantizer({ bits: 4 }),
      new PtqQuantizer({ bits: 4 }),
      new PsqQuantizer({ bits: 4, rowLength: 3 }),
    ]
  ) {
    const b = q.quantize(e, new Rng(1));
    assert.equal(b.meta.length, 0);
    assert.equal(q.dequantize(b).length, 0);
    assert.equal(q.expectedVariance(e), 0);
  }
});

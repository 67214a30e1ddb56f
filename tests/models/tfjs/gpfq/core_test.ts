import assert from "node:assert/strict";
import {
  alphabetForKernel,
  alphabetFromMaxima,
  alphabetLevels,
  nearestLevel,
  neuronMaxAbs,
  roundToNearest,
} from "../../../../models/tfjs/gpfq/alphabet.ts";
import {
  accumulateGram,
  createGram,
  gpfqGram,
  gpfqResidual,
  relativeError,
} from "../../../../models/tfjs/gpfq/core.ts";
import { correctedBias, meansFromSums } from "../../../../models/tfjs/gpfq/bias.ts";
import { levelCodes } from "../../../../models/tfjs/gpfq/export.ts";
import { dequantizeCodes } from "../../../../models/tfjs/io.ts";
import { Rng } from "../../../../runtime/rng.ts";

const UNIT = { delta: 1, K: 1 }; // alphabet {−1, 0, 1}

/** u_N0 = XW − X̃Q for a single neuron (row-major X, m × n0). */
function residual(X: number[], Xt: number[], m: number, w: number[], q: Int32Array): number[] {
  const n0 = w.length;
  const out: number[] = [];
  for (let s = 0; s < m; s++) {
    let r = 0;
    for (let t = 0; t < n0; t++) r += X[s * n0 + t] * w[t] - Xt[s * n0 + t] * q[t];
    out.push(r);
  }
  return out;
}

function gaussian(n: number, rng: Rng): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  return v;
}

Deno.test("alphabetFromMaxima() gives δ = 0.10875 and 17 levels up to 0.87 (b = 4, C = 1.16)", () => {
  const a = alphabetFromMaxima(new Float64Array([0.5, 1.0]), 4, 1.16);
  assert.ok(Math.abs(a.delta - 0.10875) < 1e-12, `δ = ${a.delta}`);
  assert.equal(a.K, 8);
  assert.equal(a.size, 17);
  const levels = alphabetLevels(a);
  assert.equal(levels.length, 17);
  assert.ok(Math.abs(levels[16] - 0.87) < 1e-12);
  assert.ok(Math.abs(levels[0] + 0.87) < 1e-12);
  assert.equal(levels[8], 0);
  // The same from a kernel whose neurons (columns) have those maxima.
  const w = new Float32Array([0.5, -0.25, -0.1, 1.0]); // [[0.5, −0.25], [−0.1, 1.0]]
  assert.deepEqual([...neuronMaxAbs(w, 2, 2)], [0.5, 1.0]);
  assert.equal(alphabetForKernel(w, 2, 2, 4, 1.16).delta, a.delta);
});

Deno.test("alphabetFromMaxima() rejects bad bits and scalars, naming the value", () => {
  assert.throws(() => alphabetFromMaxima([1], 0, 1), /bits must be an integer in 1..16, got 0/);
  assert.throws(() => alphabetFromMaxima([1], 2.5, 1), /got 2.5/);
  assert.throws(() => alphabetFromMaxima([1], 4, 0), /scalar C must be a finite number > 0, got 0/);
  assert.throws(() => alphabetFromMaxima([], 4, 1), /empty/);
  assert.throws(() => neuronMaxAbs(new Float32Array(5), 2, 2), /5 entries, expected 2 × 2 = 4/);
});

Deno.test("nearestLevel() is odd, rounds halves away from zero and clamps to ±K", () => {
  for (const z of [0.49, 0.5, 1.5, 2.5, 3.7, 100]) {
    assert.equal(nearestLevel(-z, 1, 3), -nearestLevel(z, 1, 3));
  }
  assert.equal(nearestLevel(0.5, 1, 3), 1);
  assert.equal(nearestLevel(0.49, 1, 3), 0);
  assert.equal(nearestLevel(100, 1, 3), 3);
  assert.equal(nearestLevel(-0.26, 0.5, 3), -1);
});

Deno.test("GPFQ known answer: X = X̃ = [[1, 1]], w = [0.4, 0.4] gives q = [0, 1], RTN [0, 0]", () => {
  const X = new Float32Array([1, 1]);
  const w = new Float32Array([0.4, 0.4]);
  const q = gpfqResidual(X, X, 1, w, 2, 1, UNIT);
  assert.deepEqual([...q], [0, 1]);
  const r = residual([1, 1], [1, 1], 1, [0.4, 0.4], q);
  assert.ok(Math.abs(r[0] + 0.2) < 1e-7, `residual ${r[0]}`);
  const rtn = roundToNearest(w, { ...alphabetFromMaxima([1], 1, 1) });
  assert.deepEqual([...rtn], [0, 0]); // residual 0.8
  const g = gpfqGram(accumulateGram(createGram(2), X, X, 1), w, 1, UNIT);
  assert.deepEqual([...g], [0, 1]);
});

Deno.test("GPFQ known answer: X̃ = [[1, 0.5]] (mismatched) gives q = [0, 1], residual 0.3", () => {
  const X = new Float32Array([1, 1]);
  const Xt = new Float32Array([1, 0.5]);
  const w = new Float32Array([0.4, 0.4]);
  const q = gpfqResidual(X, Xt, 1, w, 2, 1, UNIT);
  assert.deepEqual([...q], [0, 1]);
  assert.ok(Math.abs(residual([1, 1], [1, 0.5], 1, [0.4, 0.4], q)[0] - 0.3) < 1e-7);
  assert.deepEqual([...gpfqGram(accumulateGram(createGram(2), X, Xt, 1), w, 1, UNIT)], [0, 1]);
});

Deno.test("GPFQ with orthogonal X = X̃ is round-to-nearest", () => {
  // X = diag(d) · (a permutation-free orthonormal basis): columns orthogonal, varied norms.
  const rng = new Rng(3);
  const n0 = 6, n1 = 20;
  // A random orthogonal 6×6 matrix from Gram–Schmidt, columns scaled.
  const cols: number[][] = [];
  for (let c = 0; c < n0; c++) {
    let v = Array.from({ length: n0 }, () => rng.normal());
    for (const u of cols) {
      const dot = v.reduce((s, x, i) => s + x * u[i], 0);
      v = v.map((x, i) => x - dot * u[i]);
    }
    const norm = Math.hypot(...v);
    cols.push(v.map((x) => x / norm));
  }
  const X = new Float32Array(n0 * n0);
  for (let s = 0; s < n0; s++) for (let t = 0; t < n0; t++) X[s * n0 + t] = cols[t][s] * (t + 1);
  const W = new Float32Array(n0 * n1).map(() => 2 * rng.nextFloat() - 1);
  const a = alphabetForKernel(W, n0, n1, 3, 1.16);
  const rtn = roundToNearest(W, a);
  assert.deepEqual([...gpfqResidual(X, X, n0, W, n0, n1, a)], [...rtn]);
  // The Gram form: H = G = diag(norm²) up to float32 rounding of X, which never flips a level
  // here (no weight sits within 1e-6 of a rounding boundary).
  assert.deepEqual([...gpfqGram(accumulateGram(createGram(n0), X, X, n0), W, n1, a)], [...rtn]);
});

Deno.test("gpfqGram() equals gpfqResidual() on random data, X̃ ≠ X, several shapes", () => {
  const rng = new Rng(11);
  for (
    const [m, n0, n1, bits] of [[50, 12, 7, 2], [8, 40, 5, 3], [200, 30, 16, 4], [64, 64, 3, 8]]
  ) {
    const X = gaussian(m * n0, rng);
    const Xt = X.map((x) => x + 0.1 * rng.normal());
    // ReLU-like sparsity in some columns, and one all-zero column of X̃.
    for (let s = 0; s < m; s++) {
      Xt[s * n0] = 0;
      if (X[s * n0 + 1] < 0) X[s * n0 + 1] = Xt[s * n0 + 1] = 0;
    }
    const W = gaussian(n0 * n1, rng).map((w) => 0.3 * w);
    const a = alphabetForKernel(W, n0, n1, bits, 1.16);
    const res = gpfqResidual(X, Xt, m, W, n0, n1, a);
    // Accumulate the Gram matrices in two uneven chunks: the result must not depend on it.
    const gram = createGram(n0);
    const cut = Math.floor(m / 3);
    accumulateGram(gram, X.subarray(0, cut * n0), Xt.subarray(0, cut * n0), cut);
    accumulateGram(gram, X.subarray(cut * n0), Xt.subarray(cut * n0), m - cut);
    assert.equal(gram.count, m);
    const fast = gpfqGram(gram, W, n1, a);
    assert.deepEqual([...fast], [...res], `m=${m} n0=${n0} n1=${n1} b=${bits}`);
    // And it beats round-to-nearest on the data it was fitted on.
    const eG = relativeError(X, Xt, m, W, fast, n0, n1, a.delta);
    const eR = relativeError(X, Xt, m, W, roundToNearest(W, a), n0, n1, a.delta);
    assert.ok(eG < eR, `gpfq ${eG} vs rtn ${eR}`);
  }
});

Deno.test("GPFQ error falls ~4× per 4× more inputs N0 (Gaussian X, m = 32); RTN stays flat", () => {
  const m = 32, n1 = 8, bits = 2;
  const gp: number[] = [], rt: number[] = [];
  for (const n0 of [64, 256, 1024, 4096]) {
    const rng = new Rng(1000 + n0);
    const X = gaussian(m * n0, rng);
    const W = new Float32Array(n0 * n1).map(() => 2 * rng.nextFloat() - 1);
    const a = alphabetForKernel(W, n0, n1, bits, 1.16);
    gp.push(relativeError(X, X, m, W, gpfqResidual(X, X, m, W, n0, n1, a), n0, n1, a.delta));
    rt.push(relativeError(X, X, m, W, roundToNearest(W, a), n0, n1, a.delta));
  }
  // Measured: 4.3e-2, 1.1e-2, 2.8e-3, 6.2e-4 (ratios 3.8, 4.0, 4.5); RTN 0.083–0.107.
  for (let i = 1; i < gp.length; i++) {
    const ratio = gp[i - 1] / gp[i];
    assert.ok(ratio > 3 && ratio < 5.5, `ratio ${ratio} at step ${i}: ${gp}`);
  }
  assert.ok(gp[0] / gp[3] > 40, `64× more inputs gave only ${gp[0] / gp[3]}×`);
  const lo = Math.min(...rt), hi = Math.max(...rt);
  assert.ok(hi / lo < 1.5, `RTN error not flat: ${rt}`);
  assert.ok(lo > 0.05 && rt[3] > 50 * gp[3], `RTN ${rt} vs GPFQ ${gp}`);
});

Deno.test("gpfqGram() and gpfqResidual() reject shape mismatches naming both sizes", () => {
  const X = new Float32Array(6);
  assert.throws(
    () => gpfqResidual(X, X, 2, new Float32Array(7), 3, 2, UNIT),
    /kernel W has 7 entries, expected 3 × 2 = 6/,
  );
  assert.throws(
    () => gpfqResidual(X, new Float32Array(4), 2, new Float32Array(6), 3, 2, UNIT),
    /X̃/,
  );
  assert.throws(() => gpfqGram(createGram(3), new Float32Array(5), 2, UNIT), /expected 3 × 2/);
});

Deno.test("correctedBias() restores the float layer's mean output on the calibration data", () => {
  const rng = new Rng(5);
  const m = 400, n0 = 10, n1 = 4;
  const X = gaussian(m * n0, rng).map((x) => x + 1);
  const Xt = X.map((x) => Math.max(0, x + 0.2 * rng.normal()));
  const W = gaussian(n0 * n1, rng);
  const b = gaussian(n1, rng);
  const a = alphabetForKernel(W, n0, n1, 2, 1.16);
  const gram = accumulateGram(createGram(n0), X, Xt, m);
  const Q = gpfqGram(gram, W, n1, a);
  const nb = correctedBias(
    b,
    meansFromSums(gram.sumX, m),
    meansFromSums(gram.sumXt, m),
    W,
    Q,
    a.delta,
    n0,
    n1,
  );
  for (let j = 0; j < n1; j++) {
    let yf = 0, yq = 0, yq0 = 0;
    for (let s = 0; s < m; s++) {
      let f = b[j], q = nb[j], q0 = b[j];
      for (let t = 0; t < n0; t++) {
        f += X[s * n0 + t] * W[t * n1 + j];
        q += Xt[s * n0 + t] * Q[t * n1 + j] * a.delta;
        q0 += Xt[s * n0 + t] * Q[t * n1 + j] * a.delta;
      }
      yf += f / m;
      yq += q / m;
      yq0 += q0 / m;
    }
    assert.ok(Math.abs(yf - yq) < 1e-4, `neuron ${j}: mean ${yq} vs float ${yf}`);
    // Without the correction there was a shift to remove (so the check above can fail).
    assert.ok(Math.abs(yf - yq0) > 1e-3, `neuron ${j}: nothing to correct (${yf} vs ${yq0})`);
  }
  assert.throws(
    () => correctedBias(new Float32Array(3), gram.sumX, gram.sumXt, W, Q, 1, n0, n1),
    /bias has length 3, expected 4/,
  );
});

Deno.test("levelCodes() stores levels exactly as uint8, or uint16 beyond 256 levels", () => {
  const q = new Int32Array([-8, -1, 0, 3, 8]);
  const c = levelCodes(q, 0.10875);
  assert.equal(c.dtype, "uint8");
  assert.deepEqual([...c.codes], [0, 7, 8, 11, 16]);
  const back = dequantizeCodes(c);
  for (let i = 0; i < q.length; i++) {
    assert.ok(Math.abs(back[i] - q[i] * 0.10875) < 1e-7, `${back[i]} vs ${q[i] * 0.10875}`);
  }
  const wide = new Int32Array([-128, 0, 128]); // 257 levels: 8-bit alphabet end to end
  assert.equal(levelCodes(wide, 1).dtype, "uint16");
  assert.throws(() => levelCodes(q, 0), /δ must be a finite number > 0, got 0/);
});

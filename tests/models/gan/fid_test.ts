import assert from "node:assert/strict";
import { Rng } from "../../../runtime/rng.ts";
import {
  type FeatureStats,
  featureStats,
  frechetDistance,
  sqrtPsd,
  traceSqrtProduct,
} from "../../../models/gan/fid.ts";

type Stats = Pick<FeatureStats, "dim" | "mean" | "cov">;

function stats(mean: number[], cov: number[]): Stats {
  return { dim: mean.length, mean: Float64Array.from(mean), cov: Float64Array.from(cov) };
}

/** A random orthogonal matrix (Gram–Schmidt on Gaussian rows), row-major. */
function orthogonal(n: number, rng: Rng): Float64Array {
  const q = new Float64Array(n * n).map(() => rng.normal());
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < i; k++) {
      let d = 0;
      for (let j = 0; j < n; j++) d += q[i * n + j] * q[k * n + j];
      for (let j = 0; j < n; j++) q[i * n + j] -= d * q[k * n + j];
    }
    let r = 0;
    for (let j = 0; j < n; j++) r += q[i * n + j] ** 2;
    for (let j = 0; j < n; j++) q[i * n + j] /= Math.sqrt(r);
  }
  return q;
}

/** Q·diag(d)·Qᵀ. */
function conjugate(q: Float64Array, d: number[]): Float64Array {
  const n = d.length;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[i * n + k] * d[k] * q[j * n + k];
      out[i * n + j] = s;
    }
  }
  return out;
}

/** A random SPD matrix A·Aᵀ + 0.1·I. */
function randomSpd(n: number, rng: Rng): Float64Array {
  const a = new Float64Array(n * n).map(() => rng.normal());
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let v = i === j ? 0.1 : 0;
      for (let k = 0; k < n; k++) v += a[i * n + k] * a[j * n + k];
      s[i * n + j] = v;
    }
  }
  return s;
}

Deno.test("frechetDistance() of 1-D Gaussians is (μ1 − μ2)² + (σ1 − σ2)²", () => {
  for (const [m1, v1, m2, v2] of [[0, 1, 3, 4], [1, 0.25, 1, 9], [-2, 2, 5, 2]]) {
    const want = (m1 - m2) ** 2 + (Math.sqrt(v1) - Math.sqrt(v2)) ** 2;
    const got = frechetDistance(stats([m1], [v1]), stats([m2], [v2]));
    assert.ok(Math.abs(got - want) < 1e-12 * (1 + want), `${got} vs ${want}`);
  }
});

Deno.test("frechetDistance() of diagonal covariances sums per-coordinate terms", () => {
  const a = stats([1, 2, 3], [1, 0, 0, 0, 4, 0, 0, 0, 9]);
  const b = stats([0, 2, 5], [4, 0, 0, 0, 4, 0, 0, 0, 1]);
  const want = 1 + 0 + 4 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2;
  assert.ok(Math.abs(frechetDistance(a, b) - want) < 1e-10);
});

Deno.test("frechetDistance() of rotated commuting covariances is Σ(√a − √b)² + ‖Δμ‖²", () => {
  const rng = new Rng(3);
  const n = 12;
  const q = orthogonal(n, rng);
  const da = Array.from({ length: n }, () => 0.1 + 3 * rng.nextFloat());
  const db = Array.from({ length: n }, () => 0.1 + 3 * rng.nextFloat());
  const ma = Array.from({ length: n }, () => rng.normal());
  const mb = Array.from({ length: n }, () => rng.normal());
  let want = 0;
  for (let i = 0; i < n; i++) {
    want += (ma[i] - mb[i]) ** 2 + (Math.sqrt(da[i]) - Math.sqrt(db[i])) ** 2;
  }
  const got = frechetDistance(
    { dim: n, mean: Float64Array.from(ma), cov: conjugate(q, da) },
    { dim: n, mean: Float64Array.from(mb), cov: conjugate(q, db) },
  );
  assert.ok(Math.abs(got - want) < 1e-9 * (1 + want), `${got} vs ${want}`);
});

Deno.test("traceSqrtProduct() matches the 2×2 closed form for non-commuting matrices", () => {
  // For 2×2 PSD M: tr √M = √(tr M + 2√det M), with M similar to Σ1Σ2.
  const s1 = Float64Array.from([2, 0.7, 0.7, 1]);
  const s2 = Float64Array.from([0.5, -0.3, -0.3, 3]);
  const trProd = s1[0] * s2[0] + s1[1] * s2[2] + s1[2] * s2[1] + s1[3] * s2[3];
  const det = (s1[0] * s1[3] - s1[1] * s1[2]) * (s2[0] * s2[3] - s2[1] * s2[2]);
  const want = Math.sqrt(trProd + 2 * Math.sqrt(det));
  assert.ok(Math.abs(traceSqrtProduct(s1, s2, 2) - want) < 1e-12);
  assert.ok(Math.abs(traceSqrtProduct(s2, s1, 2) - want) < 1e-12);
});

Deno.test("frechetDistance() is 0 for equal statistics and symmetric otherwise (64-D)", () => {
  const rng = new Rng(9);
  const n = 64;
  const a = { dim: n, mean: new Float64Array(n).map(() => rng.normal()), cov: randomSpd(n, rng) };
  const b = { dim: n, mean: new Float64Array(n).map(() => rng.normal()), cov: randomSpd(n, rng) };
  let trace = 0;
  for (let i = 0; i < n; i++) trace += a.cov[i * n + i];
  assert.ok(frechetDistance(a, a) < 1e-9 * trace, `self distance ${frechetDistance(a, a)}`);
  const ab = frechetDistance(a, b), ba = frechetDistance(b, a);
  assert.ok(ab > 1, `distinct statistics give ${ab}`);
  assert.ok(Math.abs(ab - ba) < 1e-9 * ab, `${ab} vs ${ba}`);
});

Deno.test("sqrtPsd() squares back to the matrix", () => {
  const rng = new Rng(4);
  const n = 10;
  const s = randomSpd(n, rng);
  const r = sqrtPsd(s, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let v = 0;
      for (let k = 0; k < n; k++) v += r[i * n + k] * r[k * n + j];
      assert.ok(Math.abs(v - s[i * n + j]) < 1e-9 * (1 + Math.abs(s[i * n + j])));
    }
  }
});

Deno.test("featureStats() gives the sample mean and unbiased covariance", () => {
  const s = featureStats(Float32Array.from([1, 2, 3, 6, 5, 10]), 2); // (1,2), (3,6), (5,10)
  assert.deepEqual(Array.from(s.mean), [3, 6]);
  // x: 1,3,5 (var 4); y: 2,6,10 (var 16); cov 8
  assert.deepEqual(Array.from(s.cov), [4, 8, 8, 16]);
  assert.equal(s.count, 3);
});

Deno.test("featureStats() of Gaussian draws approaches the true Gaussian in Fréchet distance", () => {
  const rng = new Rng(11);
  const n = 4, count = 40000;
  const q = orthogonal(n, rng);
  const d = [0.5, 1, 2, 4];
  const cov = conjugate(q, d);
  const mean = Float64Array.from([1, -1, 0.5, 2]);
  const x = new Float64Array(count * n);
  for (let i = 0; i < count; i++) {
    const z = d.map((v) => Math.sqrt(v) * rng.normal());
    for (let j = 0; j < n; j++) {
      let v = mean[j];
      for (let k = 0; k < n; k++) v += q[j * n + k] * z[k];
      x[i * n + j] = v;
    }
  }
  const f = frechetDistance(featureStats(x, n), { dim: n, mean, cov });
  // The estimate's error is O(dim/count) ≈ 1e-4 here; a wrong covariance scale would give > 1e-2.
  assert.ok(f < 2e-3, `distance to the true Gaussian ${f}`);
});

Deno.test("frechetDistance() and featureStats() reject bad input with the sizes", () => {
  assert.throws(
    () => frechetDistance(stats([0], [1]), stats([0, 0], [1, 0, 0, 1])),
    /different dimensions: 1 and 2/,
  );
  assert.throws(() => featureStats(new Float64Array(5), 2), /count × 2 values.*got 5/);
  assert.throws(() => featureStats(new Float64Array(2), 2), /count ≥ 2/);
  assert.throws(() => featureStats(Float64Array.from([0, NaN, 1, 1]), 2), /non-finite/);
});

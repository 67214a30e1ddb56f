/**
 * The Fréchet distance between two Gaussians fitted to feature vectors (FID
 * when the features come from a classifier's penultimate layer), over
 * `Float64Array`s:
 *
 *     d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}
 *
 * The matrix square roots come from symmetric eigen-decompositions (cyclic
 * Jacobi, fine for a few hundred dimensions): Σ₁^{1/2} = U diag(√λ) Uᵀ, then
 * the trace term is Σ √λᵢ(Σ₁^{1/2} Σ₂ Σ₁^{1/2}), tiny negative eigenvalues
 * of these positive semi-definite matrices (rounding) counting as 0. That
 * matrix is similar to Σ₁Σ₂, so the result equals the usual
 * tr (Σ₁Σ₂)^{1/2} form.
 *
 * @module
 */
import { symmetricEigen } from "../_linalg.ts";

/** Mean and covariance of a set of feature vectors. */
export interface FeatureStats {
  /** Dimension d. */
  readonly dim: number;
  /** Number of vectors the statistics came from. */
  readonly count: number;
  /** Mean, length d. */
  readonly mean: Float64Array;
  /** Covariance (unbiased, divided by count − 1), `d × d` row-major. */
  readonly cov: Float64Array;
}

/**
 * Mean and unbiased covariance of `count` feature vectors of length `dim`
 * stored row-major in `features`.
 *
 * @param features `count × dim` values.
 * @param dim Length of each vector.
 * @returns The statistics.
 * @throws {RangeError} `features.length` not a multiple of `dim`, fewer than 2 vectors, or non-finite values.
 *
 * @example
 * ```ts
 * import { featureStats } from "./mod.ts";
 * const s = featureStats(new Float64Array([0, 0, 2, 4]), 2); // points (0, 0) and (2, 4)
 * if (s.mean.join() !== "1,2" || s.cov.join() !== "2,4,4,8") throw new Error();
 * ```
 */
export function featureStats(features: Float32Array | Float64Array, dim: number): FeatureStats {
  if (!Number.isInteger(dim) || dim < 1) {
    throw new RangeError(`dim must be a positive integer, got ${dim}`);
  }
  if (features.length % dim !== 0 || features.length < 2 * dim) {
    throw new RangeError(
      `features must hold count × ${dim} values with count ≥ 2, got ${features.length} values`,
    );
  }
  const count = features.length / dim;
  const mean = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < dim; j++) mean[j] += features[i * dim + j];
  }
  for (let j = 0; j < dim; j++) {
    mean[j] /= count;
    if (!Number.isFinite(mean[j])) {
      throw new RangeError(`features hold a non-finite value (feature ${j} has mean ${mean[j]})`);
    }
  }
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < dim; j++) row[j] = features[i * dim + j] - mean[j];
    for (let a = 0; a < dim; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      for (let b = a; b < dim; b++) cov[a * dim + b] += ra * row[b];
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = cov[a * dim + b] / (count - 1);
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  }
  return { dim, count, mean, cov };
}

/**
 * The symmetric positive semi-definite square root of `s` (`n × n`,
 * row-major, symmetric): U diag(√max(λ, 0)) Uᵀ.
 *
 * @param s A symmetric PSD matrix.
 * @param n Its size.
 * @returns The root, row-major.
 *
 * @example
 * ```ts
 * import { sqrtPsd } from "./mod.ts";
 * const r = sqrtPsd(new Float64Array([4, 0, 0, 9]), 2);
 * if (r.some((v, i) => Math.abs(v - [2, 0, 0, 3][i]) > 1e-12)) throw new Error();
 * ```
 */
export function sqrtPsd(s: Float64Array, n: number): Float64Array {
  checkSquare(s, n, "sqrtPsd");
  const { values, vectors } = symmetricEigen(s, n);
  const root = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const r = Math.sqrt(Math.max(values[k], 0));
    if (r === 0) continue;
    for (let i = 0; i < n; i++) {
      const ui = vectors[i * n + k] * r;
      if (ui === 0) continue;
      for (let j = 0; j < n; j++) root[i * n + j] += ui * vectors[j * n + k];
    }
  }
  return root;
}

/**
 * tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2} for symmetric PSD Σ₁, Σ₂ (`n × n`).
 *
 * @param s1 Σ₁.
 * @param s2 Σ₂.
 * @param n Size.
 * @returns The trace term of the Fréchet distance (≥ 0).
 */
export function traceSqrtProduct(s1: Float64Array, s2: Float64Array, n: number): number {
  checkSquare(s1, n, "traceSqrtProduct");
  checkSquare(s2, n, "traceSqrtProduct");
  const r = sqrtPsd(s1, n);
  // m = r·s2·r (symmetric up to rounding; symmetrised below).
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const rik = r[i * n + k];
      if (rik === 0) continue;
      for (let j = 0; j < n; j++) t[i * n + j] += rik * s2[k * n + j];
    }
  }
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const tik = t[i * n + k];
      if (tik === 0) continue;
      for (let j = 0; j < n; j++) m[i * n + j] += tik * r[k * n + j];
    }
  }
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = 0.5 * (m[i * n + j] + m[j * n + i]);
      m[i * n + j] = v;
      m[j * n + i] = v;
    }
  }
  const { values } = symmetricEigen(m, n);
  let tr = 0;
  for (const v of values) tr += Math.sqrt(Math.max(v, 0));
  return tr;
}

/**
 * The Fréchet distance d² between N(μ₁, Σ₁) and N(μ₂, Σ₂) (the FID, when
 * the statistics are of classifier features). Exactly 0 up to rounding for
 * equal statistics; clamped at 0.
 *
 * @param a Statistics of the first set.
 * @param b Statistics of the second set (same dimension).
 * @returns d² ≥ 0.
 * @throws {RangeError} Different dimensions.
 *
 * @example Two 1-D Gaussians: (μ₁ − μ₂)² + (σ₁ − σ₂)²
 * ```ts
 * import { frechetDistance } from "./mod.ts";
 * const a = { dim: 1, count: 2, mean: new Float64Array([0]), cov: new Float64Array([1]) };
 * const b = { dim: 1, count: 2, mean: new Float64Array([3]), cov: new Float64Array([4]) };
 * if (Math.abs(frechetDistance(a, b) - (9 + 1)) > 1e-12) throw new Error();
 * ```
 */
export function frechetDistance(
  a: Pick<FeatureStats, "dim" | "mean" | "cov">,
  b: Pick<FeatureStats, "dim" | "mean" | "cov">,
): number {
  if (a.dim !== b.dim) {
    throw new RangeError(`statistics of different dimensions: ${a.dim} and ${b.dim}`);
  }
  const n = a.dim;
  if (a.mean.length !== n || b.mean.length !== n) {
    throw new RangeError(
      `means must have length ${n}, got ${a.mean.length} and ${b.mean.length}`,
    );
  }
  let d = 0;
  for (let i = 0; i < n; i++) d += (a.mean[i] - b.mean[i]) ** 2;
  let tr = 0;
  for (let i = 0; i < n; i++) tr += a.cov[i * n + i] + b.cov[i * n + i];
  const f = d + tr - 2 * traceSqrtProduct(a.cov, b.cov, n);
  return Math.max(f, 0);
}

function checkSquare(s: Float64Array, n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1 || s.length !== n * n) {
    throw new RangeError(`${what}: need an n × n matrix with n = ${n}, got ${s.length} values`);
  }
}

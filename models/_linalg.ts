/**
 * Small dense float64 linear algebra for the test problems in `games.ts`:
 * row-major n×n matrices as `Float64Array`s. Sizes here are tens, so the
 * O(n³) textbook algorithms are plenty.
 *
 * @module
 */
import type { Rng } from "../runtime/rng.ts";

/** y = M·x for a row-major rows×cols matrix. */
export function matVec(
  m: Float64Array,
  rows: number,
  cols: number,
  x: ArrayLike<number>,
  out: Float64Array = new Float64Array(rows),
): Float64Array {
  for (let i = 0; i < rows; i++) {
    let s = 0;
    const r = i * cols;
    for (let j = 0; j < cols; j++) s += m[r + j] * x[j];
    out[i] = s;
  }
  return out;
}

/** y = Mᵀ·x for a row-major rows×cols matrix (y has length cols). */
export function matTVec(
  m: Float64Array,
  rows: number,
  cols: number,
  x: ArrayLike<number>,
  out: Float64Array = new Float64Array(cols),
): Float64Array {
  out.fill(0);
  for (let i = 0; i < rows; i++) {
    const xi = x[i];
    const r = i * cols;
    for (let j = 0; j < cols; j++) out[j] += m[r + j] * xi;
  }
  return out;
}

/** C = A·B for row-major n×k A and k×m B. */
export function matMul(
  a: Float64Array,
  b: Float64Array,
  n: number,
  k: number,
  m: number,
): Float64Array {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p];
      if (aip === 0) continue;
      for (let j = 0; j < m; j++) c[i * m + j] += aip * b[p * m + j];
    }
  }
  return c;
}

/** Euclidean norm. */
export function norm2(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

/**
 * Solves A·x = b by Gaussian elimination with partial pivoting (A is n×n,
 * row-major; neither argument is modified). Throws a RangeError when a pivot
 * is below `1e-14·max|A|` (numerically singular).
 */
export function solve(a: Float64Array, b: ArrayLike<number>, n: number): Float64Array {
  if (a.length !== n * n || b.length !== n) {
    throw new RangeError(
      `solve(): expected a ${n}×${n} matrix and ${n} values, got ${a.length} and ${b.length}`,
    );
  }
  const m = a.slice();
  const x = Float64Array.from(b);
  let scale = 0;
  for (let i = 0; i < m.length; i++) scale = Math.max(scale, Math.abs(m[i]));
  const tiny = 1e-14 * (scale || 1);
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(m[i * n + k]) > Math.abs(m[p * n + k])) p = i;
    if (!(Math.abs(m[p * n + k]) > tiny)) {
      throw new RangeError(`solve(): matrix is singular (pivot ${m[p * n + k]} in column ${k})`);
    }
    if (p !== k) {
      for (let j = k; j < n; j++) {
        const t = m[k * n + j];
        m[k * n + j] = m[p * n + j];
        m[p * n + j] = t;
      }
      const t = x[k];
      x[k] = x[p];
      x[p] = t;
    }
    const piv = m[k * n + k];
    for (let i = k + 1; i < n; i++) {
      const f = m[i * n + k] / piv;
      if (f === 0) continue;
      for (let j = k; j < n; j++) m[i * n + j] -= f * m[k * n + j];
      x[i] -= f * x[k];
    }
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i];
    for (let j = i + 1; j < n; j++) s -= m[i * n + j] * x[j];
    x[i] = s / m[i * n + i];
  }
  return x;
}

/**
 * A random n×n orthogonal matrix: modified Gram–Schmidt (applied twice) on
 * the rows of a Gaussian matrix drawn from `rng`.
 */
export function randomOrthogonal(n: number, rng: Rng): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < q.length; i++) q[i] = rng.normal();
  for (let i = 0; i < n; i++) {
    const row = q.subarray(i * n, (i + 1) * n);
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < i; k++) {
        const prev = q.subarray(k * n, (k + 1) * n);
        let d = 0;
        for (let j = 0; j < n; j++) d += row[j] * prev[j];
        for (let j = 0; j < n; j++) row[j] -= d * prev[j];
      }
    }
    const r = norm2(row);
    for (let j = 0; j < n; j++) row[j] /= r;
  }
  return q;
}

/**
 * Eigen-decomposition of a symmetric n×n matrix by cyclic Jacobi rotations:
 * S = U·diag(values)·Uᵀ, `vectors` holding the eigenvectors as columns of the
 * row-major U. Accurate to a few ulps of ‖S‖ for the small sizes used here.
 */
export function symmetricEigen(
  s: Float64Array,
  n: number,
): { values: Float64Array; vectors: Float64Array } {
  const a = s.slice();
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0, total = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const x = a[i * n + j] * a[i * n + j];
        total += x;
        if (i !== j) off += x;
      }
    }
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), sn = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - sn * akq;
          a[k * n + q] = sn * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - sn * aqk;
          a[q * n + k] = sn * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - sn * vkq;
          v[k * n + q] = sn * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, vectors: v };
}

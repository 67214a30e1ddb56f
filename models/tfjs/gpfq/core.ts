/**
 * GPFQ's greedy path following over plain typed arrays, for every neuron at once.
 *
 * Data: `X` and `X̃` are `m × N0` row-major (m samples of the layer input in the float network
 * and in the partly quantized one); the kernel `W` is `N0 × N1` row-major (inputs × neurons,
 * the Keras layout). For t = 1..N0 and every neuron j:
 *
 *   u_t = u_{t−1} + w_tj X_t − q_tj X̃_t,   q_tj = Q_A(⟨X̃_t, u_{t−1} + w_tj X_t⟩ / ‖X̃_t‖²)
 *
 * where X_t is column t and Q_A rounds to the nearest alphabet level. A column with
 * ‖X̃_t‖ = 0 does not affect X̃Q, and gets q = Q_A(w_tj).
 *
 * Two equivalent forms:
 * - {@linkcode gpfqResidual}: keeps the residuals U (`m × N1`), O(m·N0·N1).
 * - {@linkcode gpfqGram}: from `H = X̃ᵀX̃` and `G = X̃ᵀX` only, since
 *   `⟨X̃_t, u_{t−1} + w_t X_t⟩ = Σ_{s≤t} G_ts w_s − Σ_{s<t} H_ts q_s`; O(N0²·N1), independent of
 *   the sample count (the Gram matrices can be accumulated over any number of batches with
 *   {@linkcode accumulateGram}). This is the fast path.
 *
 * @example The known answer: X = X̃ = [[1, 1]], w = [0.4, 0.4], alphabet {−1, 0, 1}
 * ```ts
 * import { gpfqResidual } from "@qoda/ring/tfjs";
 * const X = new Float32Array([1, 1]);
 * const q = gpfqResidual(X, X, 1, new Float32Array([0.4, 0.4]), 2, 1, { delta: 1, K: 1 });
 * if (q[0] !== 0 || q[1] !== 1) throw new Error(`got ${q}`); // round-to-nearest gives [0, 0]
 * ```
 *
 * @module
 */
import { type Alphabet, checkShape, nearestLevel } from "./alphabet.ts";

/** The part of an {@linkcode Alphabet} the path following needs. */
export type Levels = Pick<Alphabet, "delta" | "K">;

/** Gram matrices of one layer: `H = X̃ᵀX̃` and `G = X̃ᵀX`, both `N0 × N0` row-major. */
export interface Gram {
  /** Inputs N0. */
  readonly n0: number;
  /** `X̃ᵀX̃` (symmetric). */
  readonly H: Float64Array;
  /** `X̃ᵀX` (`G[t·N0 + s] = ⟨X̃_t, X_s⟩`). */
  readonly G: Float64Array;
  /** Column sums of X (for bias correction). */
  readonly sumX: Float64Array;
  /** Column sums of X̃. */
  readonly sumXt: Float64Array;
  /** Samples accumulated so far. */
  count: number;
}

/**
 * An empty {@linkcode Gram} for `n0` inputs.
 *
 * @param n0 Inputs.
 * @returns Zeroed matrices.
 */
export function createGram(n0: number): Gram {
  if (!Number.isInteger(n0) || n0 < 1) throw new RangeError(`n0 must be ≥ 1, got ${n0}`);
  return {
    n0,
    H: new Float64Array(n0 * n0),
    G: new Float64Array(n0 * n0),
    sumX: new Float64Array(n0),
    sumXt: new Float64Array(n0),
    count: 0,
  };
}

/**
 * Adds `m` samples to the Gram matrices: `H += X̃ᵀX̃`, `G += X̃ᵀX`, plus the column sums.
 * Zero entries of X̃ (ReLU outputs, blank pixels) are skipped, so sparse inputs are cheap.
 *
 * @param gram The accumulator (modified).
 * @param X `m × N0` float-network inputs.
 * @param Xt `m × N0` quantized-network inputs (may be the same array as X).
 * @param m Samples.
 * @returns `gram`.
 *
 * @example
 * ```ts
 * import { accumulateGram, createGram } from "@qoda/ring/tfjs";
 * const g = accumulateGram(createGram(2), new Float32Array([1, 2]), new Float32Array([3, 0]), 1);
 * if (g.H[0] !== 9 || g.G[1] !== 6 || g.H[3] !== 0) throw new Error();
 * ```
 */
export function accumulateGram(gram: Gram, X: Float32Array, Xt: Float32Array, m: number): Gram {
  const n0 = gram.n0;
  checkShape(X.length, m, n0, "X");
  checkShape(Xt.length, m, n0, "X̃");
  const { H, G, sumX, sumXt } = gram;
  // Per sample, the non-zero entries of both rows (ascending), so the outer products cost
  // nnz(x̃)² / 2 + nnz(x̃)·nnz(x) instead of 1.5·N0² (ReLU outputs, blank pixels).
  const idxT = new Int32Array(n0), valT = new Float64Array(n0);
  const idxX = new Int32Array(n0), valX = new Float64Array(n0);
  for (let s = 0; s < m; s++) {
    const off = s * n0;
    let nt = 0, nx = 0;
    for (let a = 0; a < n0; a++) {
      const xt = Xt[off + a], x = X[off + a];
      if (xt !== 0) {
        idxT[nt] = a;
        valT[nt++] = xt;
        sumXt[a] += xt;
      }
      if (x !== 0) {
        idxX[nx] = a;
        valX[nx++] = x;
        sumX[a] += x;
      }
    }
    for (let i = 0; i < nt; i++) {
      const row = idxT[i] * n0;
      const xa = valT[i];
      // H is symmetric: fill the lower triangle (b ≤ a) here, mirror once at the end.
      for (let j = 0; j <= i; j++) H[row + idxT[j]] += xa * valT[j];
      for (let j = 0; j < nx; j++) G[row + idxX[j]] += xa * valX[j];
    }
  }
  gram.count += m;
  mirrorLower(H, n0);
  return gram;
}

/** Copies the lower triangle of a square matrix onto its upper triangle. */
function mirrorLower(H: Float64Array, n: number): void {
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) H[a * n + b] = H[b * n + a];
  }
}

/**
 * GPFQ from the Gram matrices (the fast path; see the module doc for the formula).
 *
 * @param gram `H = X̃ᵀX̃`, `G = X̃ᵀX` (only `H`, `G`, `n0` are read).
 * @param W `N0 × N1` kernel, row-major.
 * @param n1 Neurons N1.
 * @param levels δ and K of the alphabet.
 * @param out Level indices `N0 × N1` (value = kδ); a new array when omitted.
 * @returns `out`.
 *
 * @example Orthogonal X = X̃ gives round-to-nearest
 * ```ts
 * import { accumulateGram, createGram, gpfqGram } from "@qoda/ring/tfjs";
 * const X = new Float32Array([1, 0, 0, 2]); // 2 samples × 2 inputs, orthogonal columns
 * const gram = accumulateGram(createGram(2), X, X, 2);
 * const q = gpfqGram(gram, new Float32Array([0.4, 0.6]), 1, { delta: 1, K: 1 });
 * if (q[0] !== 0 || q[1] !== 1) throw new Error();
 * ```
 */
export function gpfqGram(
  gram: Pick<Gram, "H" | "G" | "n0">,
  W: Float32Array,
  n1: number,
  levels: Levels,
  out?: Int32Array,
): Int32Array {
  const { H, G, n0 } = gram;
  checkShape(W.length, n0, n1, "kernel W");
  checkShape(H.length, n0, n0, "Gram H");
  checkShape(G.length, n0, n0, "Gram G");
  const Q = out ?? new Int32Array(n0 * n1);
  if (Q.length < n0 * n1) throw new RangeError(`out has length ${Q.length} < ${n0 * n1}`);
  const { delta, K } = levels;
  const acc = new Float64Array(n1);
  for (let t = 0; t < n0; t++) {
    const rowT = t * n0;
    const wt = t * n1;
    const htt = H[rowT + t];
    if (!(htt > 0)) {
      for (let j = 0; j < n1; j++) Q[wt + j] = nearestLevel(W[wt + j], delta, K);
      continue;
    }
    acc.fill(0);
    for (let s = 0; s <= t; s++) {
      const g = G[rowT + s];
      if (g === 0) continue;
      const ws = s * n1;
      for (let j = 0; j < n1; j++) acc[j] += g * W[ws + j];
    }
    for (let s = 0; s < t; s++) {
      const h = H[rowT + s] * delta;
      if (h === 0) continue;
      const qs = s * n1;
      for (let j = 0; j < n1; j++) acc[j] -= h * Q[qs + j];
    }
    const inv = 1 / htt;
    for (let j = 0; j < n1; j++) Q[wt + j] = nearestLevel(acc[j] * inv, delta, K);
  }
  return Q;
}

/**
 * GPFQ in its residual form: keeps `U` (`m × N1`, float64) and walks t = 1..N0. The reference
 * for {@linkcode gpfqGram}; O(m·N0·N1).
 *
 * @param X `m × N0` float-network inputs, row-major.
 * @param Xt `m × N0` quantized-network inputs (may be `X`).
 * @param m Samples.
 * @param W `N0 × N1` kernel.
 * @param n0 Inputs N0.
 * @param n1 Neurons N1.
 * @param levels δ and K.
 * @param out Level indices; a new array when omitted.
 * @returns `out`.
 */
export function gpfqResidual(
  X: Float32Array,
  Xt: Float32Array,
  m: number,
  W: Float32Array,
  n0: number,
  n1: number,
  levels: Levels,
  out?: Int32Array,
): Int32Array {
  checkShape(X.length, m, n0, "X");
  checkShape(Xt.length, m, n0, "X̃");
  checkShape(W.length, n0, n1, "kernel W");
  const Q = out ?? new Int32Array(n0 * n1);
  if (Q.length < n0 * n1) throw new RangeError(`out has length ${Q.length} < ${n0 * n1}`);
  const { delta, K } = levels;
  const U = new Float64Array(m * n1);
  const proj = new Float64Array(n1);
  const qv = new Float64Array(n1);
  for (let t = 0; t < n0; t++) {
    const wt = t * n1;
    let norm = 0;
    proj.fill(0);
    for (let s = 0; s < m; s++) {
      const a = X[s * n0 + t];
      const b = Xt[s * n0 + t];
      norm += b * b;
      const us = s * n1;
      for (let j = 0; j < n1; j++) {
        const u = U[us + j] + W[wt + j] * a;
        U[us + j] = u;
        proj[j] += b * u;
      }
    }
    if (!(norm > 0)) {
      for (let j = 0; j < n1; j++) Q[wt + j] = nearestLevel(W[wt + j], delta, K);
      continue; // X̃_t = 0: nothing to subtract
    }
    for (let j = 0; j < n1; j++) {
      const k = nearestLevel(proj[j] / norm, delta, K);
      Q[wt + j] = k;
      qv[j] = k * delta;
    }
    for (let s = 0; s < m; s++) {
      const b = Xt[s * n0 + t];
      if (b === 0) continue;
      const us = s * n1;
      for (let j = 0; j < n1; j++) U[us + j] -= qv[j] * b;
    }
  }
  return Q;
}

/**
 * The relative squared error `‖XW − X̃Q‖²_F / ‖XW‖²_F` of a quantized kernel.
 *
 * @param X `m × N0` float inputs.
 * @param Xt `m × N0` quantized inputs.
 * @param m Samples.
 * @param W `N0 × N1` kernel.
 * @param Q `N0 × N1` level indices.
 * @param n0 Inputs.
 * @param n1 Neurons.
 * @param delta δ (value = kδ).
 * @returns The relative error (0 when XW = 0 and X̃Q = 0).
 */
export function relativeError(
  X: Float32Array,
  Xt: Float32Array,
  m: number,
  W: Float32Array,
  Q: Int32Array,
  n0: number,
  n1: number,
  delta: number,
): number {
  checkShape(X.length, m, n0, "X");
  checkShape(Xt.length, m, n0, "X̃");
  checkShape(W.length, n0, n1, "kernel W");
  checkShape(Q.length, n0, n1, "levels Q");
  const y = new Float64Array(n1);
  const yq = new Float64Array(n1);
  let err = 0, norm = 0;
  for (let s = 0; s < m; s++) {
    y.fill(0);
    yq.fill(0);
    for (let t = 0; t < n0; t++) {
      const a = X[s * n0 + t], b = Xt[s * n0 + t] * delta;
      const off = t * n1;
      if (a !== 0) { for (let j = 0; j < n1; j++) y[j] += a * W[off + j]; }
      if (b !== 0) { for (let j = 0; j < n1; j++) yq[j] += b * Q[off + j]; }
    }
    for (let j = 0; j < n1; j++) {
      const d = y[j] - yq[j];
      err += d * d;
      norm += y[j] * y[j];
    }
  }
  return norm > 0 ? err / norm : err === 0 ? 0 : Infinity;
}

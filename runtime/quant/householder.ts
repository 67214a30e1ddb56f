/**
 * The Householder reflection H_G = I − 2vvᵀ with v = (𝟙/√G − e₁)/‖𝟙/√G − e₁‖
 * used by BHQ: it maps e₁ to 𝟙/√G (spreading one large row evenly over G
 * rows), is symmetric and orthogonal, and H·H = I.
 *
 * With a = 1/√G and c = a/(1 − a), the entries are H[0][p] = H[j][0] = a,
 * H[j][j] = 1 − a·c and H[j][p] = −a·c for j ≠ p ≥ 1; applying H to G rows
 * is the rank-1 update w = a·Σ_j x_j − x_0, x_0 += w, x_j −= c·w (O(G·D)).
 *
 * @module
 */

/**
 * Applies H_G in place to the G rows `rowIdx` (leader first, the e₁
 * direction) of the N×D row-major matrix `rows`, as a rank-1 update: O(G·D)
 * work, no G×G matrix. G ≤ 1 leaves the rows unchanged.
 *
 * @param rows The matrix, row-major, N·D values.
 * @param D Row length.
 * @param rowIdx The group's row indices, leader first.
 * @param scratch Workspace of length ≥ D.
 *
 * @example H maps e₁ to 𝟙/√G
 * ```ts
 * import { householderApply } from "@qoda/ring/quant";
 * const x = new Float32Array([1, 0, 0, 0]); // 4 rows of length 1
 * householderApply(x, 1, [0, 1, 2, 3], new Float64Array(1));
 * if (x.some((y) => Math.abs(y - 0.5) > 1e-7)) throw new Error("expected 1/√4 everywhere");
 * ```
 */
export function householderApply(
  rows: Float32Array,
  D: number,
  rowIdx: Uint32Array | readonly number[],
  scratch: Float64Array,
): void {
  const G = rowIdx.length;
  if (G <= 1) return;
  if (scratch.length < D) {
    throw new RangeError(`scratch has length ${scratch.length}, need at least ${D}`);
  }
  const nRows = Math.floor(rows.length / D);
  for (let j = 0; j < G; j++) {
    const r = rowIdx[j];
    if (!(r >= 0 && r < nRows && Number.isInteger(r))) {
      throw new RangeError(`row index ${r} is outside 0..${nRows - 1}`);
    }
  }
  const a = 1 / Math.sqrt(G);
  const c = a / (1 - a);
  const w = scratch;
  for (let d = 0; d < D; d++) w[d] = 0;
  for (let j = 0; j < G; j++) {
    const base = rowIdx[j] * D;
    for (let d = 0; d < D; d++) w[d] += rows[base + d];
  }
  const lead = rowIdx[0] * D;
  for (let d = 0; d < D; d++) {
    const wd = a * w[d] - rows[lead + d];
    w[d] = wd;
    rows[lead + d] += wd;
  }
  for (let j = 1; j < G; j++) {
    const base = rowIdx[j] * D;
    for (let d = 0; d < D; d++) rows[base + d] -= c * w[d];
  }
}

/**
 * The entry H_G[j][p] in closed form (0-based indices).
 *
 * @param G Group size (≥ 1).
 * @param j Row, 0..G−1.
 * @param p Column, 0..G−1.
 * @returns The entry.
 *
 * @example
 * ```ts
 * import { householderEntry } from "@qoda/ring/quant";
 * if (Math.abs(householderEntry(2, 1, 1) + Math.SQRT1_2) > 1e-15) throw new Error();
 * ```
 */
export function householderEntry(G: number, j: number, p: number): number {
  if (!Number.isInteger(G) || G < 1) throw new RangeError(`group size must be ≥ 1, got ${G}`);
  if (!(Number.isInteger(j) && Number.isInteger(p) && j >= 0 && p >= 0 && j < G && p < G)) {
    throw new RangeError(`entry (${j}, ${p}) is outside a ${G}×${G} matrix`);
  }
  if (G === 1) return 1;
  const a = 1 / Math.sqrt(G);
  if (j === 0 || p === 0) return a;
  const ac = a * a / (1 - a);
  return j === p ? 1 - ac : -ac;
}

/**
 * Qmax_G = max |H_G[j][p]|, the largest entry magnitude (1 for G = 1).
 *
 * @example
 * ```ts
 * import { householderMaxAbs } from "@qoda/ring/quant";
 * if (Math.abs(householderMaxAbs(4) - 0.5) > 1e-15) throw new Error("all entries are ±1/2");
 * ```
 */
export function householderMaxAbs(G: number): number {
  if (!Number.isInteger(G) || G < 1) throw new RangeError(`group size must be ≥ 1, got ${G}`);
  if (G === 1) return 1;
  const a = 1 / Math.sqrt(G);
  const ac = a * a / (1 - a);
  // Off-diagonal small-row entries (−a·c) exist only for G ≥ 3.
  return Math.max(a, Math.abs(1 - ac), G >= 3 ? ac : 0);
}

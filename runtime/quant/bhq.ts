/**
 * The `bhq` scheme: block Householder quantization (Chen et al., NeurIPS
 * 2020). The N×D matrix is transformed by T = Pᵀ·blockdiag(H_G)·P·diag(s)
 * so that each large-range row is spread over a group of small-range rows,
 * then quantized per row (PSQ, stochastic) and decoded with
 * T⁻¹ = diag(1/s)·Pᵀ·blockdiag(H_G)·P.
 *
 * Grouping: row ranges λ sorted descending; k = the smallest number of
 * "small" rows with k·λ_(N−k) > Σ_{i≤N−k} λ_(i) (k = N − 1 when none); the
 * N − k large rows get n_i small rows from the differences of
 * round(cumsum(k·λ_i/Σ_large λ)), largest small rows to the largest large
 * rows. Scales in a group: w1 = λ1/√G, w2 = λ2·Qmax_G, s1 = w1^(−1/3),
 * s2 = (w2/(G−1))^(−1/3), both times √(1/s1² + 1/s2²).
 *
 * Block layout: `meta` = [unit, min] per row (2N floats), then N per-row
 * scales; `aux` = [numGroups, then per group G and its G row indices, the
 * large (leader) row first]. Only groups with G ≥ 2 are listed; every other
 * row has scale 1 and is quantized as in PSQ.
 *
 * @module
 */
import { QuantizationError } from "../errors.ts";
import type { Rng } from "../rng.ts";
import { checkFinite, checkLayer, layerName } from "./_validate.ts";
import { householderApply, householderEntry, householderMaxAbs } from "./householder.ts";
import {
  affineBucketVariance,
  affineDequantize,
  affineQuantize,
  codeBits,
  resolveRowLength,
  rowSchemeConfig,
} from "./_affine.ts";
import { EMPTY_F32 } from "./types.ts";
import type { LayerInfo, Quantized, Quantizer, QuantizeStats } from "./types.ts";

/** Options of {@linkcode BhqQuantizer}. */
export interface BhqOptions {
  /** Bits per coordinate (1..16). */
  bits: number;
  /** Number of bins B. @default {2^bits − 1} */
  bins?: number;
  /** Row length D. @default {product of `layer.shape[1..]`} */
  rowLength?: number;
}

/** The transform of one input: groups (aux layout) and float32 per-row scales. */
interface BhqPlan {
  aux: Uint32Array;
  scales: Float32Array;
}

/**
 * Groups the N full rows of `v` (rows of D) and computes the per-row scales;
 * `rows` (N, or N + 1 for a piece whose last row is shorter) scales in all,
 * a short last row never grouped (scale 1).
 */
function plan(v: Float32Array, N: number, rows: number, D: number, layer: string): BhqPlan {
  const scales = new Float32Array(rows).fill(1);
  const lambda = new Float64Array(N);
  let bad = 0, top = 0;
  for (let i = 0; i < N; i++) {
    let mn = Infinity, mx = -Infinity;
    for (let j = i * D, end = j + D; j < end; j++) {
      const x = v[j];
      bad += x * 0;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
    }
    lambda[i] = mx - mn;
    if (lambda[i] > top) top = lambda[i];
  }
  if (bad !== 0 || (rows > N && !isFiniteFrom(v, N * D))) checkFinite(v, layer);
  if (N < 2 || top === 0) return { aux: new Uint32Array(1), scales };

  const order = new Uint32Array(N);
  for (let i = 0; i < N; i++) order[i] = i;
  order.sort((x, y) => lambda[y] - lambda[x] || x - y);
  const sorted = new Float64Array(N);
  const prefix = new Float64Array(N + 1); // prefix[m] = Σ of the m largest ranges
  for (let i = 0; i < N; i++) {
    sorted[i] = lambda[order[i]];
    prefix[i + 1] = prefix[i] + sorted[i];
  }
  // k small rows: the smallest k with k·λ_(N−k) > Σ_{i ≤ N−k} λ_(i).
  let k = N - 1;
  for (let kk = 1; kk < N; kk++) {
    const m = N - kk;
    if (kk * sorted[m - 1] > prefix[m]) {
      k = kk;
      break;
    }
  }
  const large = N - k;
  const sumLarge = prefix[large];
  const aux: number[] = [0];
  let prev = 0, next = large; // next unassigned small row (sorted position)
  for (let i = 0; i < large; i++) {
    const c = i === large - 1 ? k : Math.min(k, Math.round(k * prefix[i + 1] / sumLarge));
    const nSmall = Math.max(0, c - prev);
    prev = Math.max(prev, c);
    const G = 1 + nSmall;
    if (G < 2) continue;
    aux[0]++;
    aux.push(G, order[i]);
    for (let j = 0; j < nSmall; j++) aux.push(order[next + j]);
    const l1 = sorted[i], l2 = sorted[next];
    next += nSmall;
    let s1 = 1, s2 = 1;
    if (l1 > 0) {
      const w1 = l1 / Math.sqrt(G), w2 = l2 * householderMaxAbs(G);
      s1 = Math.pow(w1, -1 / 3);
      s2 = w2 > 0 ? Math.pow(w2 / (G - 1), -1 / 3) : s1;
      const norm = Math.sqrt(1 / (s1 * s1) + 1 / (s2 * s2));
      s1 *= norm;
      s2 *= norm;
    }
    scales[order[i]] = s1;
    for (let j = next - nSmall; j < next; j++) scales[order[j]] = s2;
  }
  return { aux: Uint32Array.from(aux), scales };
}

/** True when v[from..] holds no NaN or ±Infinity. */
function isFiniteFrom(v: Float32Array, from: number): boolean {
  let bad = 0;
  for (let i = from; i < v.length; i++) bad += v[i] * 0;
  return bad === 0;
}

/** X' = T·X: scale rows by s, then H_G on each group (new array). */
function forward(v: Float32Array, D: number, p: BhqPlan, layer: string): Float32Array {
  const rows = p.scales.length, n = v.length;
  const x = new Float32Array(n);
  for (let i = 0; i < rows; i++) {
    const s = p.scales[i];
    for (let j = i * D, end = Math.min(n, j + D); j < end; j++) x[j] = v[j] * s;
  }
  applyGroups(x, D, p.aux);
  let bad = 0;
  for (let i = 0; i < x.length; i++) bad += x[i] * 0;
  if (bad !== 0) {
    throw new QuantizationError(layer, "the BHQ transform overflows float32 for this input");
  }
  return x;
}

/** Applies H_G in place to every group listed in `aux` (assumed valid). */
function applyGroups(x: Float32Array, D: number, aux: Uint32Array): void {
  const groups = aux[0];
  if (groups === 0) return;
  const scratch = new Float64Array(D);
  for (let g = 0, pos = 1; g < groups; g++) {
    const G = aux[pos];
    householderApply(x, D, aux.subarray(pos + 1, pos + 1 + G), scratch);
    pos += 1 + G;
  }
}

/** X = T⁻¹·X' in place: H_G on each group, then divide rows by s. */
function inverse(x: Float32Array, D: number, scales: Float32Array, aux: Uint32Array): void {
  applyGroups(x, D, aux);
  for (let i = 0; i < scales.length; i++) {
    const s = scales[i];
    if (s === 1) continue;
    for (let j = i * D, end = Math.min(x.length, j + D); j < end; j++) x[j] /= s;
  }
}

/** Validates `aux` against N rows: throws QuantizationError, never reads out of bounds. */
function checkAux(aux: Uint32Array, N: number): void {
  if (aux.length < 1) throw new QuantizationError("", "bhq block has an empty aux array");
  const groups = aux[0];
  const seen = new Uint8Array(N);
  let pos = 1;
  for (let g = 0; g < groups; g++) {
    if (pos >= aux.length) {
      throw new QuantizationError("", `bhq aux ends before group ${g} of ${groups}`);
    }
    const G = aux[pos];
    if (G < 1 || G > N || pos + 1 + G > aux.length) {
      throw new QuantizationError(
        "",
        `bhq group ${g} has size ${G} (rows ${N}, ${aux.length - pos - 1} aux entries left)`,
      );
    }
    for (let j = pos + 1; j <= pos + G; j++) {
      const r = aux[j];
      if (r >= N) throw new QuantizationError("", `bhq group ${g} names row ${r} ≥ ${N}`);
      if (seen[r]) throw new QuantizationError("", `bhq row ${r} appears in more than one place`);
      seen[r] = 1;
    }
    pos += 1 + G;
  }
  if (pos !== aux.length) {
    throw new QuantizationError("", `bhq aux has ${aux.length - pos} trailing entries`);
  }
}

/**
 * Block Householder quantization: per-row stochastic quantization of T·X,
 * decoded with T⁻¹. Unbiased; on gradients with a few heavy rows its variance
 * is far below PSQ's (about a G-fold reduction for a group of size G).
 *
 * @example One heavy row, many light rows
 * ```ts
 * import { BhqQuantizer, PsqQuantizer } from "@qoda/ring/quant";
 * import { Rng } from "@qoda/ring";
 * const rng = new Rng(3), N = 8, D = 64;
 * const v = new Float32Array(N * D).map((_, i) => rng.normal() * (i < D ? 100 : 0.01));
 * const bhq = new BhqQuantizer({ bits: 4, rowLength: D });
 * const psq = new PsqQuantizer({ bits: 4, rowLength: D });
 * if (!(bhq.expectedVariance(v) < psq.expectedVariance(v) / 3)) throw new Error("no gain");
 * const back = bhq.dequantize(bhq.quantize(v, rng));
 * if (back.length !== v.length) throw new Error("length changed");
 * ```
 */
export class BhqQuantizer implements Quantizer {
  readonly scheme = "bhq" as const;
  readonly bits: number;
  readonly unbiased = true;
  /** The number of bins B. */
  readonly bins: number;
  /** The fixed row length, if configured. */
  readonly rowLength: number | undefined;

  /**
   * Creates a block Householder quantizer.
   *
   * @param options See {@linkcode BhqOptions}.
   */
  constructor(options: BhqOptions) {
    ({ bits: this.bits, bins: this.bins, rowLength: this.rowLength } = rowSchemeConfig(options));
  }

  quantize(v: Float32Array, rng: Rng, layer?: LayerInfo, stats?: QuantizeStats): Quantized {
    checkLayer(v, layer);
    const name = layerName(layer);
    const n = v.length;
    const D = resolveRowLength(n, this.rowLength, layer);
    const N = Math.floor(n / D), rows = Math.ceil(n / D);
    const p = plan(v, N, rows, D, name);
    const x = forward(v, D, p, name);
    const codes = new Uint16Array(n);
    const meta = new Float32Array(3 * rows);
    affineQuantize(x, D, this.bins, true, rng, codes, meta, name);
    meta.set(p.scales, 2 * rows);
    const q: Quantized = {
      scheme: "bhq",
      length: n,
      bits: codeBits(this.bins),
      bucketSize: D,
      signed: false,
      normQ: 0,
      bins: this.bins,
      levels: EMPTY_F32,
      meta,
      aux: p.aux,
      codes,
      raw: EMPTY_F32,
    };
    if (stats) {
      // The error in the original space: reconstruct, then compare.
      const rec = affineDequantize(q, "bhq", x, rows);
      inverse(rec, D, p.scales, p.aux);
      let e2 = 0, n2 = 0;
      for (let i = 0; i < n; i++) {
        const e = rec[i] - v[i];
        e2 += e * e;
        n2 += v[i] * v[i];
      }
      stats.sqError = e2;
      stats.sqNorm = n2;
    }
    return q;
  }

  dequantize(q: Quantized, out?: Float32Array): Float32Array {
    if (q.scheme !== "bhq") {
      throw new QuantizationError("", `expected a 'bhq' block, got '${q.scheme}'`);
    }
    const D = q.bucketSize, n = q.length;
    if (!Number.isInteger(D) || D < 1 || !Number.isInteger(n) || n < 0) {
      throw new QuantizationError("", `bhq block has length ${n} and row length ${D}`);
    }
    // A piece of a layer may end in a shorter row, which no group holds.
    const N = Math.floor(n / D), rows = Math.ceil(n / D);
    if (q.meta.length !== 3 * rows) {
      throw new QuantizationError(
        "",
        `bhq block has ${q.meta.length} meta floats, expected ${3 * rows}`,
      );
    }
    const scales = q.meta.subarray(2 * rows);
    for (let i = 0; i < rows; i++) {
      const s = scales[i];
      if (!(s > 0 && s < Infinity)) {
        throw new QuantizationError("", `bhq row ${i} has scale ${s}; scales must be positive`);
      }
    }
    checkAux(q.aux, N);
    const dst = affineDequantize(q, "bhq", out, rows);
    inverse(dst, D, scales, q.aux);
    return dst;
  }

  varianceBound(v: Float32Array, layer?: LayerInfo): number {
    return this.#variance(v, layer).bound;
  }

  expectedVariance(v: Float32Array, layer?: LayerInfo): number {
    return this.#variance(v, layer).expected;
  }

  /**
   * Σ_i ‖T⁻¹e_i‖²·(row i's exact variance, or its bound D·unit_i²/4), with
   * ‖T⁻¹e_i‖² = Σ_j H[j][p]²/s_j² over the rows j of i's group.
   */
  #variance(v: Float32Array, layer?: LayerInfo): { expected: number; bound: number } {
    const name = layerName(layer);
    const n = v.length;
    const D = resolveRowLength(n, this.rowLength, layer);
    const N = Math.floor(n / D), rows = Math.ceil(n / D);
    const p = plan(v, N, rows, D, name);
    const x = forward(v, D, p, name);
    const weight = new Float64Array(rows);
    for (let i = 0; i < rows; i++) weight[i] = 1 / (p.scales[i] * p.scales[i]);
    const aux = p.aux;
    for (let g = 0, pos = 1; g < aux[0]; g++) {
      const G = aux[pos];
      for (let c = 0; c < G; c++) {
        let w = 0;
        for (let j = 0; j < G; j++) {
          const h = householderEntry(G, j, c);
          const s = p.scales[aux[pos + 1 + j]];
          w += h * h / (s * s);
        }
        weight[aux[pos + 1 + c]] = w;
      }
      pos += 1 + G;
    }
    const res = new Float64Array(2);
    let expected = 0, bound = 0;
    for (let i = 0; i < rows; i++) {
      affineBucketVariance(x, i * D, Math.min(n, (i + 1) * D), this.bins, true, res, name);
      expected += weight[i] * res[0];
      bound += weight[i] * res[1];
    }
    return { expected, bound };
  }
}

// The affine (max-min) quantization core shared by maxmin, ptq, psq and bhq.
// Internal: not re-exported from mod.ts.
import { QuantizationError } from "../errors.ts";
import type { Rng } from "../rng.ts";
import { checkBits, checkFinite, checkOut, checkPositiveInt, layerName } from "./_validate.ts";
import { EMPTY_F32, EMPTY_U32 } from "./types.ts";
import type { LayerInfo, Quantized, QuantizeStats, SchemeName } from "./types.ts";
const F32_MAX = 3.4028234663852886e38;
const f32Box = new Float32Array(1);
const u32Box = new Uint32Array(f32Box.buffer);

/**
 * The bin width for a bucket of range `range` with `bins` bins, rounded to
 * float32 *upwards*, so that `(max − min)/unit ≤ bins` and no code is ever
 * clamped (clamping would bias stochastic rounding). 0 when `range` is 0.
 *
 * @param range max − min of the bucket (≥ 0, finite).
 * @param bins The number of bins B.
 * @param layer Layer name for the error when the unit overflows float32.
 * @returns The float32 unit.
 *
 * @example
 * ```ts
 * import { affineUnit } from "./_affine.ts";
 * if (affineUnit(100, 2) !== 50) throw new Error("100/2 is exact");
 * if (affineUnit(1, 3) * 3 < 1) throw new Error("must be rounded up");
 * ```
 */
export function affineUnit(range: number, bins: number, layer = ""): number {
  if (range === 0) return 0;
  const u = range / bins;
  if (u > F32_MAX) {
    throw new QuantizationError(layer, `bucket range ${range} overflows float32 with ${bins} bins`);
  }
  f32Box[0] = u;
  if (f32Box[0] * bins < range) u32Box[0]++; // next float32 up (u > 0)
  const unit = f32Box[0];
  if (unit === Infinity) {
    throw new QuantizationError(layer, `bucket range ${range} overflows float32 with ${bins} bins`);
  }
  return unit;
}

/** Bits needed to hold codes 0..bins: ⌈log2(bins + 1)⌉. */
export function codeBits(bins: number): number {
  let b = 0;
  while (2 ** b < bins + 1) b++;
  return b;
}

/**
 * Validates a bin count: an integer with 1 ≤ B and B + 1 ≤ 2^16 (codes are
 * Uint16). Throws {@linkcode QuantizationError} otherwise.
 */
export function checkBins(bins: number, layer = ""): void {
  if (!Number.isInteger(bins) || bins < 1 || bins > 65535) {
    throw new QuantizationError(layer, `bins must be an integer in 1..65535, got ${bins}`);
  }
}

export function checkRounding(rounding: string, scheme: string): void {
  if (rounding !== "stochastic" && rounding !== "nearest") {
    throw new QuantizationError(
      "",
      `${scheme} rounding must be stochastic or nearest, got ${rounding}`,
    );
  }
}

/**
 * The affine core: quantizes `src` bucket by bucket (consecutive
 * `bucketSize` coordinates, the last bucket may be shorter) into `codes`
 * and `meta` (`[unit, min]` per bucket, from `meta[0]`). Every code is
 * computed against the float32 unit and min, so the decoder reproduces the
 * value exactly. Non-finite input calls `onNonFinite` (default: throw
 * {@linkcode NonFiniteError} at the first bad index).
 *
 * @param src The values.
 * @param bucketSize Coordinates per bucket.
 * @param bins The number of bins B (codes 0..B).
 * @param stochastic Stochastic (unbiased) or nearest rounding.
 * @param rng Randomness (only drawn from when stochastic).
 * @param codes Destination, length ≥ `src.length`.
 * @param meta Destination, length ≥ 2·⌈n/bucketSize⌉.
 * @param layer Layer name for errors.
 * @param stats When given, receives ‖Q(src) − src‖² and ‖src‖².
 * @param onNonFinite Called when a bucket holds NaN/±Infinity; must throw.
 *
 * @example
 * ```ts
 * import { affineQuantize } from "./_affine.ts";
 * import { Rng } from "../rng.ts";
 * const codes = new Uint16Array(3), meta = new Float32Array(2);
 * affineQuantize(new Float32Array([0, 50, 100]), 3, 2, true, new Rng(1), codes, meta);
 * if (meta[0] !== 50 || meta[1] !== 0 || codes[2] !== 2) throw new Error("wrong grid");
 * ```
 */
export function affineQuantize(
  src: Float32Array,
  bucketSize: number,
  bins: number,
  stochastic: boolean,
  rng: Rng,
  codes: Uint16Array,
  meta: Float32Array,
  layer = "",
  stats?: QuantizeStats,
  onNonFinite?: () => never,
): void {
  const n = src.length;
  let sqErr = 0, sqNorm = 0;
  const range = new Float64Array(2);
  for (let from = 0, b = 0; from < n; from += bucketSize, b++) {
    const to = Math.min(n, from + bucketSize);
    bucketRange(src, from, to, layer, onNonFinite, range);
    const mn = range[0], mx = range[1];
    const unit = affineUnit(mx - mn, bins, layer);
    meta[2 * b] = unit;
    meta[2 * b + 1] = mn;
    if (unit === 0) {
      for (let i = from; i < to; i++) {
        codes[i] = 0;
        sqNorm += src[i] * src[i];
      }
      continue;
    }
    const inv = 1 / unit;
    for (let i = from; i < to; i++) {
      const x = src[i];
      const r = stochastic ? rng.nextFloat() : 0.5;
      let c = Math.floor((x - mn) * inv + r);
      if (c > bins) c = bins;
      else if (c < 0) c = 0;
      codes[i] = c;
      const e = Math.fround(mn + unit * c) - x;
      sqErr += e * e;
      sqNorm += x * x;
    }
  }
  if (stats) {
    stats.sqError = sqErr;
    stats.sqNorm = sqNorm;
  }
}

/**
 * Exact E‖Q − x‖² (stochastic: Σ unit²·f(1 − f); nearest: the deterministic
 * squared error) and the bound n·unit²/4 of one bucket `src[from, to)`,
 * computed in float64 against the float32 unit and min the quantizer uses.
 * Writes `res[0]` = expected, `res[1]` = bound.
 *
 * @example
 * ```ts
 * import { affineBucketVariance } from "./_affine.ts";
 * const res = new Float64Array(2);
 * affineBucketVariance(new Float32Array([0, 0.5, 1, 0, 50, 100]), 0, 6, 2, true, res);
 * if (Math.abs(res[0] - 73.75) > 1e-9) throw new Error("known answer is 73.75");
 * ```
 */
export function affineBucketVariance(
  src: Float32Array,
  from: number,
  to: number,
  bins: number,
  stochastic: boolean,
  res: Float64Array,
  layer = "",
  onNonFinite?: () => never,
): void {
  const range = new Float64Array(2);
  bucketRange(src, from, to, layer, onNonFinite, range);
  const mn = range[0], mx = range[1];
  const unit = affineUnit(mx - mn, bins, layer);
  res[0] = 0;
  res[1] = 0;
  if (unit === 0 || to <= from) return;
  const inv = 1 / unit;
  let expected = 0;
  if (stochastic) {
    for (let i = from; i < to; i++) {
      let y = (src[i] - mn) * inv;
      if (y > bins) y = bins;
      const f = y - Math.floor(y);
      expected += f * (1 - f);
    }
    expected *= unit * unit;
  } else {
    for (let i = from; i < to; i++) {
      const x = src[i];
      let c = Math.floor((x - mn) * inv + 0.5);
      if (c > bins) c = bins;
      const e = Math.fround(mn + unit * c) - x;
      expected += e * e;
    }
  }
  res[0] = expected;
  res[1] = (to - from) * unit * unit / 4;
}

/**
 * Reconstructs `min + unit · code` for an affine block, validating it first
 * (scheme, code count, bucket size, meta count, codes ≤ bins, `out` length).
 * `metaCount` is the number of meta floats expected beyond the 2 per bucket
 * (BHQ's scales).
 *
 * @example
 * ```ts
 * import { affineDequantize } from "./_affine.ts";
 * import { PtqQuantizer } from "./max_min.ts";
 * import { Rng } from "../rng.ts";
 * const q = new PtqQuantizer({ bits: 2 });
 * const back = affineDequantize(q.quantize(new Float32Array([0, 3]), new Rng(1)), "ptq");
 * if (back[0] !== 0 || back[1] !== 3) throw new Error("range ends are exact");
 * ```
 */
export function affineDequantize(
  q: Quantized,
  scheme: SchemeName,
  out?: Float32Array,
  extraMeta = 0,
): Float32Array {
  if (q.scheme !== scheme) {
    throw new QuantizationError("", `expected a '${scheme}' block, got '${q.scheme}'`);
  }
  const n = q.length;
  if (!Number.isInteger(n) || n < 0) throw new QuantizationError("", `bad block length ${n}`);
  if (q.codes.length !== n) {
    throw new QuantizationError("", `block has ${q.codes.length} codes for length ${n}`);
  }
  if (!Number.isInteger(q.bucketSize) || q.bucketSize < 1) {
    throw new QuantizationError("", `bad bucket size ${q.bucketSize}`);
  }
  checkBins(q.bins);
  const bs = q.bucketSize, bins = q.bins;
  const nb = Math.ceil(n / bs);
  if (q.meta.length !== 2 * nb + extraMeta) {
    throw new QuantizationError(
      "",
      `block has ${q.meta.length} meta floats, expected ${2 * nb + extraMeta}`,
    );
  }
  const dst = out ?? new Float32Array(n);
  checkOut(dst, n);
  const codes = q.codes, meta = q.meta;
  for (let from = 0, b = 0; from < n; from += bs, b++) {
    const to = Math.min(n, from + bs);
    const unit = meta[2 * b], mn = meta[2 * b + 1];
    for (let i = from; i < to; i++) {
      const c = codes[i];
      if (c > bins) throw new QuantizationError("", `code ${c} at ${i} exceeds bins ${bins}`);
      dst[i] = mn + unit * c;
    }
  }
  return dst;
}

/** Builds an affine {@linkcode Quantized} block around codes and meta. */
function affineBlock(
  scheme: SchemeName,
  n: number,
  bucketSize: number,
  bins: number,
  codes: Uint16Array,
  meta: Float32Array,
): Quantized {
  return {
    scheme,
    length: n,
    bits: codeBits(bins),
    bucketSize,
    signed: false,
    normQ: 0,
    bins,
    levels: EMPTY_F32,
    meta,
    aux: EMPTY_U32,
    codes,
    raw: EMPTY_F32,
  };
}

/** Quantizes v with the core into a fresh block. */
export function quantizeAffine(
  scheme: SchemeName,
  v: Float32Array,
  bucketSize: number,
  bins: number,
  stochastic: boolean,
  rng: Rng,
  layer: string,
  stats?: QuantizeStats,
): Quantized {
  const n = v.length;
  const codes = new Uint16Array(n);
  const meta = new Float32Array(2 * Math.ceil(n / bucketSize));
  affineQuantize(v, bucketSize, bins, stochastic, rng, codes, meta, layer, stats);
  return affineBlock(scheme, n, bucketSize, bins, codes, meta);
}

/** Σ over buckets of the exact variance and of the bound. */
export function affineVariance(
  v: Float32Array,
  bucketSize: number,
  bins: number,
  stochastic: boolean,
  layer: string,
): { expected: number; bound: number } {
  const res = new Float64Array(2);
  let expected = 0, bound = 0;
  for (let from = 0; from < v.length; from += bucketSize) {
    affineBucketVariance(
      v,
      from,
      Math.min(v.length, from + bucketSize),
      bins,
      stochastic,
      res,
      layer,
    );
    expected += res[0];
    bound += res[1];
  }
  return { expected, bound };
}

/**
 * The row length D of an N×D matrix stored row-major in `v`: `rowLength`
 * when given, else the product of `layer.shape[1..]` (a 1-D shape is one
 * row, D = shape[0]), else `layer.rowLength` (a piece of a layer: its last
 * row may be shorter, so `n` need not be a multiple of D). Throws
 * {@linkcode QuantizationError} naming the layer when none is known or,
 * for a whole matrix, `v.length` is not a multiple of D.
 *
 * @example
 * ```ts
 * import { resolveRowLength } from "./_affine.ts";
 * const d = resolveRowLength(12, undefined, { name: "fc", shape: [3, 2, 2] });
 * if (d !== 4) throw new Error("D = 2·2");
 * const piece = resolveRowLength(10, undefined, { name: "fc", rowLength: 4 });
 * if (piece !== 4) throw new Error("a piece keeps its layer's rows");
 * ```
 */
export function resolveRowLength(n: number, rowLength?: number, layer?: LayerInfo): number {
  const name = layerName(layer);
  let d = rowLength;
  let piece = false;
  if (d === undefined) {
    const shape = layer?.shape;
    if (shape && shape.length > 0) {
      d = 1;
      if (shape.length === 1) d = shape[0];
      else for (let i = 1; i < shape.length; i++) d *= shape[i];
    } else if (layer?.rowLength !== undefined) {
      d = layer.rowLength;
      piece = true;
    } else {
      throw new QuantizationError(
        name,
        `row length unknown for a vector of length ${n}: pass rowLength or a layer shape`,
      );
    }
  }
  if (!Number.isInteger(d) || d < 1) {
    throw new QuantizationError(name, `row length must be a positive integer, got ${d}`);
  }
  if (!piece && n % d !== 0) {
    throw new QuantizationError(
      name,
      `length ${n} is not a multiple of the row length ${d}`,
    );
  }
  return d;
}

/** Validated options of the row-wise schemes (psq, bhq). */
export interface RowSchemeConfig {
  bits: number;
  bins: number;
  rowLength: number | undefined;
}

/** Validates `{ bits, bins?, rowLength? }`: bits 1..16, bins default 2^bits − 1. */
export function rowSchemeConfig(
  options: { bits: number; bins?: number; rowLength?: number },
): RowSchemeConfig {
  const { bits, rowLength } = options;
  checkBits(bits);
  const bins = options.bins ?? 2 ** bits - 1;
  checkBins(bins);
  if (rowLength !== undefined) checkPositiveInt(rowLength, "rowLength");
  return { bits, bins, rowLength };
}

/**
 * Writes min and max of src[from, to) to `out`; on a NaN or ±Infinity calls
 * `onNonFinite` (if given), then throws the NonFiniteError naming the index.
 */
function bucketRange(
  src: Float32Array,
  from: number,
  to: number,
  layer: string,
  onNonFinite: (() => never) | undefined,
  out: Float64Array,
): void {
  let mn = Infinity, mx = -Infinity, bad = 0;
  for (let i = from; i < to; i++) {
    const x = src[i];
    bad += x * 0;
    if (x < mn) mn = x;
    if (x > mx) mx = x;
  }
  if (bad !== 0) {
    if (onNonFinite) onNonFinite();
    checkFinite(src, layer);
  }
  out[0] = mn;
  out[1] = mx;
}

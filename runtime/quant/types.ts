/**
 * The data types shared by every quantizer and coder.
 *
 * A {@linkcode Quantized} block is what a quantizer produces and what a coder
 * packs into bytes: per-coordinate integer codes plus the side information
 * (levels, per-bucket norms or ranges, grouping) that dequantization needs.
 *
 * @module
 */

import type { Rng } from "../rng.ts";

/** Scheme identifiers, as used on the command line and in encoded headers. */
export const SCHEMES = [
  "none",
  "fp16",
  "maxmin",
  "qsgd",
  "layerwise",
  "ptq",
  "psq",
  "bhq",
] as const;

/** One of {@linkcode SCHEMES}. */
export type SchemeName = typeof SCHEMES[number];

/**
 * A quantized vector.
 *
 * Code layout by scheme:
 * - `none`: `raw` holds the float32 values; `codes` is empty; `bits` = 32.
 * - `fp16`: `codes[i]` holds IEEE half-precision bits; `bits` = 16.
 * - `qsgd`, `layerwise` (sign-magnitude, `signed` = true): `codes[i]` =
 *   `(levelIndex << 1) | signBit`; value = `meta[bucket] · levels[levelIndex]`
 *   with the sign applied; `meta` holds one L^q norm per bucket.
 * - `maxmin`, `ptq`, `psq` (affine): `codes[i]` = level in `[0, bins]`;
 *   value = `meta[2b + 1] + meta[2b] · code` (`meta` = [unit, min] per bucket).
 * - `bhq`: affine codes of the transformed rows, plus the transform in `meta`
 *   (after the 2·rows affine entries, one scale per row) and `aux` (groups).
 */
export interface Quantized {
  /** Scheme that produced it. */
  scheme: SchemeName;
  /** Number of coordinates. */
  length: number;
  /** Bits per code in fixed-width coding (sign included for signed schemes). */
  bits: number;
  /** Coordinates per bucket (row length for `ptq`/`psq`/`bhq`). */
  bucketSize: number;
  /** True when codes are `(index << 1) | sign`. */
  signed: boolean;
  /** The norm exponent q for signed schemes (`Infinity` for L∞); 0 otherwise. */
  normQ: number;
  /** Largest code value for affine schemes (the number of bins B); 0 otherwise. */
  bins: number;
  /** Magnitude levels in [0, 1], ascending, first 0 and last 1 (signed schemes). */
  levels: Float32Array;
  /** Per-bucket floats: norms (signed) or [unit, min] pairs (affine), plus scheme extras. */
  meta: Float32Array;
  /** Scheme-specific integer side information (BHQ groups); empty otherwise. */
  aux: Uint32Array;
  /** One code per coordinate (empty for `none`). */
  codes: Uint16Array;
  /** The values themselves, for `none` only; empty otherwise. */
  raw: Float32Array;
}

/** Identifies the tensor being quantized, for per-layer levels and error messages. */
export interface LayerInfo {
  /** Layer (variable) name, e.g. `"dense_1/kernel"`. */
  name: string;
  /** Tensor shape; used to infer the layer type. */
  shape?: readonly number[];
  /** Explicit layer type; overrides inference (e.g. `"embedding"`). */
  type?: string;
  /**
   * For a piece of a layer without a shape of its own (a collective cuts
   * layers at chunk and segment boundaries): the row length D of the layer
   * it was cut from. The row-wise schemes (`psq`, `bhq`) then cut the piece
   * into rows of D from its first element, the last row possibly shorter.
   * Ignored when `shape` is given.
   */
  rowLength?: number;
}

/** Statistics a quantizer reports for one call, for ε_Q tracking. */
export interface QuantizeStats {
  /** ‖Q(v) − v‖² of this draw. */
  sqError: number;
  /** ‖v‖². */
  sqNorm: number;
}

/**
 * The interface every scheme implements. All hot loops run over typed arrays
 * with the randomness drawn from the `rng` passed in.
 *
 * @example Quantize and dequantize with any scheme
 * ```ts
 * import { createQuantizer, Rng } from "@qoda/ring";
 * const q = createQuantizer({ scheme: "qsgd", bits: 8 });
 * const v = new Float32Array([0.5, -1, 2, 0]);
 * const back = q.dequantize(q.quantize(v, new Rng(1)));
 * if (back.length !== v.length) throw new Error("length changed");
 * ```
 */
export interface Quantizer {
  /** The scheme name. */
  readonly scheme: SchemeName;
  /** Bits per coordinate as configured. */
  readonly bits: number;
  /** True when E[Q(v)] = v exactly (stochastic rounding). */
  readonly unbiased: boolean;
  /**
   * Quantize `v`. Throws {@linkcode QuantizationError} naming `layer` on bad input.
   * @param v The vector (not modified).
   * @param rng Randomness for stochastic rounding.
   * @param layer Which layer `v` belongs to.
   * @param stats Receives ‖Q(v) − v‖² and ‖v‖² of this draw when given.
   */
  quantize(v: Float32Array, rng: Rng, layer?: LayerInfo, stats?: QuantizeStats): Quantized;
  /**
   * Reconstruct the values.
   * @param q A block produced by this scheme (or decoded from bytes).
   * @param out Optional destination of length `q.length`.
   * @returns `out` (or a new array) holding Q(v).
   */
  dequantize(q: Quantized, out?: Float32Array): Float32Array;
  /**
   * An upper bound on E‖Q(v) − v‖² for this input (absolute, not relative).
   */
  varianceBound(v: Float32Array, layer?: LayerInfo): number;
  /**
   * The exact E‖Q(v) − v‖² for this input (for stochastic schemes; the
   * deterministic error for deterministic ones).
   */
  expectedVariance(v: Float32Array, layer?: LayerInfo): number;
}

/** An empty Float32Array, shared (never written). */
export const EMPTY_F32: Float32Array = new Float32Array(0);
/** An empty Uint32Array, shared (never written). */
export const EMPTY_U32: Uint32Array = new Uint32Array(0);
/** An empty Uint16Array, shared (never written). */
export const EMPTY_U16: Uint16Array = new Uint16Array(0);

/**
 * Affine (min/max) quantization: `maxmin` (CGX-style buckets), `ptq`
 * (per-tensor) and `psq` (per-sample rows), all built on one affine core.
 *
 * Per bucket the core stores `[unit, min]` (float32) and one code per
 * coordinate in `[0, B]`; the value is `min + unit · code`. With stochastic
 * rounding `code = ⌊(x − min)/unit + r⌋`, r uniform in [0, 1), so
 * E[Q(x)] = x and Var = unit²·f(1 − f) with f the fractional part.
 *
 * @module
 */
import { QuantizationError } from "../errors.ts";
import type { Rng } from "../rng.ts";
import { checkBits, checkLayer, checkPositiveInt, layerName } from "./_validate.ts";
import type { LayerInfo, Quantized, Quantizer, QuantizeStats } from "./types.ts";
import {
  affineDequantize,
  affineVariance,
  checkBins,
  checkRounding,
  quantizeAffine,
  resolveRowLength,
  rowSchemeConfig,
} from "./_affine.ts";

/** Rounding of the affine schemes. */
export type AffineRounding = "stochastic" | "nearest";

/** Options of {@linkcode MaxMinQuantizer}. */
export interface MaxMinOptions {
  /** Bits per coordinate (1..16); B = 2^bits − 1 bins. */
  bits: number;
  /** Coordinates per bucket (one [unit, min] pair each). @default {1024} */
  bucketSize?: number;
  /** Rounding; only stochastic is unbiased. @default {"stochastic"} */
  rounding?: AffineRounding;
}

/**
 * CGX-style max–min quantization: per bucket of `bucketSize` coordinates,
 * B = 2^bits − 1 bins between the bucket's min and max.
 *
 * @example Codes stay on the bucket's grid
 * ```ts
 * import { MaxMinQuantizer } from "@qoda/ring/quant";
 * import { Rng } from "@qoda/ring";
 * const q = new MaxMinQuantizer({ bits: 2, bucketSize: 4 });
 * const v = new Float32Array([0, 1, 2, 3]);
 * const back = q.dequantize(q.quantize(v, new Rng(1)));
 * if (back.join() !== "0,1,2,3") throw new Error("values on the grid are exact");
 * ```
 */
export class MaxMinQuantizer implements Quantizer {
  readonly scheme = "maxmin" as const;
  readonly bits: number;
  readonly unbiased: boolean;
  /** Coordinates per bucket. */
  readonly bucketSize: number;
  /** The number of bins B = 2^bits − 1. */
  readonly bins: number;
  /** The rounding mode. */
  readonly rounding: AffineRounding;

  /**
   * Creates a max–min quantizer.
   *
   * @param options See {@linkcode MaxMinOptions}.
   */
  constructor(options: MaxMinOptions) {
    const { bits, bucketSize = 1024, rounding = "stochastic" } = options;
    checkBits(bits);
    checkPositiveInt(bucketSize, "bucketSize");
    checkRounding(rounding, "maxmin");
    this.bits = bits;
    this.bins = 2 ** bits - 1;
    this.bucketSize = bucketSize;
    this.rounding = rounding;
    this.unbiased = rounding === "stochastic";
  }

  quantize(v: Float32Array, rng: Rng, layer?: LayerInfo, stats?: QuantizeStats): Quantized {
    checkLayer(v, layer);
    const stochastic = this.rounding === "stochastic";
    return quantizeAffine(
      "maxmin",
      v,
      this.bucketSize,
      this.bins,
      stochastic,
      rng,
      layerName(layer),
      stats,
    );
  }

  dequantize(q: Quantized, out?: Float32Array): Float32Array {
    return affineDequantize(q, "maxmin", out);
  }

  varianceBound(v: Float32Array, layer?: LayerInfo): number {
    const stochastic = this.rounding === "stochastic";
    return affineVariance(v, this.bucketSize, this.bins, stochastic, layerName(layer)).bound;
  }

  expectedVariance(v: Float32Array, layer?: LayerInfo): number {
    const stochastic = this.rounding === "stochastic";
    return affineVariance(v, this.bucketSize, this.bins, stochastic, layerName(layer)).expected;
  }
}

/** Options of {@linkcode PtqQuantizer}. */
export interface PtqOptions {
  /** Bits per coordinate (1..16). */
  bits: number;
  /** Number of bins B. @default {2^bits − 1} */
  bins?: number;
  /** Rounding; only stochastic is unbiased. @default {"stochastic"} */
  rounding?: AffineRounding;
}

/**
 * Per-tensor quantization (PTQ): one [unit, min] pair for the whole vector.
 *
 * @example The known answer from the FQT notes
 * ```ts
 * import { PtqQuantizer } from "@qoda/ring/quant";
 * const q = new PtqQuantizer({ bits: 2, bins: 2 });
 * const v = new Float32Array([0, 0.5, 1, 0, 50, 100]);
 * if (Math.abs(q.expectedVariance(v) - 73.75) > 1e-9) throw new Error("expected 73.75");
 * ```
 */
export class PtqQuantizer implements Quantizer {
  readonly scheme = "ptq" as const;
  readonly bits: number;
  readonly unbiased: boolean;
  /** The number of bins B. */
  readonly bins: number;
  /** The rounding mode. */
  readonly rounding: AffineRounding;

  /**
   * Creates a per-tensor quantizer.
   *
   * @param options See {@linkcode PtqOptions}.
   */
  constructor(options: PtqOptions) {
    const { bits, rounding = "stochastic" } = options;
    checkBits(bits);
    const bins = options.bins ?? 2 ** bits - 1;
    checkBins(bins);
    checkRounding(rounding, "ptq");
    this.bits = bits;
    this.bins = bins;
    this.rounding = rounding;
    this.unbiased = rounding === "stochastic";
  }

  quantize(v: Float32Array, rng: Rng, layer?: LayerInfo, stats?: QuantizeStats): Quantized {
    checkLayer(v, layer);
    const stochastic = this.rounding === "stochastic";
    const bs = Math.max(1, v.length);
    return quantizeAffine("ptq", v, bs, this.bins, stochastic, rng, layerName(layer), stats);
  }

  dequantize(q: Quantized, out?: Float32Array): Float32Array {
    if (q.scheme === "ptq" && q.length > 0 && q.bucketSize !== q.length) {
      throw new QuantizationError("", `ptq block has bucket size ${q.bucketSize} ≠ ${q.length}`);
    }
    return affineDequantize(q, "ptq", out);
  }

  varianceBound(v: Float32Array, layer?: LayerInfo): number {
    const stochastic = this.rounding === "stochastic";
    return affineVariance(v, Math.max(1, v.length), this.bins, stochastic, layerName(layer)).bound;
  }

  expectedVariance(v: Float32Array, layer?: LayerInfo): number {
    const stochastic = this.rounding === "stochastic";
    const bs = Math.max(1, v.length);
    return affineVariance(v, bs, this.bins, stochastic, layerName(layer)).expected;
  }
}

/** Options of {@linkcode PsqQuantizer}. */
export interface PsqOptions {
  /** Bits per coordinate (1..16). */
  bits: number;
  /** Number of bins B. @default {2^bits − 1} */
  bins?: number;
  /** Row length D. @default {product of `layer.shape[1..]`} */
  rowLength?: number;
}

/**
 * Per-sample quantization (PSQ): the vector is an N×D row-major matrix and
 * each row gets its own [unit, min]. Always stochastic (unbiased).
 *
 * @example Rows on their own grids are exact
 * ```ts
 * import { PsqQuantizer } from "@qoda/ring/quant";
 * const q = new PsqQuantizer({ bits: 2, bins: 2, rowLength: 3 });
 * const v = new Float32Array([0, 0.5, 1, 0, 50, 100]);
 * if (q.expectedVariance(v) !== 0) throw new Error("expected 0");
 * ```
 */
export class PsqQuantizer implements Quantizer {
  readonly scheme = "psq" as const;
  readonly bits: number;
  readonly unbiased = true;
  /** The number of bins B. */
  readonly bins: number;
  /** The fixed row length, if configured. */
  readonly rowLength: number | undefined;

  /**
   * Creates a per-sample quantizer.
   *
   * @param options See {@linkcode PsqOptions}.
   */
  constructor(options: PsqOptions) {
    ({ bits: this.bits, bins: this.bins, rowLength: this.rowLength } = rowSchemeConfig(options));
  }

  quantize(v: Float32Array, rng: Rng, layer?: LayerInfo, stats?: QuantizeStats): Quantized {
    checkLayer(v, layer);
    const d = resolveRowLength(v.length, this.rowLength, layer);
    return quantizeAffine("psq", v, d, this.bins, true, rng, layerName(layer), stats);
  }

  dequantize(q: Quantized, out?: Float32Array): Float32Array {
    return affineDequantize(q, "psq", out);
  }

  varianceBound(v: Float32Array, layer?: LayerInfo): number {
    const d = resolveRowLength(v.length, this.rowLength, layer);
    return affineVariance(v, d, this.bins, true, layerName(layer)).bound;
  }

  expectedVariance(v: Float32Array, layer?: LayerInfo): number {
    const d = resolveRowLength(v.length, this.rowLength, layer);
    return affineVariance(v, d, this.bins, true, layerName(layer)).expected;
  }
}

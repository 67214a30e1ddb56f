/**
 * The `qsgd` scheme (global quantization, the Q-GenX baseline): per bucket an
 * L2 or L∞ norm, s = 2^(bits−1) − 1 uniform levels, a sign per coordinate and
 * unbiased stochastic rounding.
 *
 * @module
 */
import type { Rng } from "../rng.ts";
import {
  dequantizeSignMagnitude,
  quantizeSignMagnitude,
  signMagnitudeVariance,
} from "./sign_magnitude.ts";
import { checkBits, checkLayer, checkPositiveInt, layerName } from "./_validate.ts";
import { QuantizationError } from "../errors.ts";
import type { LayerInfo, Quantized, Quantizer, QuantizeStats } from "./types.ts";

/** Options of {@linkcode QsgdQuantizer}. */
export interface QsgdOptions {
  /** Bits per coordinate, sign included (2..16). @default {8} */
  bits?: number;
  /** Coordinates per bucket (one norm each). @default {1024} */
  bucketSize?: number;
  /** Norm: 2 (L2) or Infinity (L∞). @default {2} */
  normQ?: number;
}

/** The uniform level table 0, 1/s, …, 1 for s = 2^(bits−1) − 1. */
export function uniformLevels(bits: number): Float32Array {
  const s = (1 << (bits - 1)) - 1;
  const levels = new Float32Array(s + 1);
  for (let i = 0; i <= s; i++) levels[i] = i / s;
  levels[s] = 1;
  return levels;
}

/**
 * QSGD with s uniform levels: E[Q(v)] = v and, per bucket of d coordinates
 * under L2, E‖Q(v) − v‖² ≤ min(d/s², √d/s)·‖v‖².
 *
 * @example
 * ```ts
 * import { QsgdQuantizer } from "@qoda/ring/quant";
 * import { Rng } from "@qoda/ring";
 * const q = new QsgdQuantizer({ bits: 4, bucketSize: 4 });
 * const block = q.quantize(new Float32Array([3, -4, 0, 0]), new Rng(1));
 * if (block.meta[0] !== 5) throw new Error("norm of the bucket is 5");
 * ```
 */
export class QsgdQuantizer implements Quantizer {
  readonly scheme = "qsgd" as const;
  readonly bits: number;
  readonly unbiased = true;
  /** Coordinates per bucket (one norm each). */
  readonly bucketSize: number;
  /** The norm exponent: 2 (L2) or `Infinity` (L∞). */
  readonly normQ: number;
  /** The uniform levels 0, 1/s, …, 1 (s = 2^(bits−1) − 1); do not modify. */
  readonly levels: Float32Array;

  /**
   * Creates a QSGD quantizer.
   *
   * @param options See {@linkcode QsgdOptions}.
   * @throws {QuantizationError} For bits outside 2..16, a bucket size that is
   * not a positive integer, or a norm other than 2 or `Infinity`.
   */
  constructor(options: QsgdOptions = {}) {
    const { bits = 8, bucketSize = 1024, normQ = 2 } = options;
    checkBits(bits, "", 2);
    checkPositiveInt(bucketSize, "bucketSize");
    if (normQ !== 2 && normQ !== Infinity) {
      throw new QuantizationError("", `qsgd norm must be 2 or Infinity, got ${normQ}`);
    }
    this.bits = bits;
    this.bucketSize = bucketSize;
    this.normQ = normQ;
    this.levels = uniformLevels(bits);
  }

  quantize(v: Float32Array, rng: Rng, layer?: LayerInfo, stats?: QuantizeStats): Quantized {
    checkLayer(v, layer);
    return quantizeSignMagnitude(
      v,
      {
        scheme: "qsgd",
        bits: this.bits,
        bucketSize: this.bucketSize,
        normQ: this.normQ,
        levels: this.levels,
        layer: layerName(layer),
      },
      rng,
      stats,
    );
  }

  dequantize(q: Quantized, out?: Float32Array): Float32Array {
    return dequantizeSignMagnitude(q, "qsgd", "", out);
  }

  varianceBound(v: Float32Array, layer?: LayerInfo): number {
    const name = layerName(layer);
    const { bound } = signMagnitudeVariance(v, this.levels, this.bucketSize, this.normQ, name);
    if (this.normQ !== 2) return bound;
    // The classical QSGD bound, bucket by bucket; both are valid, keep the smaller.
    const s = this.levels.length - 1;
    let classical = 0;
    for (let from = 0; from < v.length; from += this.bucketSize) {
      const to = Math.min(v.length, from + this.bucketSize);
      const d = to - from;
      let n2 = 0;
      for (let i = from; i < to; i++) n2 += v[i] * v[i];
      classical += Math.min(d / (s * s), Math.sqrt(d) / s) * n2;
    }
    return Math.min(bound, classical);
  }

  expectedVariance(v: Float32Array, layer?: LayerInfo): number {
    return signMagnitudeVariance(v, this.levels, this.bucketSize, this.normQ, layerName(layer))
      .expected;
  }
}

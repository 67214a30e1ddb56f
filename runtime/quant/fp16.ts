/**
 * The `fp16` scheme: a cast to IEEE half precision (16 bits per coordinate),
 * round-to-nearest-even by default or stochastic (unbiased).
 *
 * @module
 */
import { QuantizationError } from "../errors.ts";
import type { Rng } from "../rng.ts";
import { checkFinite, checkLayer, checkOut, layerName } from "./_validate.ts";
import { EMPTY_F32, EMPTY_U32 } from "./types.ts";
import type { LayerInfo, Quantized, Quantizer, QuantizeStats } from "./types.ts";

/** Largest finite half-precision value. */
export const FP16_MAX = 65504;

/** Options of {@linkcode Fp16Quantizer}. */
export interface Fp16Options {
  /**
   * `nearest` (the plain cast, deterministic, error ≤ half an ulp) or
   * `stochastic` (rounds to one of the two neighbouring halves, unbiased).
   * @default {"nearest"}
   */
  rounding?: "nearest" | "stochastic";
}

/** The gap between v's two neighbouring half-precision values (its ulp). */
function halfUlp(x: number): number {
  const a = Math.abs(x);
  if (a < 6.103515625e-5) return 5.960464477539063e-8; // subnormal spacing 2^-24
  return Math.pow(2, Math.floor(Math.log2(a)) - 10);
}

/**
 * Half-precision cast.
 *
 * @example
 * ```ts
 * import { Fp16Quantizer } from "@qoda/ring/quant";
 * import { Rng } from "@qoda/ring";
 * const q = new Fp16Quantizer();
 * const back = q.dequantize(q.quantize(new Float32Array([0.1]), new Rng(0)));
 * if (Math.abs(back[0] - 0.1) > 1e-4) throw new Error("too far");
 * ```
 */
export class Fp16Quantizer implements Quantizer {
  readonly scheme = "fp16" as const;
  readonly bits = 16;
  readonly unbiased: boolean;
  /** The rounding mode: `nearest` (deterministic) or `stochastic` (unbiased). */
  readonly rounding: "nearest" | "stochastic";

  /**
   * Creates a half-precision quantizer.
   *
   * @param options See {@linkcode Fp16Options}.
   * @throws {QuantizationError} For a rounding mode other than `nearest` or `stochastic`.
   */
  constructor(options: Fp16Options = {}) {
    const { rounding = "nearest" } = options;
    if (rounding !== "nearest" && rounding !== "stochastic") {
      throw new QuantizationError(
        "",
        `fp16 rounding must be nearest or stochastic, got ${rounding}`,
      );
    }
    this.rounding = rounding;
    this.unbiased = rounding === "stochastic";
  }

  quantize(v: Float32Array, rng: Rng, layer?: LayerInfo, stats?: QuantizeStats): Quantized {
    checkLayer(v, layer);
    const name = layerName(layer);
    const n = v.length;
    const half = new Float16Array(n);
    half.set(v);
    let bad = 0;
    for (let i = 0; i < n; i++) bad += half[i] * 0;
    if (bad !== 0) {
      checkFinite(v, name);
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(half[i])) {
          throw new QuantizationError(
            name,
            `value ${v[i]} at index ${i} is outside the fp16 range ±${FP16_MAX}`,
          );
        }
      }
    }
    if (this.rounding === "stochastic") {
      const bits = new Uint16Array(half.buffer);
      for (let i = 0; i < n; i++) {
        const x = v[i], h = half[i];
        if (h === x) continue;
        // The other neighbour lies one ulp further from zero (|h| < |x|) or closer (|h| > |x|).
        const away = Math.abs(h) < Math.abs(x);
        const other = h === 0 ? (x < 0 ? 0x8001 : 0x0001) : bits[i] + (away ? 1 : -1);
        const hBits = bits[i];
        bits[i] = other;
        const o = half[i];
        bits[i] = hBits;
        if (!Number.isFinite(o)) continue; // beyond ±65504: stay at the largest finite value
        // Pick o with probability |x − h| / |o − h| (unbiased between h and o).
        if (rng.nextFloat() * Math.abs(o - h) < Math.abs(x - h)) bits[i] = other;
      }
    }
    if (stats) {
      let e = 0, s = 0;
      for (let i = 0; i < n; i++) {
        const d = half[i] - v[i];
        e += d * d;
        s += v[i] * v[i];
      }
      stats.sqError = e;
      stats.sqNorm = s;
    }
    return {
      scheme: "fp16",
      length: n,
      bits: 16,
      bucketSize: 1,
      signed: false,
      normQ: 0,
      bins: 0,
      levels: EMPTY_F32,
      meta: EMPTY_F32,
      aux: EMPTY_U32,
      codes: new Uint16Array(half.buffer),
      raw: EMPTY_F32,
    };
  }

  dequantize(q: Quantized, out?: Float32Array): Float32Array {
    if (q.scheme !== "fp16" || q.codes.length !== q.length) {
      throw new QuantizationError("", `expected an 'fp16' block of ${q.length} codes`);
    }
    const dst = out ?? new Float32Array(q.length);
    checkOut(dst, q.length);
    const c = q.codes;
    dst.set(new Float16Array(c.buffer, c.byteOffset, c.length));
    return dst;
  }

  varianceBound(v: Float32Array, layer?: LayerInfo): number {
    checkFinite(v, layerName(layer));
    let b = 0;
    for (let i = 0; i < v.length; i++) {
      // Nearest: |error| ≤ ulp/2; stochastic: (hi − x)(x − lo) ≤ ulp²/4.
      const u = halfUlp(v[i]);
      b += u * u / 4;
    }
    return b;
  }

  expectedVariance(v: Float32Array, layer?: LayerInfo): number {
    checkFinite(v, layerName(layer));
    let e = 0;
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (this.rounding === "nearest") {
        const h = Math.f16round(x);
        e += (h - x) * (h - x);
      } else {
        const u = halfUlp(x);
        const lo = Math.floor(x / u) * u;
        e += (lo + u - x) * (x - lo);
      }
    }
    return e;
  }
}

/**
 * The `none` scheme: float32 values sent as they are. The uncompressed
 * baseline every benchmark compares against.
 *
 * @module
 */
import { QuantizationError } from "../errors.ts";
import type { Rng } from "../rng.ts";
import { checkFinite, checkLayer, checkOut, layerName } from "./_validate.ts";
import { EMPTY_F32, EMPTY_U16, EMPTY_U32 } from "./types.ts";
import type { LayerInfo, Quantized, Quantizer, QuantizeStats } from "./types.ts";

/**
 * Float32 passthrough (32 bits per coordinate, no error). Still rejects
 * NaN/Inf, like every scheme.
 *
 * @example
 * ```ts
 * import { NoneQuantizer } from "@qoda/ring/quant";
 * import { Rng } from "@qoda/ring";
 * const q = new NoneQuantizer();
 * const v = new Float32Array([1.5, -2]);
 * const back = q.dequantize(q.quantize(v, new Rng(0)));
 * if (back[0] !== 1.5 || back[1] !== -2) throw new Error("not exact");
 * ```
 */
export class NoneQuantizer implements Quantizer {
  readonly scheme = "none" as const;
  readonly bits = 32;
  readonly unbiased = true;

  quantize(v: Float32Array, _rng: Rng, layer?: LayerInfo, stats?: QuantizeStats): Quantized {
    checkLayer(v, layer);
    checkFinite(v, layerName(layer));
    if (stats) {
      let s = 0;
      for (let i = 0; i < v.length; i++) s += v[i] * v[i];
      stats.sqError = 0;
      stats.sqNorm = s;
    }
    return {
      scheme: "none",
      length: v.length,
      bits: 32,
      bucketSize: 1,
      signed: false,
      normQ: 0,
      bins: 0,
      levels: EMPTY_F32,
      meta: EMPTY_F32,
      aux: EMPTY_U32,
      codes: EMPTY_U16,
      raw: v.slice(),
    };
  }

  dequantize(q: Quantized, out?: Float32Array): Float32Array {
    if (q.scheme !== "none" || q.raw.length !== q.length) {
      throw new QuantizationError("", `expected a 'none' block of ${q.length} raw values`);
    }
    const dst = out ?? new Float32Array(q.length);
    checkOut(dst, q.length);
    dst.set(q.raw);
    return dst;
  }

  varianceBound(v: Float32Array, layer?: LayerInfo): number {
    checkFinite(v, layerName(layer));
    return 0;
  }

  expectedVariance(v: Float32Array, layer?: LayerInfo): number {
    return this.varianceBound(v, layer);
  }
}

/**
 * Build any quantizer from a plain specification (what the CLI parses).
 *
 * @module
 */
import { UnknownNameError } from "../errors.ts";
import { BhqQuantizer } from "./bhq.ts";
import { Fp16Quantizer } from "./fp16.ts";
import { LayerTypeMap, type LayerTypeRule } from "./layer_types.ts";
import { LayerwiseQuantizer } from "./layerwise.ts";
import type { LevelSchedule } from "./levels.ts";
import { MaxMinQuantizer, PsqQuantizer, PtqQuantizer } from "./max_min.ts";
import { NoneQuantizer } from "./none.ts";
import { QsgdQuantizer } from "./qsgd.ts";
import { type Quantizer, SCHEMES } from "./types.ts";

/** Everything any scheme can be configured with; each scheme reads what applies. */
export interface QuantizerSpec {
  /** One of {@linkcode SCHEMES}. */
  scheme: string;
  /** Bits per coordinate. @default {8 for qsgd, 4 otherwise} */
  bits?: number;
  /** Coordinates per bucket (maxmin, qsgd, layerwise). @default {1024} */
  bucketSize?: number;
  /** Rounding of maxmin and fp16. */
  rounding?: "stochastic" | "nearest";
  /** Norm exponent of qsgd (2 or Infinity) and layerwise (≥ 1). @default {2} */
  normQ?: number;
  /** Number of bins for ptq/psq/bhq (default 2^bits − 1). */
  bins?: number;
  /** Row length D for psq/bhq (default from the layer's shape). */
  rowLength?: number;
  /** Extra layer-type rules (layerwise). */
  layerTypes?: LayerTypeRule[];
  /** Per-type bits (layerwise). */
  bitsByType?: Record<string, number>;
  /** Level re-solve schedule, or false (layerwise). */
  adapt?: LevelSchedule | false;
}

/**
 * Creates the quantizer a spec names. Unknown schemes raise
 * {@linkcode UnknownNameError} listing the valid ones.
 *
 * @example Build quantizers from command-line style specs
 * ```ts
 * import { createQuantizer, Rng, UnknownNameError } from "@qoda/ring";
 * const q = createQuantizer({ scheme: "qsgd", bits: 8, normQ: Infinity });
 * if (q.scheme !== "qsgd" || q.bits !== 8 || !q.unbiased) throw new Error("wrong quantizer");
 * const v = new Float32Array([0.5, -1, 2, 0]);
 * const back = q.dequantize(q.quantize(v, new Rng(1)));
 * // 127 levels of the bucket's largest magnitude, 2: every value moves by at most 2/127.
 * if (v.some((x, i) => Math.abs(back[i] - x) > 2 / 127 + 1e-6)) throw new Error("too far");
 * const lw = createQuantizer({ scheme: "layerwise", bits: 4 });
 * if (lw.scheme !== "layerwise" || lw.bits !== 4) throw new Error("wrong quantizer");
 * try {
 *   createQuantizer({ scheme: "int3" });
 *   throw new Error("accepted an unknown scheme");
 * } catch (e) {
 *   if (!(e instanceof UnknownNameError)) throw e;
 * }
 * ```
 */
export function createQuantizer(spec: QuantizerSpec): Quantizer {
  const { scheme, bits, bucketSize, rounding, normQ, bins, rowLength } = spec;
  switch (scheme) {
    case "none":
      return new NoneQuantizer();
    case "fp16":
      return new Fp16Quantizer({ rounding: rounding ?? "nearest" });
    case "maxmin":
      return new MaxMinQuantizer({ bits: bits ?? 4, bucketSize, rounding });
    case "qsgd":
      return new QsgdQuantizer({ bits: bits ?? 8, bucketSize, normQ });
    case "layerwise":
      return new LayerwiseQuantizer({
        bits: bits ?? 4,
        bucketSize,
        normQ,
        typeMap: new LayerTypeMap(spec.layerTypes ?? []),
        bitsByType: spec.bitsByType,
        adapt: spec.adapt,
      });
    case "ptq":
      return new PtqQuantizer({ bits: bits ?? 4, bins, rounding });
    case "psq":
      return new PsqQuantizer({ bits: bits ?? 4, bins, rowLength });
    case "bhq":
      return new BhqQuantizer({ bits: bits ?? 4, bins, rowLength });
    default:
      throw new UnknownNameError("scheme", scheme, SCHEMES);
  }
}

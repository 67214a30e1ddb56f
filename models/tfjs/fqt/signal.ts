/**
 * Quantizing the backward signal of fully quantized training (FQT, Chen et al. 2020), over
 * plain `Float32Array`s. The output gradient ∇H of a layer, flattened to `N × D` (N = batch,
 * D = the rest), is quantized twice, independently ("gradient bifurcation"):
 *
 * | scheme | ∇X path (input gradient)   | ∇W path (weight gradient)   |
 * | ------ | -------------------------- | --------------------------- |
 * | `ptq`  | per-tensor range           | per-tensor range            |
 * | `psq`  | per-sample (row) ranges    | per-column ranges           |
 * | `bhq`  | block Householder + PSQ    | per-column ranges           |
 *
 * as StatQuant does (∇W = Xᵀ∇H sums over samples, so its quantizer takes one range per output
 * coordinate). Every quantizer rounds stochastically, so each path is unbiased and the FQT
 * gradient is an unbiased estimate of the exact one.
 *
 * @example Quantize a 4 × 3 gradient on both paths
 * ```ts
 * import { createSignalQuantizers, quantizeSignal } from "@qoda/ring/tfjs";
 * import { Rng } from "@qoda/ring";
 * const q = createSignalQuantizers("bhq", 5);
 * const dy = new Float32Array([1, -2, 3, 0.1, 0.2, 0.3, -5, 5, 0, 0.01, 0.02, 0.03]);
 * const rng = new Rng(1);
 * const forX = quantizeSignal(dy, 4, 3, q.input, rng, "dense/x");
 * const forW = quantizeSignal(dy, 4, 3, q.weight, rng, "dense/w");
 * if (forX.length !== 12 || forW.length !== 12) throw new Error();
 * ```
 *
 * @module
 */
import { UnknownNameError } from "../../../runtime/errors.ts";
import type { Rng } from "../../../runtime/rng.ts";
import { BhqQuantizer } from "../../../runtime/quant/bhq.ts";
import { PsqQuantizer, PtqQuantizer } from "../../../runtime/quant/max_min.ts";
import type { Quantizer, QuantizeStats } from "../../../runtime/quant/types.ts";

/** FQT schemes (`--fqt`). */
export const FQT_SCHEMES = ["ptq", "psq", "bhq"] as const;
/** One of {@linkcode FQT_SCHEMES}. */
export type FqtScheme = typeof FQT_SCHEMES[number];

/** How one path's quantizer sees the `N × D` signal. */
export interface SignalQuantizer {
  /** The quantizer. */
  readonly quantizer: Quantizer;
  /** True: quantize the transpose (`D × N`, one range per column of the signal). */
  readonly perColumn: boolean;
  /** Scheme label for logs, e.g. `"psq/column"`. */
  readonly label: string;
}

/** The two independent quantizers of one scheme. */
export interface SignalQuantizers {
  /** For the input gradient ∇X. */
  readonly input: SignalQuantizer;
  /** For the weight (and bias) gradient ∇W. */
  readonly weight: SignalQuantizer;
}

/**
 * The quantizers of an FQT scheme at `bits` bits (see the module table).
 *
 * @param scheme `"ptq"`, `"psq"` or `"bhq"`.
 * @param bits Bits per coordinate (1..16; B = 2^b − 1 bins).
 * @returns Both paths' quantizers.
 * @throws {UnknownNameError} Unknown scheme (lists the valid ones).
 * @throws {QuantizationError} Bits out of range.
 */
export function createSignalQuantizers(scheme: string, bits: number): SignalQuantizers {
  switch (scheme) {
    case "ptq": {
      const q = new PtqQuantizer({ bits });
      return {
        input: { quantizer: q, perColumn: false, label: "ptq" },
        weight: { quantizer: q, perColumn: false, label: "ptq" },
      };
    }
    case "psq":
    case "bhq": {
      const column = new PsqQuantizer({ bits });
      const input = scheme === "bhq" ? new BhqQuantizer({ bits }) : new PsqQuantizer({ bits });
      return {
        input: { quantizer: input, perColumn: false, label: `${scheme}/row` },
        weight: { quantizer: column, perColumn: true, label: "psq/column" },
      };
    }
    default:
      throw new UnknownNameError("FQT scheme", scheme, FQT_SCHEMES);
  }
}

/**
 * Transposes a row-major `rows × cols` matrix.
 *
 * @param v The matrix.
 * @param rows Rows.
 * @param cols Columns.
 * @param out `cols × rows` destination; a new array when omitted.
 * @returns `out`.
 */
export function transpose(
  v: Float32Array,
  rows: number,
  cols: number,
  out?: Float32Array,
): Float32Array {
  if (v.length !== rows * cols) {
    throw new RangeError(`matrix has ${v.length} values, expected ${rows} × ${cols}`);
  }
  const res = out ?? new Float32Array(v.length);
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    for (let c = 0; c < cols; c++) res[c * rows + r] = v[off + c];
  }
  return res;
}

/**
 * One stochastic quantization of an `N × D` signal, dequantized (the values the backward pass
 * continues with).
 *
 * @param dy The signal, row-major (not modified).
 * @param rows N.
 * @param cols D.
 * @param q The path's quantizer.
 * @param rng Randomness of the rounding.
 * @param layer Name for error messages.
 * @param stats Receives ‖Q(dy) − dy‖² and ‖dy‖² when given.
 * @returns Q(dy), `N × D` row-major.
 */
export function quantizeSignal(
  dy: Float32Array,
  rows: number,
  cols: number,
  q: SignalQuantizer,
  rng: Rng,
  layer = "",
  stats?: QuantizeStats,
): Float32Array {
  if (dy.length !== rows * cols) {
    throw new RangeError(`signal '${layer}' has ${dy.length} values, expected ${rows} × ${cols}`);
  }
  if (!q.perColumn) {
    return q.quantizer.dequantize(
      q.quantizer.quantize(dy, rng, { name: layer, shape: [rows, cols] }, stats),
    );
  }
  const t = transpose(dy, rows, cols);
  const back = q.quantizer.dequantize(
    q.quantizer.quantize(t, rng, { name: layer, shape: [cols, rows] }, stats),
  );
  return transpose(back, cols, rows);
}

/**
 * Storing GPFQ/RTN level indices in the TF.js weights manifest format: the levels k ∈ [−K, K]
 * actually used by a tensor, `kmin..kmax`, become codes `k − kmin` with
 * `quantization: {dtype: "uint8", min: kmin·δ, scale: δ}`, which TF.js decodes as
 * `code·δ + kmin·δ = kδ` exactly: no precision is lost. When a tensor uses more than 256
 * levels (possible only at 8 bits or more, where the alphabet has 2^b + 1 levels) the codes are
 * `uint16` instead.
 *
 * @example Levels −1, 0, 2 with δ = 0.25
 * ```ts
 * import { dequantizeCodes, levelCodes } from "@qoda/ring/tfjs";
 * const c = levelCodes(new Int32Array([-1, 0, 2]), 0.25);
 * if (c.dtype !== "uint8" || c.codes.join() !== "0,1,3") throw new Error();
 * if (dequantizeCodes(c).join() !== "-0.25,0,0.5") throw new Error();
 * ```
 *
 * @module
 */
import type { AffineCodes } from "../io.ts";

/**
 * Codes and affine map of a tensor of level indices.
 *
 * @param levels Level indices k (value kδ).
 * @param delta δ (> 0).
 * @returns uint8 codes when `kmax − kmin ≤ 255`, else uint16 (range ≤ 65535).
 * @throws {RangeError} δ ≤ 0, or a range beyond uint16.
 */
export function levelCodes(levels: Int32Array, delta: number): AffineCodes {
  if (!(delta > 0) || !Number.isFinite(delta)) {
    throw new RangeError(`δ must be a finite number > 0, got ${delta}`);
  }
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < levels.length; i++) {
    const k = levels[i];
    if (k < lo) lo = k;
    if (k > hi) hi = k;
  }
  if (levels.length === 0) lo = hi = 0;
  const span = hi - lo;
  if (span > 65535) throw new RangeError(`levels span ${span + 1} values; uint16 holds 65536`);
  const codes = span <= 255 ? new Uint8Array(levels.length) : new Uint16Array(levels.length);
  for (let i = 0; i < levels.length; i++) codes[i] = levels[i] - lo;
  return { dtype: span <= 255 ? "uint8" : "uint16", min: lo * delta, scale: delta, codes };
}

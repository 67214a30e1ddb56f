/**
 * Bias correction after weight quantization: the quantized layer's mean pre-activation over
 * the calibration data is moved back onto the float layer's,
 * `b̃ = b + μ_X·W − μ_X̃·Q`, with μ the column means of the layer inputs X (float network) and
 * X̃ (quantized network). It removes the systematic shift that quantization errors and the
 * drift of X̃ add to every neuron; the per-sample error is left to GPFQ.
 *
 * @example A shift of the inputs is absorbed by the bias
 * ```ts
 * import { correctedBias } from "@qoda/ring/tfjs";
 * // One input, one neuron: w = 0.5 quantized to q = 0.5 (δ = 0.5, k = 1), μ_X = 2, μ_X̃ = 1.
 * const b = correctedBias(new Float32Array([0]), new Float64Array([2]), new Float64Array([1]),
 *   new Float32Array([0.5]), new Int32Array([1]), 0.5, 1, 1);
 * if (b[0] !== 0.5) throw new Error(`got ${b[0]}`); // 2·0.5 − 1·0.5
 * ```
 *
 * @module
 */
import { checkShape } from "./alphabet.ts";

/**
 * The corrected bias `b + μ_X·W − μ_X̃·(δQ)`.
 *
 * @param bias The float bias (length N1), or undefined for a layer without one (zeros).
 * @param meanX Column means of X (length N0).
 * @param meanXt Column means of X̃ (length N0).
 * @param W `N0 × N1` float kernel.
 * @param Q `N0 × N1` level indices.
 * @param delta δ.
 * @param n0 Inputs.
 * @param n1 Neurons.
 * @returns The new bias (float32, length N1).
 */
export function correctedBias(
  bias: Float32Array | undefined,
  meanX: Float64Array,
  meanXt: Float64Array,
  W: Float32Array,
  Q: Int32Array,
  delta: number,
  n0: number,
  n1: number,
): Float32Array {
  checkShape(W.length, n0, n1, "kernel W");
  checkShape(Q.length, n0, n1, "levels Q");
  if (meanX.length !== n0 || meanXt.length !== n0) {
    throw new RangeError(`means have lengths ${meanX.length}/${meanXt.length}, expected ${n0}`);
  }
  if (bias !== undefined && bias.length !== n1) {
    throw new RangeError(`bias has length ${bias.length}, expected ${n1}`);
  }
  const acc = new Float64Array(n1);
  if (bias !== undefined) { for (let j = 0; j < n1; j++) acc[j] = bias[j]; }
  for (let t = 0; t < n0; t++) {
    const a = meanX[t], b = meanXt[t] * delta;
    const off = t * n1;
    for (let j = 0; j < n1; j++) acc[j] += a * W[off + j] - b * Q[off + j];
  }
  return Float32Array.from(acc);
}

/**
 * Column means from column sums.
 *
 * @param sums Column sums.
 * @param count Rows summed.
 * @returns `sums / count` (zeros when count is 0).
 */
export function meansFromSums(sums: Float64Array, count: number): Float64Array {
  const out = new Float64Array(sums.length);
  if (count > 0) { for (let i = 0; i < sums.length; i++) out[i] = sums[i] / count; }
  return out;
}

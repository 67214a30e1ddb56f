/**
 * Fully quantized training: `tf.customGrad` dense and conv2d wrappers whose
 * backward signal is quantized with unbiased per-tensor (ptq), per-sample
 * (psq) or block-Householder (bhq) stochastic quantizers, independently for
 * the weight gradient and the input gradient.
 *
 * @module
 */
export { floatOps, FqtOps } from "./layers.ts";
export type { FqtOptions, LinearOps, Padding, PathStats } from "./layers.ts";
export { createSignalQuantizers, FQT_SCHEMES, quantizeSignal } from "./signal.ts";
export type { FqtScheme, SignalQuantizer, SignalQuantizers } from "./signal.ts";

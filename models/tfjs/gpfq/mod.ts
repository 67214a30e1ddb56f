/**
 * GPFQ: greedy path-following post-training quantization of dense and conv
 * layers (Gram and residual forms, im2col patches, bias correction, mixed
 * precision), round-to-nearest for comparison, and export as a TF.js model
 * with uint8-quantized weights. `deno task quantize` is the command line.
 *
 * @module
 */
export {
  alphabetForKernel,
  alphabetFromMaxima,
  alphabetLevels,
  nearestLevel,
  neuronMaxAbs,
  roundToNearest,
} from "./alphabet.ts";
export type { Alphabet } from "./alphabet.ts";
export { accumulateGram, createGram, gpfqGram, gpfqResidual, relativeError } from "./core.ts";
export type { Gram, Levels } from "./core.ts";
export { conv2dGeometry, im2col, samplePositions } from "./im2col.ts";
export type { Conv2dGeometry } from "./im2col.ts";
export { correctedBias } from "./bias.ts";
export { levelCodes } from "./export.ts";
export {
  DEFAULT_SCALAR,
  exportQuantizedModel,
  FORMS,
  METHODS,
  quantizeLayersModel,
} from "./layers.ts";
export type {
  Form,
  LayerPrecision,
  LayerReport,
  Method,
  QuantizedModel,
  QuantizeModelOptions,
} from "./layers.ts";

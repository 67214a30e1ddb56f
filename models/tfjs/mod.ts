/**
 * The tfjs tooling of qoda-ring, apart from the communication library so that
 * importing `@qoda/ring` never loads tfjs: tensor backend selection (`auto`,
 * `tensorflow`, `webgpu`, `wasm`, `cpu`), fully quantized training layers
 * (FQT: ptq, psq and bhq backward quantizers), GPFQ post-training weight
 * quantization, and TF.js model I/O.
 *
 * @example Initialise a backend and report it
 * ```ts
 * import { describeBackend, initBackend } from "@qoda/ring/tfjs";
 *
 * const info = await initBackend("cpu"); // or "auto" for the fastest available
 * if (!describeBackend(info).startsWith("backend: cpu")) throw new Error();
 * const tf = info.tf;
 * const sum = tf.tidy(() => tf.ones([4]).sum().dataSync()[0]);
 * if (sum !== 4) throw new Error(`sum is ${sum}`);
 * ```
 *
 * @module
 */
export * from "./backend/mod.ts";
export * from "./fqt/mod.ts";
export * from "./gpfq/mod.ts";
export * from "./problem.ts";
export {
  affineQuantize,
  captureArtifacts,
  cloneLayersModel,
  dequantizeCode,
  dequantizeCodes,
  loadLayersModel,
  MODEL_JSON,
  ModelFileError,
  readModelArtifacts,
  saveLayersModel,
  WEIGHTS_BIN,
  writeModelFiles,
} from "./io.ts";
export type {
  AffineCodes,
  ModelFiles,
  ModelJson,
  ModelJsonHead,
  SaveLayersModelOptions,
} from "./io.ts";
export type {
  LayersModel,
  ModelArtifacts,
  Scalar,
  Sequential,
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor4D,
  Variable,
  WeightsManifestEntry,
} from "./types.ts";
export type { ProblemWorker, TrainProblem } from "../../actors/mod.ts";
export type { LayerSpan } from "../../runtime/collective/mod.ts";
export type { QodaError } from "../../runtime/errors.ts";
export {
  type LayerInfo,
  type Quantized,
  type Quantizer,
  type QuantizeStats,
  type SchemeName,
  SCHEMES,
} from "../../runtime/quant/mod.ts";
export type { Rng, RngState } from "../../runtime/rng.ts";

/**
 * qoda-ring: data-parallel training with quantized communication.
 *
 * This module re-exports the library API:
 * - quantizers (`none`, `fp16`, `maxmin`, `qsgd`, QODA's `layerwise` with
 *   adaptive levels, and `ptq`/`psq`/`bhq` from statistical FQT), each over
 *   `Float32Array` with an explicit seeded {@linkcode Rng};
 * - coders that turn a quantized block into self-describing bytes (fixed-width
 *   bit packing, Elias gamma and omega) and back, bit-exactly;
 * - tensor backend selection for tfjs (`auto`, `tensorflow`, `webgpu`, `wasm`, `cpu`).
 *
 * The subpaths `./quant` and `./coding` load without tfjs.
 *
 * @example Quantize, encode, decode, dequantize
 * ```ts
 * import { createQuantizer, decode, encode, Rng } from "./mod.ts";
 *
 * const q = createQuantizer({ scheme: "layerwise", bits: 4, bucketSize: 1024 });
 * const rng = new Rng(7);
 * const grad = new Float32Array(10_000).map(() => rng.normal());
 * const bytes = encode(q.quantize(grad, rng, { name: "dense/kernel", shape: [100, 100] }));
 * const approx = q.dequantize(decode(bytes));
 * // 4 bits per coordinate plus one float32 norm per 1024 coordinates and a header.
 * if (bytes.length > 10_000 / 2 + 4 * 10 + 200) throw new Error("too long");
 * if (approx.length !== grad.length) throw new Error("length changed");
 * ```
 *
 * @module
 */
export * from "./runtime/errors.ts";
export * from "./runtime/rng.ts";
export * from "./runtime/quant/mod.ts";
export * from "./runtime/coding/mod.ts";
export * from "./runtime/backend/mod.ts";
export * from "./runtime/collective/mod.ts";
export * from "./runtime/transport/link.ts";
export * from "./runtime/transport/memory.ts";
export * from "./actors/mod.ts";
export * from "./runtime/optim/mod.ts";
export * from "./runtime/train/mod.ts";
export * from "./runtime/gpfq/mod.ts";
export * from "./runtime/fqt/mod.ts";
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
} from "./runtime/tfjs_io.ts";
export type {
  AffineCodes,
  ModelFiles,
  ModelJson,
  ModelJsonHead,
  SaveLayersModelOptions,
} from "./runtime/tfjs_io.ts";

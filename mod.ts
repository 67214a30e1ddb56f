/**
 * qoda-ring: data-parallel training with quantized communication.
 *
 * The stable library API, without tfjs (tfjs tooling lives under
 * `@qoda/ring/tfjs`):
 * - {@linkcode train}: train any problem (a registered one, or a user's
 *   module) on N worker processes under a supervisor, or in-process;
 * - quantizers (`none`, `fp16`, `maxmin`, `qsgd`, QODA's `layerwise` with
 *   adaptive levels, and `ptq`/`psq`/`bhq` from statistical FQT) over
 *   `Float32Array` with an explicit seeded {@linkcode Rng}, and coders that
 *   turn a quantized block into self-describing bytes and back;
 * - the (compressed) {@linkcode allreduce} over a ring of links, in-process
 *   ({@linkcode memoryRing}) or across processes and hosts
 *   ({@linkcode connectTcpRing});
 * - the optimisers (QODA, Q-GenX, SGD, Adam) and the typed errors.
 *
 * Subpaths hold each package whole: `./quant`, `./coding`, `./collective`,
 * `./transport`, `./wire`, `./optim`, `./actors`, `./models`, `./tfjs`.
 *
 * @example A compressed all-reduce over an in-process ring of three
 * ```ts
 * import { allreduce, LayerwiseQuantizer, memoryRing, RingContext, Rng } from "@qoda/ring";
 *
 * const ctxs = memoryRing(3).map((links, rank) => new RingContext({ rank, size: 3, ...links }));
 * const bufs = ctxs.map((_, r) => new Float32Array(4096).fill(r + 1));
 * await Promise.all(ctxs.map((ctx, r) => {
 *   const q = new LayerwiseQuantizer({ bits: 8, normQ: Infinity });
 *   return allreduce(ctx, bufs[r], {
 *     op: "mean",
 *     compression: { mode: "allgather", rng: new Rng(r), quantizerFor: () => q },
 *   });
 * }));
 * // Every rank holds the same unbiased estimate of the mean, 2.
 * const mean = bufs[0].reduce((s, v) => s + v, 0) / 4096;
 * if (Math.abs(mean - 2) > 0.05 || bufs[1][7] !== bufs[0][7]) throw new Error(`mean ${mean}`);
 * ctxs.forEach((c) => c.close());
 * ```
 *
 * @module
 */
export {
  type ProblemInit,
  type ProblemModule,
  type ProblemWorker,
  train,
  type TrainOptions,
  type TrainProblem,
  type TrainResult,
} from "./actors/mod.ts";
export * from "./runtime/errors.ts";
export { Rng, type RngState } from "./runtime/rng.ts";
export {
  BhqQuantizer,
  createQuantizer,
  Fp16Quantizer,
  type LayerInfo,
  type LayerwiseOptions,
  LayerwiseQuantizer,
  MaxMinQuantizer,
  NoneQuantizer,
  PsqQuantizer,
  PtqQuantizer,
  QsgdQuantizer,
  type Quantized,
  type Quantizer,
  type QuantizerSpec,
  type SchemeName,
  SCHEMES,
} from "./runtime/quant/mod.ts";
export {
  type CoderName,
  CODERS,
  decode,
  decodeInto,
  encode,
  quantizeEncode,
} from "./runtime/coding/mod.ts";
export {
  allreduce,
  type AllreduceOptions,
  type AllreduceStats,
  type CompressionOptions,
  connectTcpRing,
  type LayerSpan,
  RingContext,
  type RingContextOptions,
} from "./runtime/collective/mod.ts";
export { type Link, memoryRing, type TcpRingOptions } from "./runtime/transport/mod.ts";
export {
  Adam,
  createOptimizer,
  type MeanCollective,
  type Optimizer,
  OPTIMIZER_NAMES,
  type OptimizerName,
  type Oracle,
  QGenX,
  Qoda,
  type QodaOptions,
  restoreOptimizer,
  Sgd,
} from "./runtime/optim/mod.ts";

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
 * - the optimisers (QODA, Q-GenX, SGD, Adam) and the typed errors;
 * - {@linkcode nativeKernelStatus}: whether quantization runs in the optional
 *   native kernel (`deno task build:native`) or in WebAssembly.
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
  type JobConfig,
  type ProblemInit,
  type ProblemModule,
  type ProblemWorker,
  type RecoveryEvent,
  type StepSummary,
  type SupervisedEval,
  train,
  type TrainOptions,
  type TrainProblem,
  type TrainResult,
} from "./actors/mod.ts";
export * from "./runtime/errors.ts";
// Which quantize kernel runs: the optional native one (deno task build:native) or WebAssembly.
export { nativeKernelStatus, setNativeKernel } from "./runtime/kernels/native.ts";
export { Rng, type RngState } from "./runtime/rng.ts";
export {
  type AffineRounding,
  BhqQuantizer,
  createQuantizer,
  type EpsEntry,
  type EpsTracker,
  Fp16Quantizer,
  type LayerInfo,
  type LayerTypeMap,
  type LayerTypeRule,
  type LayerwiseOptions,
  LayerwiseQuantizer,
  type LayerwiseSnapshot,
  type LevelHistogram,
  type LevelSchedule,
  type LevelTable,
  MaxMinQuantizer,
  NoneQuantizer,
  PsqQuantizer,
  PtqQuantizer,
  QsgdQuantizer,
  type Quantized,
  type Quantizer,
  type QuantizerSpec,
  type QuantizeStats,
  type SchemeName,
  SCHEMES,
} from "./runtime/quant/mod.ts";
export {
  type CoderName,
  CODERS,
  decode,
  decodeAddInto,
  decodeInto,
  type Dequantizer,
  encode,
  quantizeEncode,
  type QuantizeEncodeOptions,
} from "./runtime/coding/mod.ts";
export {
  allreduce,
  type AllreduceOptions,
  type AllreduceStats,
  AllreduceTrace,
  type CompressionOptions,
  connectTcpRing,
  kernelArena,
  type LayerSpan,
  type PhaseTime,
  type ReceivedChunk,
  RingContext,
  type RingContextOptions,
  threadCpuClock,
  TRACE_PHASES,
  type TracePhase,
  type TraceSummary,
} from "./runtime/collective/mod.ts";
export {
  type AuthMessage,
  type BarrierMessage,
  type ChunkMessage,
  type ControlMessage,
  type ErrorMessage,
  type HeartbeatMessage,
  type HelloMessage,
  type Link,
  memoryRing,
  type Phase,
  type Received,
  type ShutdownMessage,
  type StepCommandMessage,
  type StepReportMessage,
  TcpAcceptor,
  type TcpAcceptorOptions,
  type TcpRingOptions,
  type WireMessage,
} from "./runtime/transport/mod.ts";
export {
  Adam,
  type AdamOptions,
  type AdamState,
  type AdamStepSizes,
  createOptimizer,
  type DualAveragingBase,
  type DualAveragingOptions,
  type DualAveragingRates,
  type DualAveragingSnapshot,
  type MeanCollective,
  type NonFinitePolicy,
  type Optimizer,
  OPTIMIZER_NAMES,
  type OptimizerBase,
  type OptimizerName,
  type OptimizerOptions,
  type OptimizerState,
  type Oracle,
  QGenX,
  type QGenXOptions,
  type QGenXState,
  type QGenXStepSizes,
  Qoda,
  QodaAdagrad,
  type QodaAdagradOptions,
  type QodaAdagradState,
  type QodaOptions,
  QodaRms,
  type QodaRmsOptions,
  type QodaRmsState,
  type QodaState,
  type QodaStepSizes,
  restoreOptimizer,
  Sgd,
  type SgdOptions,
  type SgdState,
  type SgdStepSizes,
  type StepInfo,
} from "./runtime/optim/mod.ts";

/**
 * Collective operations over a ring of links: the ring context (membership,
 * deadlines, all-for-one failure) and the float32 / compressed all-reduce.
 *
 * @example
 * ```ts
 * import { allreduce, memoryRing, RingContext } from "@qoda/ring";
 * const ctxs = memoryRing(2).map((l, rank) => new RingContext({ rank, size: 2, ...l }));
 * const bufs = [new Float32Array([1, 2]), new Float32Array([3, 4])];
 * await Promise.all(ctxs.map((c, r) => allreduce(c, bufs[r])));
 * if (bufs[0][1] !== 6 || bufs[1][0] !== 4) throw new Error("wrong sum");
 * ctxs.forEach((c) => c.close());
 * ```
 *
 * @module
 */
export * from "./context.ts";
export * from "./allreduce.ts";
export * from "./tcp_ring.ts";
export * from "./trace.ts";
export * from "./auto.ts";
export { kernelArena } from "../kernels/kernels.ts";
export type { Link, Received } from "../transport/link.ts";
export type { TcpRingOptions } from "../transport/tcp.ts";
export type {
  AuthMessage,
  BarrierMessage,
  ChunkMessage,
  ControlMessage,
  ErrorMessage,
  HeartbeatMessage,
  HelloMessage,
  Phase,
  ShutdownMessage,
  StepCommandMessage,
  StepReportMessage,
  WireMessage,
} from "../wire/messages.ts";
export type { CollectiveError, QodaError } from "../errors.ts";
export {
  type LayerInfo,
  type Quantized,
  type Quantizer,
  type QuantizeStats,
  type SchemeName,
  SCHEMES,
} from "../quant/types.ts";
export type { EpsEntry, EpsTracker } from "../quant/eps.ts";
export { type CoderName, CODERS } from "../coding/codec.ts";
export type { Rng, RngState } from "../rng.ts";

/**
 * What the all-reduce modes share: the chunk message every rank expects,
 * receiving it with every field checked, turning a bad payload into a ring
 * failure, and the pipeline's readiness signals.
 *
 * @module
 */
import { CollectiveError, MismatchError } from "../errors.ts";
import type { Quantizer } from "../quant/types.ts";
import type { ChunkMessage, Phase } from "../wire/messages.ts";
import type { ReceivedChunk, RingContext } from "./context.ts";
import type { Segment } from "./plan.ts";

/** A promise with its resolver, for the pipeline's readiness signals. */
export class Signal {
  readonly promise: Promise<void>;
  resolve!: () => void;
  constructor() {
    this.promise = new Promise((r) => this.resolve = r);
    this.promise.catch(() => {});
  }
}

/** a mod n, non-negative. */
export const mod = (a: number, n: number) => ((a % n) + n) % n;

/** The bytes of `count` float32 values of `buf` from `offset` (a view). */
export function f32Bytes(buf: Float32Array, offset: number, count: number): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset + 4 * offset, 4 * count);
}

/** A float32 view of a received payload (copied once if misaligned). */
export function payloadF32(p: Uint8Array): Float32Array {
  if (p.byteOffset % 4 === 0) return new Float32Array(p.buffer, p.byteOffset, p.byteLength / 4);
  return new Float32Array(p.slice().buffer);
}

/** How a layer's segments travel: its scheme, bits and quantizer (null: float32). */
export interface Codec {
  scheme: string;
  bits: number;
  quantizer: Quantizer | null;
}

/** The codec of a layer's quantizer (float32 when null). */
export function codecOf(q: Quantizer | null): Codec {
  return q
    ? { scheme: q.scheme, bits: q.bits, quantizer: q }
    : { scheme: "fp32", bits: 32, quantizer: null };
}

/** Builds the chunk message every rank expects for (phase, hop, segment). */
export function chunkMessage(
  ctx: RingContext,
  opId: number,
  phase: Phase,
  hop: number,
  seg: Segment,
  n: number,
  codec: Codec,
  payload: Uint8Array,
): ChunkMessage {
  return {
    type: "chunk",
    ringId: ctx.ringId,
    epoch: ctx.epoch,
    opId,
    phase,
    hop,
    segment: seg.index,
    totalLength: n,
    offset: seg.offset,
    count: seg.count,
    scheme: codec.scheme,
    bits: codec.bits,
    payload,
  };
}

/** Receives the expected chunk, or fails the ring naming what disagreed. */
export async function expectChunk(
  ctx: RingContext,
  want: ChunkMessage,
  deadline: number,
): Promise<ReceivedChunk> {
  const got = await ctx.recvChunk(
    deadline,
    () => `${want.phase} hop ${want.hop} segment ${want.segment} of operation ${want.opId}`,
  );
  const m = got.msg;
  const fields = [
    "opId",
    "phase",
    "hop",
    "segment",
    "totalLength",
    "offset",
    "count",
    "scheme",
    "bits",
  ] as const;
  for (const f of fields) {
    if (m[f] !== want[f]) {
      got.release();
      const what = f === "totalLength" ? "buffer length" : f;
      throw ctx.fail(
        new MismatchError(
          ctx.leftRank,
          `rank ${ctx.leftRank} sent ${what} ${String(m[f])} where rank ${ctx.rank} expects ` +
            `${String(want[f])} (operation ${want.opId}, ${want.phase} hop ${want.hop}, ` +
            `segment ${want.segment})`,
        ),
      );
    }
  }
  if (want.scheme === "fp32" && m.payload.byteLength !== 4 * want.count) {
    got.release();
    throw ctx.fail(
      new MismatchError(
        ctx.leftRank,
        `rank ${ctx.leftRank} sent ${m.payload.byteLength} payload bytes for ${want.count} float32 values`,
      ),
    );
  }
  return got;
}

/** Runs `f`, turning any non-collective error into a ring failure. */
export function guard<T>(ctx: RingContext, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof CollectiveError) throw e;
    const err = new CollectiveError(
      "decode",
      ctx.leftRank,
      `rank ${ctx.rank} could not use data from rank ${ctx.leftRank}: ${(e as Error).message}`,
      { cause: e },
    );
    throw ctx.fail(err);
  }
}

/** A payload to send, and the room around it in its buffer (for a one-write send). */
export interface HopPayload {
  /** The bytes. */
  bytes: Uint8Array;
  /** Bytes free before it in its buffer (`ChunkMessage.headroom`). */
  headroom?: number;
  /** Bytes free after it (`ChunkMessage.tailroom`). */
  tailroom?: number;
}

/** What a mode of the ring all-reduce does with each segment at each hop. */
export interface RingHops {
  /** What segment `seg` carries at this hop (`rs`: reduce-scatter, else all-gather). */
  payload(seg: Segment, rs: boolean, hop: number): HopPayload;
  /** The scheme and bits segment `seg` travels with at this hop (both sides check them). */
  codec(seg: Segment, rs: boolean, hop: number): Codec;
  /** Uses a received payload (a view, valid until this returns). */
  receive(seg: Segment, rs: boolean, hop: number, payload: Uint8Array): void;
}

/** The counters the pipeline adds to. */
export interface HopStats {
  /** Payload bytes sent. */
  bytesSent: number;
  /** Payload bytes received. */
  bytesReceived: number;
  /** Milliseconds in `receive`. */
  reduceMs: number;
}

/**
 * Runs the ring's 2(N − 1) hops, reduce-scatter then all-gather, pipelined
 * by segment: a segment is sent at a hop once it was received at the one
 * before. What travels and what a receive does is the mode's (`hops`); the
 * order, the checks of every received chunk, the deadline and turning a
 * mode's error into a ring failure are the same for every mode.
 *
 * @param ctx The ring.
 * @param plan The segment plan, by chunk.
 * @param n The buffer's length (checked on every chunk).
 * @param opId The operation.
 * @param deadline When a missing chunk fails the operation (`performance.now()` time).
 * @param stats Counters to add to.
 * @param hops The mode.
 */
export async function runRingHops(
  ctx: RingContext,
  plan: Segment[][],
  n: number,
  opId: number,
  deadline: number,
  stats: HopStats,
  hops: RingHops,
): Promise<void> {
  const N = ctx.size, r = ctx.rank;
  // ready[k][g]: segment g may be sent at step k (0 .. 2N−3; RS hops then AG hops).
  const steps = 2 * (N - 1);
  const ready: Signal[][] = Array.from({ length: steps }, () => []);
  const signal = (k: number, g: number) => (ready[k][g] ??= new Signal());
  const phaseOf = (rs: boolean) => rs ? "reduceScatter" as const : "allGather" as const;

  const sendLoop = async () => {
    for (let k = 0; k < steps; k++) {
      const rs = k < N - 1;
      const hop = rs ? k : k - (N - 1);
      const chunk = rs ? mod(r - hop, N) : mod(r + 1 - hop, N);
      for (const seg of plan[chunk]) {
        if (k > 0) await signal(k, seg.index).promise;
        ctx.throwIfFailed();
        const p = guard(ctx, () => hops.payload(seg, rs, hop));
        stats.bytesSent += p.bytes.byteLength;
        const codec = hops.codec(seg, rs, hop);
        const msg = chunkMessage(ctx, opId, phaseOf(rs), hop, seg, n, codec, p.bytes);
        if (p.headroom !== undefined) msg.headroom = p.headroom;
        if (p.tailroom !== undefined) msg.tailroom = p.tailroom;
        await ctx.sendChunk(msg);
      }
    }
  };

  const recvLoop = async () => {
    for (let k = 0; k < steps; k++) {
      const rs = k < N - 1;
      const hop = rs ? k : k - (N - 1);
      const chunk = rs ? mod(r - hop - 1, N) : mod(r - hop, N);
      for (const seg of plan[chunk]) {
        const codec = hops.codec(seg, rs, hop);
        const want = chunkMessage(ctx, opId, phaseOf(rs), hop, seg, n, codec, new Uint8Array(0));
        const got = await expectChunk(ctx, want, deadline);
        const t = performance.now();
        try {
          const p = got.msg.payload;
          stats.bytesReceived += p.byteLength;
          guard(ctx, () => hops.receive(seg, rs, hop, p));
        } finally {
          got.release();
        }
        stats.reduceMs += performance.now() - t;
        if (k + 1 < steps) signal(k + 1, seg.index).resolve();
      }
    }
  };

  await Promise.all([sendLoop(), recvLoop()]);
}

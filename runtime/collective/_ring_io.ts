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

/** The chunk rank `r` of `N` sends at hop `hop` of the reduce-scatter (`rs`) or the all-gather. */
export const sentChunk = (r: number, N: number) => (hop: number, rs: boolean): number =>
  rs ? mod(r - hop, N) : mod(r + 1 - hop, N);

/** The chunk rank `r` of `N` receives at hop `hop` of the reduce-scatter (`rs`) or the all-gather. */
export const receivedChunk = (r: number, N: number) => (hop: number, rs: boolean): number =>
  rs ? mod(r - hop - 1, N) : mod(r - hop, N);

/**
 * Segments of lag between one hop's sends and the next's on a link
 * ({@linkcode hopOrder}). With the plain order a link carried the all-gather
 * only after the whole reduce-scatter, so a rank whose reduce-scatter was
 * bound by its CPU (quantizing its sends while it decoded, added and
 * re-quantized what it received) left the link idle meanwhile; 2 lets the
 * all-gather's first segments fill it (2 netlab hosts at 1 Gbit/s, 64 MiB,
 * 4-bit ring: 0.15–0.17 → 0.12–0.14 of float32's time). The same on every
 * link of every ring, which keeps the pipeline free of deadlock.
 */
export const HOP_LAG = 2;

/**
 * The order in which one link carries the (hop, segment) pairs of an
 * operation: hop k's segment at position g of its chunk has the key
 * g + k·lag, and pairs go in the order of their keys (ties: the earlier
 * hop first). Sender and receiver compute the same order (the receiver's
 * chunk at each hop is the sender's). A pair waits only for its segment at
 * the hop before, whose key on the upstream link is smaller by `lag`; so
 * if every rank were stuck, each stuck pair's key would be smaller than the
 * next rank's around the ring, which cannot be: the pipeline never
 * deadlocks. A lag at least the longest chunk's segment count is the plain
 * order, every segment of a hop before the next hop's.
 *
 * @param plan The segment plan, by chunk.
 * @param N The ring's size.
 * @param chunkAt The chunk this link carries at hop `hop` of the
 * reduce-scatter (`rs`) or of the all-gather.
 * @param lag Segments between a hop's pairs and the next hop's.
 * @returns The (step, segment) pairs, in the link's order.
 *
 * @example Two ranks, chunks of four segments: the all-gather starts two segments behind
 * ```ts
 * import { hopOrder } from "./_ring_io.ts";
 * const seg = (index: number) => ({ index, chunk: index >> 2, layer: 0, offset: index, count: 1 });
 * const plan = [[0, 1, 2, 3].map(seg), [4, 5, 6, 7].map(seg)];
 * const order = hopOrder(plan, 2, (_hop, rs) => rs ? 0 : 1, 2).map(([k, s]) => `${k}:${s.index}`).join(" ");
 * if (order !== "0:0 0:1 0:2 1:4 0:3 1:5 1:6 1:7") throw new Error(order);
 * ```
 */
export function hopOrder(
  plan: Segment[][],
  N: number,
  chunkAt: (hop: number, rs: boolean) => number,
  lag = HOP_LAG,
): [number, Segment][] {
  const out: [number, Segment, number][] = [];
  for (let k = 0; k < 2 * (N - 1); k++) {
    const rs = k < N - 1;
    const hop = rs ? k : k - (N - 1);
    plan[chunkAt(hop, rs)].forEach((seg, g) => out.push([k, seg, g + k * lag]));
  }
  out.sort((a, b) => a[2] - b[2] || a[0] - b[0]);
  return out.map(([k, seg]) => [k, seg]);
}

/**
 * Runs the ring's 2(N − 1) hops, reduce-scatter then all-gather, pipelined
 * by segment: a segment is sent at a hop once it was received at the one
 * before, and each link carries its pairs in {@linkcode hopOrder}'s order.
 * What travels and what a receive does is the mode's (`hops`); the order,
 * the checks of every received chunk, the deadline and turning a mode's
 * error into a ring failure are the same for every mode.
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
    const order = hopOrder(plan, N, sentChunk(r, N));
    for (const [k, seg] of order) {
      const rs = k < N - 1;
      const hop = rs ? k : k - (N - 1);
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
  };

  const recvLoop = async () => {
    const order = hopOrder(plan, N, receivedChunk(r, N));
    for (const [k, seg] of order) {
      const rs = k < N - 1;
      const hop = rs ? k : k - (N - 1);
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
  };

  await Promise.all([sendLoop(), recvLoop()]);
}

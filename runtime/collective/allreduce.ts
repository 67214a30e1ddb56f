/**
 * Ring all-reduce over a {@linkcode RingContext}: reduce-scatter then
 * all-gather, as Gloo and NCCL do it, in float32 or compressed.
 *
 * Terms (as in Gloo's allreduce): the flat buffer of n elements is cut into
 * one **chunk** per rank (chunk c is [⌊c·n/N⌋, ⌊(c+1)·n/N⌋)); each chunk is
 * cut into **segments**, at layer boundaries and at most `maxSegmentElements`
 * long. Consecutive small segments of a chunk travel in one frame, a
 * **group** of at most `maxSegmentElements` elements (`groupSegments`), but
 * are quantized and decoded each with its own layer's quantizer. Groups are
 * pipelined: a rank sends group g of a step as soon as it has it, while it
 * receives and reduces others, so sending, receiving and reducing overlap.
 *
 * Reduce-scatter: at hop s (0 .. N−2) rank r sends chunk (r − s) and receives
 * chunk (r − s − 1), adding it in; afterwards rank r owns the reduced chunk
 * (r + 1). All-gather: at hop s rank r sends chunk (r + 1 − s) and receives
 * chunk (r − s), replacing its copy.
 *
 * Modes:
 * - float32 (no compression): results equal the exact sum up to float32
 *   rounding, and every rank ends with identical bytes (the owner's).
 * - `ring` compression, as CGX does it: each reduce-scatter hop quantizes the
 *   running partial sum with the segment's layer quantizer, the receiver
 *   decodes and adds; the owner quantizes its finished chunk and decodes its
 *   own copy; the all-gather forwards those bytes unchanged. Every rank ends
 *   bit-identical; the partial sums are re-quantized N − 1 times.
 * - `allgather` compression, the setting QODA's analysis assumes: each rank
 *   quantizes its whole buffer once, the messages travel around the ring
 *   unchanged, and every rank decodes all N exactly once and sums them in
 *   rank order: unbiased, bit-identical, (N − 1)·C bytes received per rank.
 * - `integer` compression, reduction in the compressed domain: the ranks
 *   agree on per-bucket scales first, quantize their own values once onto a
 *   shared integer grid, and each reduce-scatter hop adds integer codes to
 *   the partial sums it receives, in lanes that widen with the ranks summed;
 *   unbiased with the all-gather's variance, at close to the ring's bytes
 *   (`integer_mode.ts`).
 *
 * @module
 */
import { type CoderName, decodeAddInto, decodeInto, quantizeEncode } from "../coding/codec.ts";
import type { Quantizer } from "../quant/types.ts";
import type { Rng } from "../rng.ts";
import type { RingContext } from "./context.ts";
import {
  checkF32Part,
  chunkMessage,
  codecOf,
  expectChunk,
  f32Bytes,
  groupCodec,
  groupPayload,
  guard,
  HEADROOM,
  mod,
  payloadF32,
  runRingHops,
  Signal,
  splitGroup,
  TAILROOM,
} from "./_ring_io.ts";
import { DEFAULT_GRID_BUCKET, integerMode } from "./integer_mode.ts";
import {
  checkLayout,
  groupSegments,
  type LayerSpan,
  planSegments,
  type Segment,
  type SegmentGroup,
  segmentLayer,
} from "./plan.ts";
import { type AllreduceTrace, PHASE_DECODE, PHASE_ENCODE, PHASE_REDUCE } from "./trace.ts";

export { type LayerSpan, planSegments, type Segment } from "./plan.ts";

/** The compression modes of {@linkcode allreduce}. */
export const COMPRESSION_MODES: readonly CompressionOptions["mode"][] = [
  "ring",
  "allgather",
  "integer",
];

/** Compression settings of {@linkcode allreduce}. */
export interface CompressionOptions {
  /**
   * `ring` (CGX: re-quantize partial sums), `allgather` (decode each rank's
   * message once) or `integer` (per-bucket scales agreed on first, integer
   * codes added on the way; see {@linkcode integerMode}).
   */
  mode: "ring" | "allgather" | "integer";
  /** The quantizer of each layer; `null` sends that layer in float32. */
  quantizerFor: (layer: LayerSpan) => Quantizer | null;
  /** This rank's randomness for stochastic rounding. */
  rng: Rng;
  /** Coder of the quantized segments (`ring`, `allgather`). @default {"fixed"} */
  coder?: CoderName;
  /** Coordinates per shared scale (`integer`). @default {512} */
  bucket?: number;
}

/** Options of {@linkcode allreduce}. */
export interface AllreduceOptions {
  /** Sum, or mean (the sum divided by the world size). @default {"sum"} */
  op?: "sum" | "mean";
  /** Layers of the flat buffer, in order, covering it; one layer when omitted. */
  layout?: LayerSpan[];
  /** Compress as described in the module doc; float32 when omitted. */
  compression?: CompressionOptions;
  /**
   * Largest segment, and largest group of small segments sent in one frame,
   * in elements. @default {defaultSegmentElements(the widest quantizer's bits)}
   * (1 MiB of float32; compressed, 512 KiB of codes)
   */
  maxSegmentElements?: number;
  /**
   * Records where the operation's time goes, per phase, in wall-clock and
   * thread CPU time (see {@linkcode AllreduceTrace}); nothing is timed
   * beyond the stats without it.
   */
  trace?: AllreduceTrace;
}

/** What one all-reduce did. */
export interface AllreduceStats {
  /** The operation's id. */
  opId: number;
  /** Payload bytes this rank sent. */
  bytesSent: number;
  /** Payload bytes this rank received. */
  bytesReceived: number;
  /** Milliseconds quantizing and encoding. */
  encodeMs: number;
  /** Milliseconds decoding and reducing. */
  reduceMs: number;
  /** Wall-clock milliseconds. */
  totalMs: number;
}

/**
 * All-reduces `buf` in place across the ring. Every rank must call it with
 * the same length, layout, options and order of operations. On any failure
 * every rank's call rejects with a {@linkcode CollectiveError} naming the
 * rank held responsible, and the ring is unusable afterwards.
 *
 * @example Sum across three in-process ranks
 * ```ts
 * import { allreduce, memoryRing, RingContext } from "@qoda/ring";
 * const ctxs = memoryRing(3).map((l, rank) => new RingContext({ rank, size: 3, ...l }));
 * const bufs = ctxs.map((c) => new Float32Array(5).fill(c.rank + 1));
 * await Promise.all(ctxs.map((c, r) => allreduce(c, bufs[r], { op: "mean" })));
 * if (bufs.some((b) => b.some((x) => x !== 2))) throw new Error("mean of 1, 2, 3 is 2");
 * ctxs.forEach((c) => c.close());
 * ```
 *
 * @example Two layers, one sent in float32, one quantized on each hop
 * ```ts
 * import { allreduce, type LayerSpan, memoryRing, QsgdQuantizer, RingContext, Rng } from "@qoda/ring";
 * const layout: LayerSpan[] = [
 *   { name: "dense/kernel", shape: [32, 32], offset: 0, length: 1024 },
 *   { name: "dense/bias", shape: [32], offset: 1024, length: 32 },
 * ];
 * const q = new QsgdQuantizer({ bits: 8, normQ: Infinity });
 * const ctxs = memoryRing(2).map((l, rank) => new RingContext({ rank, size: 2, ...l }));
 * const bufs = ctxs.map((c) => new Float32Array(1056).map((_, i) => Math.sin(i + c.rank)));
 * const want = bufs[0].map((x, i) => (x + bufs[1][i]) / 2);
 * const stats = await Promise.all(ctxs.map((c, r) =>
 *   allreduce(c, bufs[r], {
 *     op: "mean",
 *     layout,
 *     compression: {
 *       mode: "ring",
 *       rng: new Rng(r),
 *       quantizerFor: (l) => (l.name.endsWith("bias") ? null : q),
 *     },
 *   })
 * ));
 * // Both ranks hold the same bytes; the bias is exact, the kernel within 8-bit rounding.
 * if (bufs[0].some((x, i) => x !== bufs[1][i])) throw new Error("ranks differ");
 * for (let i = 1024; i < 1056; i++) {
 *   if (Math.abs(bufs[0][i] - want[i]) > 1e-6) throw new Error("the bias was not exact");
 * }
 * const err = Math.max(...bufs[0].subarray(0, 1024).map((x, i) => Math.abs(x - want[i])));
 * if (err > 0.02) throw new Error(`error ${err}`);
 * if (!(stats[0].bytesSent < 1056 * 4)) throw new Error("nothing was compressed");
 * ctxs.forEach((c) => c.close());
 * ```
 */
export async function allreduce(
  ctx: RingContext,
  buf: Float32Array,
  options: AllreduceOptions = {},
): Promise<AllreduceStats> {
  const { op = "sum", compression } = options;
  const n = buf.length;
  const layout = options.layout ?? [{ name: "buffer", offset: 0, length: n }];
  checkLayout(layout, n);
  const quantizers = layout.map((l) => compression?.quantizerFor(l) ?? null);
  const maxSegmentElements = options.maxSegmentElements ??
    defaultSegmentElements(quantizers.reduce<number | null>(
      (b, q) => q ? Math.max(b ?? 0, q.bits) : b,
      null,
    ));
  if (!Number.isInteger(maxSegmentElements) || maxSegmentElements < 1) {
    throw new RangeError(
      `maxSegmentElements must be a positive integer, got ${maxSegmentElements}`,
    );
  }
  if (compression && !COMPRESSION_MODES.includes(compression.mode)) {
    throw new RangeError(
      `compression mode must be ${COMPRESSION_MODES.join(", ")}, got ${compression.mode}`,
    );
  }
  const opId = ctx.beginOp();
  const trace = options.trace;
  trace?.opStart();
  const t0 = performance.now();
  const stats: AllreduceStats = {
    opId,
    bytesSent: 0,
    bytesReceived: 0,
    encodeMs: 0,
    reduceMs: 0,
    totalMs: 0,
  };
  try {
    // Segments are cut at layer boundaries; small ones travel together in one frame.
    const plan = groupSegments(
      planSegments(n, ctx.size, layout, maxSegmentElements),
      maxSegmentElements,
    );
    if (compression?.mode === "integer") {
      const bucket = compression.bucket ?? DEFAULT_GRID_BUCKET;
      await integerMode(
        ctx,
        buf,
        op,
        quantizers,
        plan,
        compression.rng,
        bucket,
        stats,
        opId,
        trace,
      );
    } else {
      const run = compression?.mode === "allgather" ? allgatherMode : ringMode;
      await run(ctx, buf, op, layout, quantizers, plan, compression, stats, opId, trace);
    }
  } finally {
    ctx.endOp();
    stats.totalMs = performance.now() - t0;
    trace?.opEnd();
  }
  return stats;
}

/** Largest segment of a float32 all-reduce, in elements: 1 MiB. */
export const FLOAT32_SEGMENT_ELEMENTS = 262_144;

/**
 * The default largest segment: 1 MiB of float32 values; compressed, as many
 * values as make 512 KiB of codes at `bits` bits (the widest layer's), never
 * fewer than the float32 segment. A frame costs fixed work at both ends, so
 * compressed frames sized like float32 ones (132 KB at 4 bits) spend it 4 to
 * 8 times as often per byte: at 4 netlab hosts, 1 Gbit/s and 64 MiB, 4-bit
 * segments of 1,048,576 values instead of 262,144 took the ring from 0.26 to
 * 0.20 of float32's time.
 *
 * @param bits The widest quantizer's bits, or null when nothing is compressed.
 *
 * @example
 * ```ts
 * import { defaultSegmentElements } from "./allreduce.ts";
 * if (defaultSegmentElements(null) !== 262_144) throw new Error();
 * if (defaultSegmentElements(4) !== 1_048_576) throw new Error();
 * if (defaultSegmentElements(32) !== 262_144) throw new Error();
 * ```
 */
export function defaultSegmentElements(bits: number | null): number {
  if (bits === null) return FLOAT32_SEGMENT_ELEMENTS;
  return Math.max(FLOAT32_SEGMENT_ELEMENTS, Math.floor((8 * 512 * 1024) / bits));
}

const EMPTY_BYTES = new Uint8Array(0);

/** The part of a slot a frame may take: after the head's room, before the padding's. */
function roomy(slot: Uint8Array): Uint8Array {
  return slot.length > HEADROOM + TAILROOM
    ? slot.subarray(HEADROOM, slot.length - TAILROOM)
    : EMPTY_BYTES;
}

/**
 * [slot, frame] with the frame in the slot: as is when it was written there,
 * else copied into a new slot that fits it (kept for the next operations).
 */
function settle(slot: Uint8Array, frame: Uint8Array): [Uint8Array, Uint8Array] {
  if (frame.buffer === slot.buffer) return [slot, frame];
  const grown = new Uint8Array(HEADROOM + frame.length + TAILROOM);
  grown.set(frame, HEADROOM);
  return [grown, grown.subarray(HEADROOM, HEADROOM + frame.length)];
}

/** A ring context's reused buffers: frames are not allocated per segment. */
interface RingBuffers {
  /** The reduce-scatter's send slot (frames sit at HEADROOM in their slots). */
  send: Uint8Array;
  /** By segment index, the all-gather's frame slot (the owner's, or a received copy to forward). */
  frames: Uint8Array[];
  /** The all-gather collective's frame slots, by origin rank and segment index. */
  gather: Uint8Array[][];
}

const RING_BUFFERS = new WeakMap<RingContext, RingBuffers>();

/** The reused buffers of `ctx` (one operation at a time runs on a context). */
function ringBuffers(ctx: RingContext): RingBuffers {
  let b = RING_BUFFERS.get(ctx);
  if (!b) {
    b = { send: EMPTY_BYTES, frames: [], gather: [] };
    RING_BUFFERS.set(ctx, b);
  }
  return b;
}

async function ringMode(
  ctx: RingContext,
  buf: Float32Array,
  op: "sum" | "mean",
  layout: LayerSpan[],
  quantizers: (Quantizer | null)[],
  plan: SegmentGroup[][],
  compression: CompressionOptions | undefined,
  stats: AllreduceStats,
  opId: number,
  trace: AllreduceTrace | undefined,
): Promise<void> {
  const N = ctx.size, n = buf.length;
  const coder = compression?.coder ?? "fixed";
  // The send loop and the owner's final quantization draw from streams of their own, each in
  // plan order: the result does not depend on how sends and receives interleave.
  const sendRng = compression?.rng.fork();
  const finalRng = compression?.rng.fork();
  const codecs = quantizers.map(codecOf);
  const scale = op === "mean" ? N : 1;
  const mem = ringBuffers(ctx);

  /** Quantizes a segment into `out` (a reused buffer) when it fits; else into a new array. */
  const quantizeSeg = (seg: Segment, out: Uint8Array, rng: Rng): Uint8Array => {
    const codec = codecs[seg.layer];
    const view = buf.subarray(seg.offset, seg.offset + seg.count);
    const t = performance.now();
    trace?.start();
    const bytes = quantizeEncode(codec.quantizer!, view, rng, {
      layer: segmentLayer(layout, seg),
      coder,
      out,
    });
    trace?.stop(PHASE_ENCODE);
    stats.encodeMs += performance.now() - t;
    return bytes;
  };
  /** The send frame of a reduce-scatter hop: one slot, reused once the previous send is done. */
  const sendFrame = (seg: Segment): Uint8Array => {
    let bytes = quantizeSeg(seg, roomy(mem.send), sendRng!);
    [mem.send, bytes] = settle(mem.send, bytes);
    return bytes;
  };
  /** The owner's final step: scale for a mean, then (compressed) quantize and decode its own copy. */
  const finalize = (seg: Segment): Uint8Array | null => {
    const view = buf.subarray(seg.offset, seg.offset + seg.count);
    if (scale !== 1) {
      trace?.start();
      for (let i = 0; i < view.length; i++) view[i] /= scale;
      trace?.stop(PHASE_REDUCE);
    }
    const codec = codecs[seg.layer];
    if (!codec.quantizer) return null;
    const slot = mem.frames[seg.index] ?? EMPTY_BYTES;
    let bytes = quantizeSeg(seg, roomy(slot), finalRng!);
    [mem.frames[seg.index], bytes] = settle(slot, bytes);
    trace?.start();
    decodeInto(bytes, codec.quantizer, view);
    trace?.stop(PHASE_DECODE);
    return bytes;
  };

  if (N === 1) {
    for (const g of plan[0]) for (const seg of g.members) finalize(seg);
    return;
  }

  // Compressed bytes of the all-gather, by segment: the owner's, then forwarded.
  const gathered: (Uint8Array | null)[] = [];
  const deadline = performance.now() + ctx.timeoutMs;
  await runRingHops(ctx, plan, n, opId, deadline, stats, {
    codec: (seg) => codecs[seg.layer],
    payload: (seg, rs) => {
      if (!codecs[seg.layer].quantizer) return { bytes: f32Bytes(buf, seg.offset, seg.count) };
      // Compressed frames sit in slots with room around them: one write per frame.
      const bytes = rs ? sendFrame(seg) : gathered[seg.index]!;
      return { bytes, headroom: HEADROOM, tailroom: TAILROOM };
    },
    receive: (seg, rs, hop, p) => {
      const codec = codecs[seg.layer];
      const view = buf.subarray(seg.offset, seg.offset + seg.count);
      if (rs) {
        if (!codec.quantizer) {
          trace?.start();
          const x = payloadF32(p);
          for (let i = 0; i < x.length; i++) view[i] += x[i];
          trace?.stop(PHASE_REDUCE);
        } else {
          // Decoded, dequantized and added in one pass (the same float32 sums).
          trace?.start();
          decodeAddInto(p, codec.quantizer, view);
          trace?.stop(PHASE_REDUCE);
        }
      } else if (!codec.quantizer) {
        trace?.start();
        view.set(payloadF32(p));
        trace?.stop(PHASE_DECODE);
      } else {
        trace?.start();
        decodeInto(p, codec.quantizer, view);
        trace?.stop(PHASE_DECODE);
        // Forwarded unchanged at the next hop: kept in this segment's reused buffer.
        let slot = mem.frames[seg.index];
        if (!slot || slot.length < HEADROOM + p.length + TAILROOM) {
          slot = mem.frames[seg.index] = new Uint8Array(HEADROOM + p.length + TAILROOM);
        }
        slot.set(p, HEADROOM);
        gathered[seg.index] = slot.subarray(HEADROOM, HEADROOM + p.length);
      }
      if (rs && hop === N - 2) gathered[seg.index] = finalize(seg);
    },
  });
}

async function allgatherMode(
  ctx: RingContext,
  buf: Float32Array,
  op: "sum" | "mean",
  layout: LayerSpan[],
  quantizers: (Quantizer | null)[],
  plan: SegmentGroup[][],
  compression: CompressionOptions | undefined,
  stats: AllreduceStats,
  opId: number,
  trace: AllreduceTrace | undefined,
): Promise<void> {
  const N = ctx.size, r = ctx.rank, n = buf.length;
  const coder = compression?.coder ?? "fixed";
  const codecs = quantizers.map(codecOf);
  const groups = plan.flat();
  const segs = groups.flatMap((g) => g.members);
  // messages[k][g]: rank k's bytes for segment g; compressed ones in slots reused across
  // operations (mem.gather[k][g], with room around each frame for a one-write send).
  const messages: Uint8Array[][] = Array.from({ length: N }, () => []);
  const mem = ringBuffers(ctx);
  const slots = Array.from({ length: N }, (_, k) => (mem.gather[k] ??= []));
  const t = performance.now();
  trace?.start();
  for (const seg of segs) {
    const codec = codecs[seg.layer];
    const view = buf.subarray(seg.offset, seg.offset + seg.count);
    if (codec.quantizer) {
      const slot = slots[r][seg.index] ?? EMPTY_BYTES;
      let bytes = quantizeEncode(codec.quantizer, view, compression!.rng, {
        layer: segmentLayer(layout, seg),
        coder,
        out: roomy(slot),
      });
      [slots[r][seg.index], bytes] = settle(slot, bytes);
      messages[r][seg.index] = bytes;
    } else messages[r][seg.index] = f32Bytes(buf, seg.offset, seg.count).slice();
  }
  trace?.stop(PHASE_ENCODE);
  stats.encodeMs += performance.now() - t;

  if (N > 1) {
    const deadline = performance.now() + ctx.timeoutMs;
    const ready: Signal[][] = Array.from({ length: N - 1 }, () => []);
    const signal = (k: number, g: number) => (ready[k][g] ??= new Signal());
    const codecOfSeg = (seg: Segment) => codecs[seg.layer];
    const groupCodecs = groups.map((g) => groupCodec(g.members, codecOfSeg));
    const sendLoop = async () => {
      for (let hop = 0; hop < N - 1; hop++) {
        const origin = mod(r - hop, N);
        for (const g of groups) {
          if (hop > 0) await signal(hop, g.index).promise;
          ctx.throwIfFailed();
          const codec = groupCodecs[g.index];
          const p = groupPayload(
            ctx,
            g.members.length,
            (i) => {
              const seg = g.members[i];
              const bytes = messages[origin][seg.index];
              // A compressed frame sits in its slot with room around it.
              return codecs[seg.layer].quantizer
                ? { bytes, headroom: HEADROOM, tailroom: TAILROOM }
                : { bytes };
            },
            codec.scheme === "fp32",
          );
          stats.bytesSent += p.bytes.byteLength;
          const msg = chunkMessage(ctx, opId, "allGather", hop, g, n, codec, p.bytes);
          if (p.headroom !== undefined) msg.headroom = p.headroom;
          if (p.tailroom !== undefined) msg.tailroom = p.tailroom;
          await ctx.sendChunk(msg);
        }
      }
    };
    const recvLoop = async () => {
      for (let hop = 0; hop < N - 1; hop++) {
        const origin = mod(r - hop - 1, N);
        for (const g of groups) {
          const codec = groupCodecs[g.index];
          const want = chunkMessage(ctx, opId, "allGather", hop, g, n, codec, new Uint8Array(0));
          const got = await expectChunk(ctx, want, deadline);
          try {
            stats.bytesReceived += got.msg.payload.byteLength;
            const parts = guard(
              ctx,
              () =>
                splitGroup(got.msg.payload, g.members.map((s) => s.count), codec.scheme === "fp32"),
            );
            g.members.forEach((seg, i) => {
              const p = parts[i];
              if (!codecs[seg.layer].quantizer) {
                if (g.members.length > 1) checkF32Part(ctx, codecs[seg.layer], seg, p);
                messages[origin][seg.index] = p.slice();
                return;
              }
              let slot = slots[origin][seg.index];
              if (!slot || slot.length < HEADROOM + p.length + TAILROOM) {
                slot = slots[origin][seg.index] = new Uint8Array(HEADROOM + p.length + TAILROOM);
              }
              slot.set(p, HEADROOM);
              messages[origin][seg.index] = slot.subarray(HEADROOM, HEADROOM + p.length);
            });
          } finally {
            got.release();
          }
          if (hop + 1 < N - 1) signal(hop + 1, g.index).resolve();
        }
      }
    };
    await Promise.all([sendLoop(), recvLoop()]);
  }

  // Decode every rank's message exactly once and sum in rank order: identical on every rank.
  const t1 = performance.now();
  const tmp = new Float32Array(segs.reduce((m, s) => Math.max(m, s.count), 0));
  for (const seg of segs) {
    const codec = codecs[seg.layer];
    const view = buf.subarray(seg.offset, seg.offset + seg.count);
    view.fill(0);
    for (let k = 0; k < N; k++) {
      const part = tmp.subarray(0, seg.count);
      if (codec.quantizer) {
        // 0 + v, then the later ranks added in order: the same float32 sums.
        trace?.start();
        guard(ctx, () => decodeAddInto(messages[k][seg.index], codec.quantizer!, view));
        trace?.stop(PHASE_REDUCE);
        continue;
      }
      trace?.start();
      guard(ctx, () => part.set(payloadF32(messages[k][seg.index])));
      trace?.stop(PHASE_DECODE);
      trace?.start();
      for (let i = 0; i < part.length; i++) view[i] += part[i];
      trace?.stop(PHASE_REDUCE);
    }
    if (op === "mean") {
      trace?.start();
      for (let i = 0; i < view.length; i++) view[i] /= N;
      trace?.stop(PHASE_REDUCE);
    }
  }
  stats.reduceMs += performance.now() - t1;
}

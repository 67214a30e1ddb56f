/**
 * The `integer` mode of the all-reduce: reduction in the compressed domain.
 *
 * First the ranks agree on one scale per bucket of every quantized segment
 * (the largest |x| of that bucket over all ranks: a ring all-gather of the
 * per-bucket maxima, 4 bytes per bucket per hop). Then every rank quantizes
 * its own values onto the shared grid of its layer's bit width exactly once
 * ({@linkcode quantizeToGrid}), and the ring runs as Gloo's does, except that
 * what travels are integer codes: at reduce-scatter hop k a rank sends the
 * sum of k + 1 ranks' codes in lanes of {@linkcode laneWidth}(k + 1) bits,
 * and the receiver adds its own codes to the integers it unpacks (no decode,
 * no re-quantization). The owner of a chunk holds the sum of all N ranks'
 * codes; the all-gather forwards those lanes unchanged and every rank decodes
 * them once, so every rank ends bit-identical.
 *
 * Unbiased, with the variance of N independent quantizations, as the
 * all-gather (each worker's vector quantized once, what QODA's analysis
 * assumes), at close to the ring's bytes: for 4 bits and N ranks a chunk's
 * coordinate costs Σₖ₌₁..ₙ₋₁ w(k) + (N − 1)·w(N) bits over the ring, with
 * w(k) = ⌈log₂(14k + 1)⌉ (4, 5, 6, 6, 7, … bits).
 *
 * The grid is uniform (the layer quantizer's bit width, magnitudes
 * 0 … 2^(b−1) − 1): the layer-wise quantizer's adapted levels are not used
 * here. Non-uniform levels reduce the same way on a fine grid
 * ({@linkcode fineGrid}) at the price of wider lanes.
 *
 * @module
 */
import {
  addOwnCodes,
  bucketMaxAbs,
  laneWidth,
  type SharedGrid,
  uniformGrid,
  unpackDequantize,
} from "../quant/shared_grid.ts";
import type { Quantizer } from "../quant/types.ts";
import type { Rng } from "../rng.ts";
import type { RingContext } from "./context.ts";
import {
  chunkMessage,
  expectChunk,
  f32Bytes,
  guard,
  type HopStats,
  payloadF32,
  runRingHops,
} from "./_ring_io.ts";
import type { Segment, SegmentGroup } from "./plan.ts";
import { type AllreduceTrace, PHASE_DECODE, PHASE_ENCODE, PHASE_REDUCE } from "./trace.ts";

/** Coordinates per shared scale when the options do not say. */
export const DEFAULT_GRID_BUCKET = 512;

/** What the integer mode counts (a subset of the all-reduce's stats). */
interface ModeStats extends HopStats {
  /** Milliseconds quantizing and packing. */
  encodeMs: number;
}

const codecOfGrid = (bits: number) => ({ scheme: "grid", bits, quantizer: null });

/**
 * Runs the integer mode on `buf` (see the module doc).
 *
 * @param ctx The ring.
 * @param buf This rank's values, reduced in place.
 * @param op Sum or mean.
 * @param quantizers Each layer's quantizer (its `bits` pick the grid), null for float32.
 * @param plan The segment groups, by chunk.
 * @param rng This rank's randomness.
 * @param bucket Coordinates per shared scale.
 * @param stats Counters to add to.
 * @param opId The operation's id.
 * @param trace Where time goes, when traced.
 */
export async function integerMode(
  ctx: RingContext,
  buf: Float32Array,
  op: "sum" | "mean",
  quantizers: (Quantizer | null)[],
  plan: SegmentGroup[][],
  rng: Rng,
  bucket: number,
  stats: ModeStats,
  opId: number,
  trace: AllreduceTrace | undefined,
): Promise<void> {
  if (!Number.isInteger(bucket) || bucket < 1) {
    throw new RangeError(`the integer mode's bucket must be a positive integer, got ${bucket}`);
  }
  const N = ctx.size, n = buf.length;
  const grids: (SharedGrid | null)[] = quantizers.map((q) => q ? gridOfBits(q.bits) : null);
  const segs = plan.flat().flatMap((g) => g.members);
  const mem = integerBuffers(ctx);
  // Each quantized segment's scales: scaleAt[g] .. scaleAt[g] + ⌈count / bucket⌉.
  if (mem.scaleAt.length < segs.length + 1) mem.scaleAt = new Int32Array(segs.length + 1);
  const scaleAt = mem.scaleAt;
  for (const s of segs) {
    scaleAt[s.index + 1] = scaleAt[s.index] +
      (grids[s.layer] ? Math.ceil(s.count / bucket) : 0);
  }
  // Every scale is written by bucketMaxAbs below before it is read.
  if (mem.scales.length < scaleAt[segs.length]) {
    mem.scales = new Float32Array(scaleAt[segs.length]);
  }
  const scales = mem.scales.subarray(0, scaleAt[segs.length]);
  const scalesOf = (s: Segment) => scales.subarray(scaleAt[s.index], scaleAt[s.index + 1]);
  const view = (s: Segment) => buf.subarray(s.offset, s.offset + s.count);

  trace?.start();
  for (const s of segs) if (grids[s.layer]) bucketMaxAbs(view(s), bucket, scalesOf(s));
  trace?.stop(PHASE_ENCODE);
  const deadline = performance.now() + ctx.timeoutMs;
  if (N > 1 && scales.length > 0) {
    await agreeScales(ctx, scales, segs.length, n, opId, deadline, stats);
  }

  const divisor = op === "mean" ? N : 1;
  // One draw per operation; each segment's rounding is seeded by it and the segment's index,
  // so the result does not depend on the order in which sends and receives interleave.
  const opSeed = rng.nextU32();
  const seedOf = (s: Segment) => opSeed ^ Math.imul(s.index + 1, 0x9e3779b9);
  // Lanes waiting to be sent, by segment, in slots reused from operation to operation (an
  // operation ends only once its sends are done): the reduce-scatter's partial sums (a
  // segment's slot is written once per operation, at the hop that receives it), the owner's
  // finished sums, and the all-gather's copies to forward.
  const slotOf = (slots: Uint8Array[], s: Segment, ranks: number) => {
    const need = Math.ceil((s.count * laneWidth(grids[s.layer]!, ranks)) / 8);
    const f = slots[s.index];
    return (f && f.length >= need ? f : (slots[s.index] = new Uint8Array(need))).subarray(0, need);
  };
  const gathered: (Uint8Array | null)[] = [];
  /** This rank's codes added to `lanes` (ranksIn ranks' sums; none at the first hop). */
  const addOwn = (s: Segment, lanes: Uint8Array | null, ranksIn: number): Uint8Array => {
    trace?.start();
    const t = performance.now();
    const last = ranksIn + 1 === N;
    const out = addOwnCodes(
      lanes,
      ranksIn,
      view(s),
      scalesOf(s),
      bucket,
      grids[s.layer]!,
      seedOf(s),
      // The owner's finished chunk goes to the all-gather in a frame of its own.
      slotOf(last ? mem.finals : mem.lanes, s, ranksIn + 1),
      last ? view(s) : null, // the owner decodes the sum into its own buffer
      divisor,
    )!;
    stats.encodeMs += performance.now() - t;
    trace?.stop(PHASE_ENCODE);
    return out;
  };
  /** The owner's last step for a float32 segment: the mean's division. */
  const finalizeF32 = (s: Segment) => {
    if (divisor === 1) return;
    const v = view(s);
    for (let i = 0; i < v.length; i++) v[i] /= divisor;
  };

  if (N === 1) {
    for (const s of segs) {
      if (grids[s.layer]) addOwn(s, null, 0);
      else finalizeF32(s);
    }
    return;
  }

  const bitsOf = (s: Segment, ranks: number) => {
    const grid = grids[s.layer];
    return grid
      ? codecOfGrid(laneWidth(grid, ranks))
      : { scheme: "fp32", bits: 32, quantizer: null };
  };
  // The reduce-scatter lanes each segment sends next (its own codes at hop 0, then the sums).
  const pending: (Uint8Array | null)[] = [];
  await runRingHops(ctx, plan, n, opId, deadline, stats, {
    codec: (s, rs, hop) => bitsOf(s, rs ? hop + 1 : N),
    payload: (s, rs, hop) => {
      if (!grids[s.layer]) return { bytes: f32Bytes(buf, s.offset, s.count) };
      if (!rs) return { bytes: gathered[s.index]! };
      return { bytes: hop === 0 ? addOwn(s, null, 0) : pending[s.index]! };
    },
    receive: (s, rs, hop, p) => {
      const grid = grids[s.layer];
      if (!grid) {
        const v = view(s);
        if (rs) {
          trace?.start();
          const x = payloadF32(p);
          for (let i = 0; i < x.length; i++) v[i] += x[i];
          trace?.stop(PHASE_REDUCE);
          if (hop === N - 2) finalizeF32(s);
        } else v.set(payloadF32(p));
      } else if (rs) {
        // This rank's codes added to the incoming sums, as integers, in one pass.
        const out = addOwn(s, p, hop + 1);
        if (hop === N - 2) gathered[s.index] = out;
        else pending[s.index] = out;
      } else {
        trace?.start();
        unpackDequantize(p, N, grid, scalesOf(s), bucket, divisor, view(s));
        if (hop < N - 2) {
          const copy = slotOf(mem.forwarded, s, N); // forwarded unchanged at the next hop
          copy.set(p);
          gathered[s.index] = copy;
        }
        trace?.stop(PHASE_DECODE);
      }
    },
  });
}

/** A ring context's reused buffers of the integer mode. */
interface IntegerBuffers {
  /** Where each segment's scales start (one more entry than segments). */
  scaleAt: Int32Array;
  /** The per-bucket scales of every quantized segment. */
  scales: Float32Array;
  /** By segment index: the reduce-scatter's lanes to send next. */
  lanes: Uint8Array[];
  /** By segment index: the owner's finished sums, sent into the all-gather. */
  finals: Uint8Array[];
  /** By segment index: the all-gather's received lanes, forwarded at the next hop. */
  forwarded: Uint8Array[];
}

const INTEGER_BUFFERS = new WeakMap<RingContext, IntegerBuffers>();

const GRIDS = new Map<number, SharedGrid>();

/** The uniform grid of `bits` bits (built once: a grid is never modified). */
function gridOfBits(bits: number): SharedGrid {
  let g = GRIDS.get(bits);
  if (!g) GRIDS.set(bits, g = uniformGrid(bits));
  return g;
}

/** The reused buffers of `ctx` (one operation at a time runs on a context). */
function integerBuffers(ctx: RingContext): IntegerBuffers {
  let b = INTEGER_BUFFERS.get(ctx);
  if (!b) {
    b = {
      scaleAt: new Int32Array(0),
      scales: new Float32Array(0),
      lanes: [],
      finals: [],
      forwarded: [],
    };
    INTEGER_BUFFERS.set(ctx, b);
  }
  return b;
}

/**
 * Ring all-gather of the per-bucket maxima, then the element-wise maximum:
 * every rank ends with the same scales (max is exact and commutative).
 */
async function agreeScales(
  ctx: RingContext,
  scales: Float32Array,
  segments: number,
  n: number,
  opId: number,
  deadline: number,
  stats: ModeStats,
): Promise<void> {
  const N = ctx.size;
  // The scales travel as a pseudo-segment past the data ones, in the all-gather phase.
  const seg: Segment = { index: segments, chunk: 0, offset: 0, count: scales.length, layer: 0 };
  const codec = { scheme: "scales", bits: 32, quantizer: null };
  let forward = new Uint8Array(scales.slice().buffer);
  for (let hop = 0; hop < N - 1; hop++) {
    stats.bytesSent += forward.byteLength;
    const sent = ctx.sendChunk(chunkMessage(ctx, opId, "allGather", hop, seg, n, codec, forward));
    sent.catch(() => {}); // a failed send fails the ring; the receive below reports it
    const got = await expectChunk(
      ctx,
      chunkMessage(ctx, opId, "allGather", hop, seg, n, codec, new Uint8Array(0)),
      deadline,
    );
    try {
      const p = got.msg.payload;
      stats.bytesReceived += p.byteLength;
      guard(ctx, () => {
        if (p.byteLength !== 4 * scales.length) {
          throw new RangeError(`${p.byteLength} bytes of scales, ${4 * scales.length} expected`);
        }
      });
      const theirs = payloadF32(p);
      guard(ctx, () => {
        for (let i = 0; i < theirs.length; i++) {
          const v = theirs[i];
          if (!(v >= 0 && v < Infinity)) throw new RangeError(`scale ${i} is ${v}`);
          if (v > scales[i]) scales[i] = v;
        }
      });
      forward = p.slice();
    } finally {
      got.release();
    }
    await sent;
  }
}

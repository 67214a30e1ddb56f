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
import type { Segment, SegmentGroup } from "./plan.ts";

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

/** What a chunk message names of the segment (or segment group) it carries. */
export type ChunkSpan = Pick<Segment, "index" | "offset" | "count">;

/** Builds the chunk message every rank expects for (phase, hop, segment). */
export function chunkMessage(
  ctx: RingContext,
  opId: number,
  phase: Phase,
  hop: number,
  seg: ChunkSpan,
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
    throw f32Mismatch(ctx, m.payload.byteLength, `${want.count} float32 values`);
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
export function hopOrder<S extends { index: number }>(
  plan: S[][],
  N: number,
  chunkAt: (hop: number, rs: boolean) => number,
  lag = HOP_LAG,
): [number, S][] {
  const out: [number, S, number][] = [];
  for (let k = 0; k < 2 * (N - 1); k++) {
    const rs = k < N - 1;
    const hop = rs ? k : k - (N - 1);
    plan[chunkAt(hop, rs)].forEach((seg, g) => out.push([k, seg, g + k * lag]));
  }
  out.sort((a, b) => a[2] - b[2] || a[0] - b[0]);
  return out.map(([k, seg]) => [k, seg]);
}

/** Room kept before a frame in its slot, for the link's frame head (`ChunkMessage.headroom`). */
export const HEADROOM = 256;
/** Room kept after a frame in its slot, for the frame's padding (`ChunkMessage.tailroom`). */
export const TAILROOM = 8;

/** The codec of a group whose segments travel with different codecs. */
const MIXED: Codec = { scheme: "mixed", bits: 0, quantizer: null };

/** The codec a group's frame names: its segments' when they share one, else `mixed`. */
export function groupCodec(members: Segment[], codec: (seg: Segment) => Codec): Codec {
  const c = codec(members[0]);
  for (let i = 1; i < members.length; i++) {
    const m = codec(members[i]);
    if (m.scheme !== c.scheme || m.bits !== c.bits) return MIXED;
  }
  return c;
}

const pad8 = (n: number) => (n + 7) & ~7;

/**
 * The payload of a group of `k` segments, whose payloads `part(0)`,
 * `part(1)`, … are asked for in order (each may reuse the buffer of the one
 * before: it is copied before the next is asked for):
 * - one segment: its payload as is;
 * - every segment in float32 (`f32`): their values, which lie side by side in
 *   the buffer, as one view (no copy; copied end to end if they do not);
 * - otherwise a table of the parts' byte lengths (u32, little-endian, padded
 *   to 8 bytes), then each part padded to 8 bytes (so every part stays
 *   8-byte aligned), written into `slot` at {@linkcode HEADROOM} (for a
 *   one-write send).
 *
 * Returns the payload and the slot (a larger one when it had to grow).
 *
 * @example Two parts in a table, and back
 * ```ts
 * import { packGroup, splitGroup } from "./_ring_io.ts";
 * const parts = [new Uint8Array([1, 2, 3]), new Uint8Array([4])];
 * const [payload] = packGroup(2, (i) => parts[i], false, new Uint8Array(0));
 * if (payload.length !== 8 + 8 + 8) throw new Error(`${payload.length}`);
 * const back = splitGroup(payload, [3, 1], false);
 * if (back[0].join() !== "1,2,3" || back[1].join() !== "4") throw new Error();
 * ```
 */
export function packGroup(
  k: number,
  part: (i: number) => Uint8Array,
  f32: boolean,
  slot: Uint8Array,
): [Uint8Array, Uint8Array] {
  if (k === 1) return [part(0), slot];
  if (f32) {
    const parts = Array.from({ length: k }, (_, i) => part(i));
    const first = parts[0];
    let end = first.byteOffset + first.length, adjacent = true;
    for (let i = 1; i < k && adjacent; i++) {
      adjacent = parts[i].buffer === first.buffer && parts[i].byteOffset === end;
      end += parts[i].length;
    }
    if (adjacent) {
      return [new Uint8Array(first.buffer, first.byteOffset, end - first.byteOffset), slot];
    }
    const bytes = parts.reduce((s, p) => s + p.length, 0);
    if (slot.length < HEADROOM + bytes + TAILROOM) {
      slot = new Uint8Array(HEADROOM + bytes + TAILROOM);
    }
    let at = HEADROOM;
    for (const p of parts) {
      slot.set(p, at);
      at += p.length;
    }
    return [slot.subarray(HEADROOM, at), slot];
  }
  const table = pad8(4 * k);
  let at = HEADROOM + table;
  if (slot.length < at + TAILROOM) slot = new Uint8Array(at + TAILROOM);
  for (let i = 0; i < k; i++) {
    const p = part(i);
    const end = at + p.length, next = pad8(end - HEADROOM) + HEADROOM;
    if (slot.length < next + TAILROOM) {
      const grown = new Uint8Array(Math.max(2 * slot.length, next + TAILROOM));
      grown.set(slot.subarray(0, at));
      slot = grown;
    }
    const t = HEADROOM + 4 * i, len = p.length; // u32, little-endian
    slot[t] = len & 0xff;
    slot[t + 1] = (len >>> 8) & 0xff;
    slot[t + 2] = (len >>> 16) & 0xff;
    slot[t + 3] = len >>> 24;
    slot.set(p, at);
    slot.fill(0, end, next);
    at = next;
  }
  slot.fill(0, HEADROOM + 4 * k, HEADROOM + table);
  return [slot.subarray(HEADROOM, at), slot];
}

/**
 * The segments' payloads in a group's payload ({@linkcode packGroup}'s
 * layout), as views.
 *
 * @param payload The group's payload.
 * @param counts Each segment's element count.
 * @param f32 Whether the group travels in float32 (values side by side, no table).
 * @throws {RangeError} When the table does not describe the payload exactly.
 */
export function splitGroup(payload: Uint8Array, counts: number[], f32: boolean): Uint8Array[] {
  const k = counts.length;
  if (k === 1) return [payload];
  const out: Uint8Array[] = [];
  if (f32) {
    let at = 0;
    for (const c of counts) {
      out.push(payload.subarray(at, at + 4 * c));
      at += 4 * c;
    }
    if (at !== payload.length) {
      throw new RangeError(`a float32 group of ${at} bytes came as ${payload.length}`);
    }
    return out;
  }
  const table = pad8(4 * k);
  if (payload.length < table) {
    throw new RangeError(`a group of ${k} segments came with ${payload.length} bytes, no table`);
  }
  const view = new DataView(payload.buffer, payload.byteOffset, table);
  let at = table;
  for (let i = 0; i < k; i++) {
    const len = view.getUint32(4 * i, true);
    if (len > payload.length - at) {
      throw new RangeError(
        `segment ${i + 1} of ${k} in a group claims ${len} bytes, ${payload.length - at} remain`,
      );
    }
    out.push(payload.subarray(at, at + len));
    at = pad8(at + len);
  }
  if (at !== payload.length) {
    throw new RangeError(`a group's table covers ${at} of its ${payload.length} bytes`);
  }
  return out;
}

/** A ring context's reused slot for grouped frames (one send at a time per operation). */
const GROUP_SLOTS = new WeakMap<RingContext, Uint8Array>();

/**
 * {@linkcode packGroup} into `ctx`'s reused slot, as the payload of a send: a
 * lone segment's payload as its part gives it (with the room around it),
 * several with the slot's room around them when written there (one write).
 */
export function groupPayload(
  ctx: RingContext,
  k: number,
  part: (i: number) => HopPayload,
  f32: boolean,
): HopPayload {
  if (k === 1) return part(0);
  const [bytes, slot] = packGroup(
    k,
    (i) => part(i).bytes,
    f32,
    GROUP_SLOTS.get(ctx) ?? new Uint8Array(0),
  );
  GROUP_SLOTS.set(ctx, slot);
  return bytes.buffer === slot.buffer
    ? { bytes, headroom: HEADROOM, tailroom: TAILROOM }
    : { bytes };
}

/**
 * Runs the ring's 2(N − 1) hops, reduce-scatter then all-gather, pipelined
 * by segment group: a group is sent at a hop once it was received at the one
 * before, and each link carries its pairs in {@linkcode hopOrder}'s order.
 * Each group travels as one frame ({@linkcode packGroup}); what travels for
 * each segment and what a receive does is the mode's (`hops`); the order,
 * the checks of every received chunk, the deadline and turning a mode's
 * error into a ring failure are the same for every mode.
 *
 * @param ctx The ring.
 * @param plan The segment groups, by chunk ({@linkcode groupSegments}).
 * @param n The buffer's length (checked on every chunk).
 * @param opId The operation.
 * @param deadline When a missing chunk fails the operation (`performance.now()` time).
 * @param stats Counters to add to.
 * @param hops The mode.
 */
export async function runRingHops(
  ctx: RingContext,
  plan: SegmentGroup[][],
  n: number,
  opId: number,
  deadline: number,
  stats: HopStats,
  hops: RingHops,
): Promise<void> {
  const N = ctx.size, r = ctx.rank;
  // ready[k][g]: group g may be sent at step k (0 .. 2N−3; RS hops then AG hops).
  const steps = 2 * (N - 1);
  const ready: Signal[][] = Array.from({ length: steps }, () => []);
  const signal = (k: number, g: number) => (ready[k][g] ??= new Signal());
  const phaseOf = (rs: boolean) => rs ? "reduceScatter" as const : "allGather" as const;
  const codecOf = (g: SegmentGroup, rs: boolean, hop: number) =>
    groupCodec(g.members, (s) => hops.codec(s, rs, hop));

  const sendLoop = async () => {
    const order = hopOrder(plan, N, sentChunk(r, N));
    for (const [k, g] of order) {
      const rs = k < N - 1;
      const hop = rs ? k : k - (N - 1);
      if (k > 0) await signal(k, g.index).promise;
      ctx.throwIfFailed();
      const codec = codecOf(g, rs, hop);
      const p = groupPayload(
        ctx,
        g.members.length,
        (i) => guard(ctx, () => hops.payload(g.members[i], rs, hop)),
        codec.scheme === "fp32",
      );
      stats.bytesSent += p.bytes.byteLength;
      const msg = chunkMessage(ctx, opId, phaseOf(rs), hop, g, n, codec, p.bytes);
      if (p.headroom !== undefined) msg.headroom = p.headroom;
      if (p.tailroom !== undefined) msg.tailroom = p.tailroom;
      await ctx.sendChunk(msg);
    }
  };

  const recvLoop = async () => {
    const order = hopOrder(plan, N, receivedChunk(r, N));
    for (const [k, g] of order) {
      const rs = k < N - 1;
      const hop = rs ? k : k - (N - 1);
      const codec = codecOf(g, rs, hop);
      const want = chunkMessage(ctx, opId, phaseOf(rs), hop, g, n, codec, new Uint8Array(0));
      const got = await expectChunk(ctx, want, deadline);
      const t = performance.now();
      try {
        const p = got.msg.payload;
        stats.bytesReceived += p.byteLength;
        const parts = guard(
          ctx,
          () => splitGroup(p, g.members.map((s) => s.count), codec.scheme === "fp32"),
        );
        g.members.forEach((s, i) => {
          if (g.members.length > 1 && codec.scheme === "mixed") {
            checkF32Part(ctx, hops.codec(s, rs, hop), s, parts[i]);
          }
          guard(ctx, () => hops.receive(s, rs, hop, parts[i]));
        });
      } finally {
        got.release();
      }
      stats.reduceMs += performance.now() - t;
      if (k + 1 < steps) signal(k + 1, g.index).resolve();
    }
  };

  await Promise.all([sendLoop(), recvLoop()]);
}

/** Fails the ring when a float32 segment in a mixed group came with the wrong byte count. */
export function checkF32Part(ctx: RingContext, codec: Codec, seg: Segment, part: Uint8Array) {
  if (codec.scheme !== "fp32" || part.byteLength === 4 * seg.count) return;
  throw f32Mismatch(ctx, part.byteLength, `segment ${seg.index}'s ${seg.count} float32 values`);
}

/** The ring's failure for float32 values that came with `bytes` bytes: the left neighbour is named. */
function f32Mismatch(ctx: RingContext, bytes: number, what: string): CollectiveError {
  return ctx.fail(
    new MismatchError(ctx.leftRank, `rank ${ctx.leftRank} sent ${bytes} payload bytes for ${what}`),
  );
}

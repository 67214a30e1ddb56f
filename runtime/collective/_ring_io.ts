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

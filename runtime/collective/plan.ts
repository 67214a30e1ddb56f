/**
 * The segment plan of an all-reduce: a flat buffer's layers, cut into one
 * chunk per rank and each chunk into segments, the unit of transfer.
 *
 * @module
 */
import { layerPiece } from "../quant/pieces.ts";
import type { LayerInfo } from "../quant/types.ts";

/** A layer's place in the flat buffer. */
export interface LayerSpan extends LayerInfo {
  /** First element. */
  offset: number;
  /** Number of elements. */
  length: number;
}

/** One unit of transfer. */
export interface Segment {
  /** Index in the operation's plan (the same on every rank). */
  index: number;
  /** The chunk (owner rank − 1) it belongs to. */
  chunk: number;
  /** First element. */
  offset: number;
  /** Number of elements. */
  count: number;
  /** Index of its layer in the layout. */
  layer: number;
}

/**
 * The segment plan: for each chunk, its segments, cut at layer boundaries
 * and at `maxSegment` elements. Deterministic in (n, size, layout, maxSegment).
 */
export function planSegments(
  n: number,
  size: number,
  layout: LayerSpan[],
  maxSegment: number,
): Segment[][] {
  const plan: Segment[][] = [];
  let index = 0, layer = 0;
  for (let c = 0; c < size; c++) {
    const segs: Segment[] = [];
    let at = Math.floor((c * n) / size);
    const end = Math.floor(((c + 1) * n) / size);
    while (at < end) {
      while (layout[layer].offset + layout[layer].length <= at) layer++;
      const stop = Math.min(end, layout[layer].offset + layout[layer].length, at + maxSegment);
      segs.push({ index: index++, chunk: c, offset: at, count: stop - at, layer });
      at = stop;
    }
    plan.push(segs);
  }
  return plan;
}

/** Throws a RangeError unless `layout` covers [0, n) in order, without gaps. */
export function checkLayout(layout: LayerSpan[], n: number): void {
  let at = 0;
  for (const l of layout) {
    if (l.offset !== at || !Number.isInteger(l.length) || l.length < 0) {
      throw new RangeError(
        `layout: layer '${l.name}' at offset ${l.offset} (length ${l.length}) ` +
          `does not continue at element ${at}`,
      );
    }
    at += l.length;
  }
  if (at !== n) throw new RangeError(`layout covers ${at} elements, the buffer has ${n}`);
}

/**
 * What the quantizer is told about a segment: its layer when the segment is
 * the whole layer; for a piece (cut at a chunk boundary or at the segment
 * size limit) the layer's name, type and row length ({@linkcode layerPiece})
 * without its shape, which the piece does not have.
 */
export function segmentLayer(layout: LayerSpan[], seg: Segment): LayerInfo {
  const l = layout[seg.layer];
  if (seg.count === l.length) return l;
  return layerPiece(l);
}

/**
 * Consecutive segments of one chunk that travel in one frame (tensor fusion):
 * a model's small layers (biases, norms) would each be a segment of their
 * own, and every frame costs the same fixed work at both ends whatever its
 * size. Each mode still quantizes and decodes segment by segment; only the
 * frames are fused.
 */
export interface SegmentGroup {
  /** Index in the operation's group plan (the same on every rank). */
  index: number;
  /** The chunk its segments belong to. */
  chunk: number;
  /** First element (its first segment's). */
  offset: number;
  /** Elements of all its segments. */
  count: number;
  /** Its segments, in order; adjacent in the buffer. */
  members: Segment[];
}

/**
 * Groups each chunk's segments greedily, in order: a segment joins the open
 * group while the group stays within `maxElements` elements, so a segment cut
 * at the size limit travels alone and small ones travel together.
 * Deterministic in (plan, maxElements).
 *
 * @example Four small layers and one large one, one chunk
 * ```ts
 * import { groupSegments, planSegments } from "./plan.ts";
 * const sizes = [100, 10, 100, 10, 1000];
 * let at = 0;
 * const layout = sizes.map((length, i) => ({ name: `l${i}`, offset: (at += length) - length, length }));
 * const groups = groupSegments(planSegments(1220, 1, layout, 500), 500);
 * const shape = groups[0].map((g) => g.members.map((s) => s.count).join("+")).join(" | ");
 * if (shape !== "100+10+100+10 | 500 | 500") throw new Error(shape);
 * ```
 */
export function groupSegments(plan: Segment[][], maxElements: number): SegmentGroup[][] {
  let index = 0;
  return plan.map((segs) => {
    const groups: SegmentGroup[] = [];
    let open: SegmentGroup | null = null;
    for (const seg of segs) {
      if (open && open.count + seg.count <= maxElements) {
        open.members.push(seg);
        open.count += seg.count;
        continue;
      }
      open = {
        index: index++,
        chunk: seg.chunk,
        offset: seg.offset,
        count: seg.count,
        members: [seg],
      };
      groups.push(open);
    }
    return groups;
  });
}

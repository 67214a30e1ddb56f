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

/**
 * Layers cut into pieces. A collective cuts the flat buffer at chunk and
 * segment boundaries, so a quantizer is often handed a piece of a layer,
 * which has no shape of its own. The row-wise schemes (`psq`, `bhq`) still
 * need the layer's row length: {@linkcode layerQuantizer} binds it to a
 * layer once, where the layer is known, and hands it down with every piece.
 *
 * @module
 */
import { defaultLayerType } from "./layer_types.ts";
import type { LayerInfo, Quantized, Quantizer, QuantizeStats } from "./types.ts";
import type { Rng } from "../rng.ts";

/** A layer and, when known, its number of elements. */
export interface SizedLayer extends LayerInfo {
  /** Number of elements (a layer without a shape is one row of them). */
  length?: number;
}

/**
 * The row length D of a layer: the product of `shape[1..]` (a 1-D shape is
 * one row), else its `rowLength`, else its `length` (one row); undefined
 * when none is known.
 *
 * @example
 * ```ts
 * import { layerRowLength } from "@qoda/ring/quant";
 * if (layerRowLength({ name: "fc/kernel", shape: [64, 10] }) !== 10) throw new Error();
 * if (layerRowLength({ name: "z", length: 7 }) !== 7) throw new Error("one row");
 * ```
 */
export function layerRowLength(layer: SizedLayer): number | undefined {
  const shape = layer.shape;
  if (shape && shape.length > 0) {
    let d = 1;
    if (shape.length === 1) d = shape[0];
    else for (let i = 1; i < shape.length; i++) d *= shape[i];
    return d;
  }
  return layer.rowLength ?? layer.length;
}

/**
 * What a quantizer is told about a piece cut from `layer`: the layer's name,
 * its type (inferred from the shape the piece does not have) and its row
 * length, so that the row-wise schemes cut the piece into the layer's rows.
 *
 * @example
 * ```ts
 * import { layerPiece, PsqQuantizer } from "@qoda/ring/quant";
 * import { Rng } from "@qoda/ring";
 * const layer = { name: "fc/kernel", shape: [8, 4], offset: 0, length: 32 };
 * const piece = new Float32Array(10).map((_, i) => i); // two rows and a half
 * const q = new PsqQuantizer({ bits: 4 });
 * const block = q.quantize(piece, new Rng(1), layerPiece(layer));
 * if (block.bucketSize !== 4 || block.meta.length !== 2 * 3) throw new Error("rows of 4");
 * ```
 */
export function layerPiece(layer: SizedLayer): LayerInfo {
  const piece: LayerInfo = { name: layer.name, type: layer.type ?? defaultLayerType(layer) };
  const d = layerRowLength(layer);
  if (d !== undefined) piece.rowLength = d;
  return piece;
}

/**
 * The quantizer of one layer of a flat buffer that a collective may cut into
 * pieces: for the row-wise schemes (`psq`, `bhq`, without a fixed
 * `rowLength`) a quantizer that adds the layer's row length to whatever
 * comes without a shape (a piece, or a layer that has none: one row);
 * any other quantizer as it is. Call it where the layer is known, e.g. in a
 * collective's `quantizerFor`.
 *
 * @param quantizer The quantizer of the layer.
 * @param layer The whole layer (name, shape or length).
 * @returns A quantizer for the layer and every piece of it.
 *
 * @example A piece of a 2-D layer, quantized per row of the layer
 * ```ts
 * import { createQuantizer, layerQuantizer } from "@qoda/ring/quant";
 * import { Rng } from "@qoda/ring";
 * const layer = { name: "fc/kernel", shape: [8, 4], offset: 0, length: 32 };
 * const q = layerQuantizer(createQuantizer({ scheme: "bhq", bits: 4 }), layer);
 * const piece = new Float32Array(10).map((_, i) => Math.sin(i));
 * const back = q.dequantize(q.quantize(piece, new Rng(1), { name: "fc/kernel" }));
 * if (back.length !== 10) throw new Error("length changed");
 * ```
 */
export function layerQuantizer(quantizer: Quantizer, layer: SizedLayer): Quantizer {
  if (quantizer.scheme !== "psq" && quantizer.scheme !== "bhq") return quantizer;
  if ((quantizer as { rowLength?: number }).rowLength !== undefined) return quantizer;
  const d = layerRowLength(layer);
  if (d === undefined) return quantizer;
  const withRows = (info?: LayerInfo): LayerInfo => {
    if (info?.shape && info.shape.length > 0) return info;
    if (!info) return { ...layerPiece(layer), rowLength: d };
    return { ...info, rowLength: d };
  };
  return {
    scheme: quantizer.scheme,
    bits: quantizer.bits,
    unbiased: quantizer.unbiased,
    quantize: (v: Float32Array, rng: Rng, info?: LayerInfo, stats?: QuantizeStats): Quantized =>
      quantizer.quantize(v, rng, withRows(info), stats),
    dequantize: (q: Quantized, out?: Float32Array): Float32Array => quantizer.dequantize(q, out),
    varianceBound: (v: Float32Array, info?: LayerInfo): number =>
      quantizer.varianceBound(v, withRows(info)),
    expectedVariance: (v: Float32Array, info?: LayerInfo): number =>
      quantizer.expectedVariance(v, withRows(info)),
  };
}

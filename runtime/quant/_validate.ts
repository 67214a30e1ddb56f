// Input checks shared by the quantizers. Internal: not re-exported.
import { NonFiniteError, QuantizationError } from "../errors.ts";
import type { LayerInfo } from "./types.ts";

/** Name of a layer for messages ("" when none). */
export function layerName(layer?: LayerInfo): string {
  return layer?.name ?? "";
}

/**
 * Throws {@linkcode QuantizationError} unless `bits` is an integer in [min, 16].
 */
export function checkBits(bits: number, layer = "", min = 1): void {
  if (!Number.isInteger(bits) || bits < min || bits > 16) {
    throw new QuantizationError(layer, `bits must be an integer in ${min}..16, got ${bits}`);
  }
}

/** Throws {@linkcode QuantizationError} unless `n` is a positive integer. */
export function checkPositiveInt(n: number, what: string, layer = ""): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new QuantizationError(layer, `${what} must be a positive integer, got ${n}`);
  }
}

/**
 * Throws {@linkcode NonFiniteError} naming the first NaN/±Infinity in `v`.
 * Call it when a reduction over `v` came out non-finite (cheap detection),
 * or directly (one pass).
 */
export function checkFinite(v: Float32Array, layer = ""): void {
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x - x !== 0) throw new NonFiniteError(layer, i, x);
  }
}

/** Throws {@linkcode QuantizationError} when an output buffer has the wrong length. */
export function checkOut(out: Float32Array, length: number, layer = ""): void {
  if (out.length !== length) {
    throw new QuantizationError(
      layer,
      `output buffer has length ${out.length}, expected ${length}`,
    );
  }
}

/**
 * Called when a reduction over v[from, to) came out non-finite: throws
 * {@linkcode NonFiniteError} at the first bad index, or, when every value is
 * finite (the reduction overflowed), a {@linkcode QuantizationError} saying so.
 */
export function throwNonFinite(v: Float32Array, from: number, to: number, layer = ""): never {
  for (let i = from; i < to; i++) {
    const x = v[i];
    if (x - x !== 0) throw new NonFiniteError(layer, i, x);
  }
  throw new QuantizationError(layer, `values in [${from}, ${to}) overflow float64 when reduced`);
}

/**
 * The layer's name for messages, after checking that its declared shape (if
 * any) holds exactly `v.length` values; throws {@linkcode QuantizationError}
 * naming the layer, the shape and the length otherwise.
 */
export function checkLayer(v: Float32Array, layer?: LayerInfo): string {
  const name = layer?.name ?? "";
  const shape = layer?.shape;
  if (shape) {
    let size = 1;
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new QuantizationError(name, `shape [${shape.join(", ")}] has a bad dimension ${d}`);
      }
      size *= d;
    }
    if (size !== v.length) {
      throw new QuantizationError(
        name,
        `shape [${shape.join(", ")}] holds ${size} values but the tensor has ${v.length}`,
      );
    }
  }
  return name;
}

/**
 * Coders: turn a {@linkcode Quantized} block into self-describing bytes and
 * back, bit-exactly. `fixed` stores each code in exactly `bits` bits; `gamma`
 * and `omega` use Elias codes (shorter when small level indices dominate).
 * The bit stream and the Elias codes are exported for other coders.
 *
 * @example Encode and decode a block
 * ```ts
 * import { decode, encode, encodedLengthBound, type Quantized } from "@qoda/ring/coding";
 * const q: Quantized = {
 *   scheme: "maxmin", length: 5, bits: 4, bucketSize: 5, signed: false, normQ: 0,
 *   bins: 15, levels: new Float32Array(0), meta: new Float32Array([0.5, -2]),
 *   aux: new Uint32Array(0), codes: new Uint16Array([0, 1, 15, 3, 0]), raw: new Float32Array(0),
 * };
 * const bytes = encode(q, "fixed");
 * if (bytes.length > encodedLengthBound(q, "fixed")) throw new Error("too long");
 * const back = decode(bytes);
 * if (back.codes.join() !== "0,1,15,3,0") throw new Error("codes changed");
 * ```
 *
 * @module
 */
export * from "./bit_stream.ts";
export * from "./elias.ts";
export * from "./codec.ts";
export {
  type LayerInfo,
  type Quantized,
  type Quantizer,
  type QuantizeStats,
  type SchemeName,
  SCHEMES,
} from "../quant/types.ts";
export type { Rng, RngState } from "../rng.ts";

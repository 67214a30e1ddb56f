/**
 * Self-describing byte frames for {@linkcode Quantized} blocks.
 *
 * Frame layout (all little-endian; the header is 40 bytes, so every section
 * after it starts at a multiple of 4 from the frame start):
 *
 * | offset | type   | field                                            |
 * | -----: | ------ | ------------------------------------------------ |
 * |      0 | u8[2]  | magic `"QR"`                                     |
 * |      2 | u8     | format version ({@linkcode FORMAT_VERSION})      |
 * |      3 | u8     | scheme id (index into `SCHEMES`)                 |
 * |      4 | u8     | coder id (index into {@linkcode CODERS})         |
 * |      5 | u8     | bits                                             |
 * |      6 | u16    | flags: bit 0 = `signed`; other bits must be 0    |
 * |      8 | f32    | normQ (`Infinity` allowed, NaN rejected)         |
 * |     12 | u32    | bins                                             |
 * |     16 | u32    | length (coordinates)                             |
 * |     20 | u32    | bucketSize                                       |
 * |     24 | u32    | levels count L                                   |
 * |     28 | u32    | meta count M                                     |
 * |     32 | u32    | aux count A                                      |
 * |     36 | u32    | payload byte count P                             |
 * |     40 | f32[L] | levels                                           |
 * |        | f32[M] | meta                                             |
 * |        | u32[A] | aux                                              |
 * |        | u8[P]  | payload                                          |
 *
 * Payloads: `fixed` stores every code in exactly `bits` bits, LSB-first
 * (scheme `none`: the raw float32 values). `gamma`/`omega` store Elias codes:
 * signed blocks write `index + 1` then, when `index > 0`, the sign bit;
 * unsigned blocks write `code + 1`. Bit streams are padded with zero bits to
 * a whole byte. Frames are canonical: a frame that decodes re-encodes to the
 * same bytes.
 *
 * @module
 */
import { FrameError, QuantizationError, UnknownNameError } from "../errors.ts";
import { EMPTY_F32, EMPTY_U16, EMPTY_U32, SCHEMES } from "../quant/types.ts";
import type { LayerInfo, Quantized, Quantizer, QuantizeStats, SchemeName } from "../quant/types.ts";
import type { Rng } from "../rng.ts";
import { BitReader, BitWriter } from "./bit_stream.ts";
import { CHUNK, kernels } from "../kernels/kernels.ts";
import {
  checkLevels,
  type PackedCodes,
  SIGN_MAGNITUDE_OUTPUT,
  type SignMagnitudeOutput,
} from "../quant/sign_magnitude.ts";
import {
  eliasGammaLength,
  eliasOmegaLength,
  readEliasGamma,
  readEliasOmega,
  writeEliasGamma,
  writeEliasOmega,
} from "./elias.ts";

/** Coder names, as used on the command line and (by index) in frame headers. */
export const CODERS = ["fixed", "gamma", "omega"] as const;

/** One of {@linkcode CODERS}. */
export type CoderName = typeof CODERS[number];

/** Version byte written into every frame; decode rejects any other. */
export const FORMAT_VERSION = 1;

/** Size of the fixed frame header in bytes (a multiple of 4). */
export const HEADER_BYTES = 40;

const MAGIC0 = 0x51; // "Q"
const MAGIC1 = 0x52; // "R"
const FLAG_SIGNED = 1;
const MAX_U32 = 4294967295;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Header field offsets.
const OFF_VERSION = 2;
const OFF_SCHEME = 3;
const OFF_CODER = 4;
const OFF_BITS = 5;
const OFF_FLAGS = 6;
const OFF_NORMQ = 8;
const OFF_BINS = 12;
const OFF_LENGTH = 16;
const OFF_BUCKET = 20;
const OFF_LEVELS = 24;
const OFF_META = 28;
const OFF_AUX = 32;
const OFF_PAYLOAD = 36;

// ---------------------------------------------------------------------------
// Shared rules

function schemeIndex(scheme: SchemeName): number {
  return (SCHEMES as readonly string[]).indexOf(scheme);
}

function coderIndex(coder: CoderName): number {
  const i = (CODERS as readonly string[]).indexOf(coder);
  if (i < 0) throw new UnknownNameError("coder", String(coder), CODERS);
  return i;
}

/** Why (scheme, bits, signed) is not a valid combination, or "" if it is. */
function bitsProblem(scheme: SchemeName, bits: number, signed: boolean): string {
  if (scheme === "none") return bits === 32 ? "" : `bits must be 32 for scheme 'none'`;
  if (scheme === "fp16") return bits === 16 ? "" : `bits must be 16 for scheme 'fp16'`;
  if (!Number.isInteger(bits) || bits < 1 || bits > 16) {
    return `bits must be an integer in 1..16 for scheme '${scheme}'`;
  }
  if (signed && bits < 2) return "bits must be at least 2 for signed codes";
  return "";
}

function isElias(coderId: number): boolean {
  return coderId !== 0;
}

function eliasApplies(scheme: SchemeName): boolean {
  return scheme !== "none" && scheme !== "fp16";
}

let omegaPrefixMax: Uint8Array | undefined;

/** max over v in 1..m of the Elias code length of v (m ≤ 2^16). */
function maxEliasLength(coderId: number, m: number): number {
  if (coderId === 1) return eliasGammaLength(m); // gamma length is monotone
  if (!omegaPrefixMax) {
    const t = new Uint8Array(65537);
    let best = 0;
    for (let v = 1; v <= 65536; v++) {
      const l = eliasOmegaLength(v);
      if (l > best) best = l;
      t[v] = best;
    }
    omegaPrefixMax = t;
  }
  return omegaPrefixMax[m];
}

/** Worst-case payload bits per coordinate for an Elias coder. */
function eliasBitsPerCode(coderId: number, bits: number, signed: boolean): number {
  return signed ? maxEliasLength(coderId, 2 ** (bits - 1)) + 1 : maxEliasLength(coderId, 2 ** bits);
}

/** Exact payload bytes of a fixed-width block. */
function fixedPayloadBytes(scheme: SchemeName, length: number, bits: number): number {
  return scheme === "none" ? length * 4 : Math.ceil((length * bits) / 8);
}

// ---------------------------------------------------------------------------
// Encoding

function checkU32(q: Quantized, field: "length" | "bucketSize" | "bins"): void {
  const v = q[field];
  if (!Number.isInteger(v) || v < 0 || v > MAX_U32) {
    throw new QuantizationError("", `${field} must be an integer in 0..2^32-1, got ${v}`);
  }
}

/** Validates the header fields of `q`; returns the scheme and coder ids. */
function checkHeader(q: Quantized, coder: CoderName): [number, number] {
  const coderId = coderIndex(coder);
  const schemeId = schemeIndex(q.scheme);
  if (schemeId < 0) {
    throw new QuantizationError("", `unknown scheme '${q.scheme}'; valid: ${SCHEMES.join(", ")}`);
  }
  const problem = bitsProblem(q.scheme, q.bits, q.signed);
  if (problem) throw new QuantizationError("", `${problem}, got ${q.bits}`);
  if (isElias(coderId) && !eliasApplies(q.scheme)) {
    throw new QuantizationError(
      "",
      `coder '${coder}' does not apply to scheme '${q.scheme}' (use 'fixed')`,
    );
  }
  checkU32(q, "length");
  checkU32(q, "bucketSize");
  checkU32(q, "bins");
  if (typeof q.normQ !== "number" || Number.isNaN(q.normQ) || Math.fround(q.normQ) !== q.normQ) {
    throw new QuantizationError("", `normQ must be a float32 value (not NaN), got ${q.normQ}`);
  }
  return [schemeId, coderId];
}

/**
 * An upper bound on `encode(q, coder).length`, computed from the header
 * fields of `q` alone (length, bits, signed and the side-array sizes), never
 * from the code values. Exact for `fixed`.
 *
 * @param q The block.
 * @param coder The coder.
 * @returns The bound in bytes.
 * @throws {UnknownNameError} For an unknown coder.
 * @throws {QuantizationError} When `q`'s header is invalid or the coder does not apply.
 *
 * @example Size a buffer before encoding
 * ```ts
 * import { encode, encodedLengthBound, type Quantized } from "@qoda/ring/coding";
 * const q: Quantized = {
 *   scheme: "maxmin", length: 3, bits: 4, bucketSize: 3, signed: false, normQ: 0,
 *   bins: 15, levels: new Float32Array(0), meta: new Float32Array([0.1, -1]),
 *   aux: new Uint32Array(0), codes: new Uint16Array([0, 7, 15]), raw: new Float32Array(0),
 * };
 * if (encode(q, "gamma").length > encodedLengthBound(q, "gamma")) throw new Error("bound");
 * ```
 */
export function encodedLengthBound(q: Quantized, coder: CoderName): number {
  const [, coderId] = checkHeader(q, coder);
  const side = HEADER_BYTES + 4 * (q.levels.length + q.meta.length + q.aux.length);
  if (!isElias(coderId)) return side + fixedPayloadBytes(q.scheme, q.length, q.bits);
  return side + Math.ceil((q.length * eliasBitsPerCode(coderId, q.bits, q.signed)) / 8);
}

function copyWords(
  src: Float32Array | Uint32Array,
  out: Uint8Array,
  view: DataView,
  at: number,
): number {
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), at);
  } else if (src instanceof Float32Array) {
    for (let i = 0; i < src.length; i++) view.setFloat32(at + 4 * i, src[i], true);
  } else {
    for (let i = 0; i < src.length; i++) view.setUint32(at + 4 * i, src[i], true);
  }
  return at + src.byteLength;
}

function codeRangeError(code: number, i: number, bits: number): QuantizationError {
  return new QuantizationError(
    "",
    `code ${code} at index ${i} does not fit in ${bits} bits (max ${2 ** bits - 1})`,
  );
}

/** Below this many codes the TypeScript packer is used (no copy into the kernel). */
const KERNEL_PACK_MIN = 4096;

/** Packs `codes` at `bits` bits each into `out[at..]`. Returns the OR of all codes. */
function packFixed(codes: Uint16Array, bits: number, out: Uint8Array, at: number): number {
  const n = codes.length;
  if (n >= KERNEL_PACK_MIN && bits !== 16) return kernels().packFixed(codes, bits, out, at);
  let all = 0;
  if (bits === 8) {
    for (let i = 0; i < n; i++) all |= codes[i];
    if (all < 256) out.set(codes, at);
    return all;
  }
  if (bits === 16) {
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength), at);
    } else {
      for (let i = 0, p = at; i < n; i++, p += 2) {
        const c = codes[i];
        out[p] = c & 255;
        out[p + 1] = c >>> 8;
      }
    }
    return 0;
  }
  if (bits === 4) {
    const pairs = n >>> 1;
    let p = at;
    let i = 0;
    for (let k = 0; k < pairs; k++, i += 2) {
      const c0 = codes[i];
      const c1 = codes[i + 1];
      all |= c0 | c1;
      out[p++] = c0 | (c1 << 4);
    }
    if (i < n) {
      all |= codes[i];
      out[p] = codes[i] & 15;
    }
    return all;
  }
  if (bits === 2) {
    const quads = n >>> 2;
    let p = at;
    let i = 0;
    for (let k = 0; k < quads; k++, i += 4) {
      const c0 = codes[i];
      const c1 = codes[i + 1];
      const c2 = codes[i + 2];
      const c3 = codes[i + 3];
      all |= c0 | c1 | c2 | c3;
      out[p++] = c0 | (c1 << 2) | (c2 << 4) | (c3 << 6);
    }
    if (i < n) {
      let b = 0;
      for (let s = 0; i < n; i++, s += 2) {
        all |= codes[i];
        b |= (codes[i] & 3) << s;
      }
      out[p] = b;
    }
    return all;
  }
  // General width: a bit accumulator of at most 7 + 16 bits.
  const mask = (1 << bits) - 1;
  let acc = 0;
  let have = 0;
  let p = at;
  for (let i = 0; i < n; i++) {
    const c = codes[i];
    all |= c;
    acc |= (c & mask) << have;
    have += bits;
    while (have >= 8) {
      out[p++] = acc & 255;
      acc >>>= 8;
      have -= 8;
    }
  }
  if (have > 0) out[p] = acc;
  return all;
}

/**
 * Computes the exact Elias payload size in bits, checking every code.
 * Throws QuantizationError for out-of-range codes and signed negative zero.
 */
function eliasPayloadBits(q: Quantized, coderId: number): number {
  const codes = q.codes;
  const n = codes.length;
  const gamma = coderId === 1;
  const maxCode = 2 ** q.bits - 1;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const c = codes[i];
    if (c > maxCode) throw codeRangeError(c, i, q.bits);
    let v: number;
    if (q.signed) {
      if (c === 1) {
        throw new QuantizationError(
          "",
          `signed code 1 (negative zero) at index ${i} cannot be Elias-coded`,
        );
      }
      v = (c >>> 1) + 1;
      if (v > 1) total += 1;
    } else {
      v = c + 1;
    }
    total += gamma ? 2 * (31 - Math.clz32(v)) + 1 : eliasOmegaLength(v);
  }
  return total;
}

function writeElias(q: Quantized, coderId: number, out: Uint8Array): void {
  const w = new BitWriter(out);
  const codes = q.codes;
  const n = codes.length;
  const write = coderId === 1 ? writeEliasGamma : writeEliasOmega;
  if (q.signed) {
    for (let i = 0; i < n; i++) {
      const c = codes[i];
      const index = c >>> 1;
      write(w, index + 1);
      if (index > 0) w.writeBit(c & 1);
    }
  } else {
    for (let i = 0; i < n; i++) write(w, codes[i] + 1);
  }
}

/**
 * Encodes a quantized block as a self-describing frame (see the module doc
 * for the layout). `decode(encode(q, coder))` deep-equals `q`.
 *
 * @param q The block.
 * @param coder How to store the codes: `fixed` (exactly `bits` bits each),
 *   `gamma` or `omega` (Elias; level-index schemes only).
 * @param out A buffer to write the frame into, reused across calls so that no
 *   fresh memory is touched: when it holds at least the frame's length, the
 *   frame is written to its start and a view of it returned (every byte of
 *   the view is written, so stale contents do not matter); otherwise a new
 *   array is allocated.
 * @returns A new byte array (or a view of `out`) of at most
 *   `encodedLengthBound(q, coder)` bytes.
 * @throws {UnknownNameError} For an unknown coder.
 * @throws {QuantizationError} For an inconsistent block (lengths, bits, codes
 *   out of range, an Elias coder on `none`/`fp16`, a signed negative zero
 *   under Elias coding).
 *
 * @example Round trip
 * ```ts
 * import { decode, encode, type Quantized } from "@qoda/ring";
 * const q: Quantized = {
 *   scheme: "qsgd", length: 4, bits: 3, bucketSize: 4, signed: true, normQ: 2,
 *   bins: 0, levels: new Float32Array([0, 0.25, 0.5, 1]), meta: new Float32Array([1.5]),
 *   aux: new Uint32Array(0), codes: new Uint16Array([0, 3, 6, 7]), raw: new Float32Array(0),
 * };
 * const bytes = encode(q, "omega");
 * const back = decode(bytes);
 * if (back.codes.join() !== "0,3,6,7" || back.meta[0] !== 1.5) throw new Error("mismatch");
 * if (back.scheme !== "qsgd" || back.levels.join() !== "0,0.25,0.5,1") throw new Error("header");
 * ```
 */
export function encode(q: Quantized, coder: CoderName = "fixed", out?: Uint8Array): Uint8Array {
  const [schemeId, coderId] = checkHeader(q, coder);
  const n = q.length;
  if (q.scheme === "none") {
    if (q.raw.length !== n || q.codes.length !== 0) {
      throw new QuantizationError(
        "",
        `a 'none' block needs raw.length = length = ${n} and no codes, ` +
          `got raw.length ${q.raw.length}, codes.length ${q.codes.length}`,
      );
    }
  } else if (q.codes.length !== n || q.raw.length !== 0) {
    throw new QuantizationError(
      "",
      `a '${q.scheme}' block needs codes.length = length = ${n} and no raw values, ` +
        `got codes.length ${q.codes.length}, raw.length ${q.raw.length}`,
    );
  }
  const payloadBytes = isElias(coderId)
    ? Math.ceil(eliasPayloadBits(q, coderId) / 8)
    : fixedPayloadBytes(q.scheme, n, q.bits);
  if (payloadBytes > MAX_U32) {
    throw new QuantizationError("", `payload of ${payloadBytes} bytes exceeds 2^32-1`);
  }
  const frame = frameBuffer(frameBytes(q, payloadBytes), out);
  const at = writeHead(q, schemeId, coderId, payloadBytes, frame);
  if (q.scheme === "none") {
    copyWords(q.raw, frame, frameView(frame), at);
  } else if (isElias(coderId)) {
    writeElias(q, coderId, frame.subarray(at));
  } else {
    const all = packFixed(q.codes, q.bits, frame, at);
    if (all >>> q.bits !== 0) {
      const max = 2 ** q.bits - 1;
      const i = q.codes.findIndex((c) => c > max);
      throw codeRangeError(q.codes[i], i, q.bits);
    }
  }
  return frame;
}

/** Total frame length for a block whose payload has `payloadBytes` bytes. */
function frameBytes(q: Quantized, payloadBytes: number): number {
  return HEADER_BYTES + 4 * (q.levels.length + q.meta.length + q.aux.length) + payloadBytes;
}

/** A view of the first `length` bytes of `out` when it is long enough, else a new array. */
function frameBuffer(length: number, out: Uint8Array | undefined): Uint8Array {
  return out && out.length >= length ? out.subarray(0, length) : new Uint8Array(length);
}

function frameView(frame: Uint8Array): DataView {
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
}

/** Writes the header and the levels, meta and aux sections; returns the payload offset. */
function writeHead(
  q: Quantized,
  schemeId: number,
  coderId: number,
  payloadBytes: number,
  out: Uint8Array,
): number {
  const view = frameView(out);
  out[0] = MAGIC0;
  out[1] = MAGIC1;
  out[OFF_VERSION] = FORMAT_VERSION;
  out[OFF_SCHEME] = schemeId;
  out[OFF_CODER] = coderId;
  out[OFF_BITS] = q.bits;
  view.setUint16(OFF_FLAGS, q.signed ? FLAG_SIGNED : 0, true);
  view.setFloat32(OFF_NORMQ, q.normQ, true);
  view.setUint32(OFF_BINS, q.bins, true);
  view.setUint32(OFF_LENGTH, q.length, true);
  view.setUint32(OFF_BUCKET, q.bucketSize, true);
  view.setUint32(OFF_LEVELS, q.levels.length, true);
  view.setUint32(OFF_META, q.meta.length, true);
  view.setUint32(OFF_AUX, q.aux.length, true);
  view.setUint32(OFF_PAYLOAD, payloadBytes, true);
  let at = copyWords(q.levels, out, view, HEADER_BYTES);
  at = copyWords(q.meta, out, view, at);
  return copyWords(q.aux, out, view, at);
}

/** Options of {@linkcode quantizeEncode}. */
export interface QuantizeEncodeOptions {
  /** The layer `v` belongs to (per-type levels, error messages). */
  layer?: LayerInfo;
  /** The coder that stores the codes (see {@linkcode CODERS}). @default {"fixed"} */
  coder?: CoderName;
  /**
   * A buffer to write the frame into, reused across calls (see
   * {@linkcode encode}); the result is a view of it when it is long enough.
   */
  out?: Uint8Array;
  /** Receives ‖Q(v) − v‖² and ‖v‖² of this draw. */
  stats?: QuantizeStats;
}

/**
 * `encode(quantizer.quantize(v, rng, layer, stats), coder, out)`, the send
 * path of a collective, producing exactly those bytes and leaving the
 * quantizer, `rng` and `stats` exactly as that would, but faster where it
 * can: for the sign-magnitude schemes (`qsgd`, `layerwise`) with the `fixed`
 * coder and L2 or L∞ norms, the WebAssembly kernel packs the codes straight
 * into the frame's payload as it quantizes, so no per-coordinate code array
 * is made, copied or packed in a second pass; with `out` reused, nothing
 * new is allocated but the norms.
 *
 * @param quantizer Any quantizer.
 * @param v The values.
 * @param rng Randomness for the quantizer.
 * @param options Layer, coder, output buffer and statistics.
 * @returns The frame: a view of `options.out` when that is long enough, else a new array.
 *
 * @example The frame is the one encode() makes
 * ```ts
 * import { decode, encode, LayerwiseQuantizer, quantizeEncode, Rng } from "@qoda/ring";
 * const v = new Float32Array(3000).map((_, i) => Math.sin(i));
 * const a = quantizeEncode(new LayerwiseQuantizer({ bits: 4 }), v, new Rng(5));
 * const b = encode(new LayerwiseQuantizer({ bits: 4 }).quantize(v, new Rng(5)));
 * if (a.join() !== b.join()) throw new Error("frames differ");
 * const block = decode(a);
 * if (block.scheme !== "layerwise" || block.length !== 3000) throw new Error("wrong header");
 * ```
 */
export function quantizeEncode(
  quantizer: Quantizer,
  v: Float32Array,
  rng: Rng,
  options: QuantizeEncodeOptions = {},
): Uint8Array {
  const { layer, coder = "fixed", out, stats } = options;
  // Only the sign-magnitude schemes take the request; the others get the
  // caller's stats as is (some only measure the error when asked to).
  if (coder !== "fixed" || (quantizer.scheme !== "qsgd" && quantizer.scheme !== "layerwise")) {
    return encode(quantizer.quantize(v, rng, layer, stats), coder, out);
  }
  // The request rides on a stats object of our own (copied to the caller's
  // afterwards), so that it reaches quantizeSignMagnitude through
  // Quantizer.quantize (both schemes compute the sums anyway); a quantizer
  // that does not pass it on makes codes as usual.
  const sink: {
    block?: Quantized;
    frame?: Uint8Array;
    schemeId: number;
    payloadBytes: number;
  } = { schemeId: 0, payloadBytes: 0 };
  const packed: PackedCodes = {
    open(block: Quantized) {
      if (sink.block) return null; // one frame per call
      try {
        sink.schemeId = checkHeader(block, "fixed")[0];
      } catch {
        return null; // encode() raises the error, after quantizing, as before
      }
      const payloadBytes = fixedPayloadBytes(block.scheme, block.length, block.bits);
      if (payloadBytes > MAX_U32) return null;
      const frame = frameBuffer(frameBytes(block, payloadBytes), out);
      sink.block = block;
      sink.frame = frame;
      sink.payloadBytes = payloadBytes;
      return { bytes: frame, at: frame.length - payloadBytes };
    },
  };
  const s: QuantizeStats & { [SIGN_MAGNITUDE_OUTPUT]: SignMagnitudeOutput } = {
    sqError: stats?.sqError ?? 0,
    sqNorm: stats?.sqNorm ?? 0,
    [SIGN_MAGNITUDE_OUTPUT]: { packed },
  };
  const q = quantizer.quantize(v, rng, layer, s);
  if (stats) {
    stats.sqError = s.sqError;
    stats.sqNorm = s.sqNorm;
  }
  if (!packed.written || !sink.frame || q !== sink.block) return encode(q, "fixed", out);
  writeHead(q, sink.schemeId, CODERS.indexOf("fixed"), sink.payloadBytes, sink.frame);
  return sink.frame;
}

// ---------------------------------------------------------------------------
// Decoding

function readF32s(bytes: Uint8Array, view: DataView, at: number, count: number): Float32Array {
  if (count === 0) return EMPTY_F32;
  const out = new Float32Array(count);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes.subarray(at, at + 4 * count));
  else for (let i = 0; i < count; i++) out[i] = view.getFloat32(at + 4 * i, true);
  return out;
}

function readU32s(bytes: Uint8Array, view: DataView, at: number, count: number): Uint32Array {
  if (count === 0) return EMPTY_U32;
  const out = new Uint32Array(count);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes.subarray(at, at + 4 * count));
  else for (let i = 0; i < count; i++) out[i] = view.getUint32(at + 4 * i, true);
  return out;
}

function paddingError(): FrameError {
  return new FrameError("payload: nonzero padding bits after the last code");
}

/** Unpacks `codes.length` codes of `bits` bits from `src` (exactly sized). */
function unpackFixed(src: Uint8Array, bits: number, codes: Uint16Array): void {
  const n = codes.length;
  if (bits === 8) {
    codes.set(src);
    return;
  }
  if (bits === 16) {
    if (LITTLE_ENDIAN) new Uint8Array(codes.buffer).set(src);
    else for (let i = 0; i < n; i++) codes[i] = src[2 * i] | (src[2 * i + 1] << 8);
    return;
  }
  if (bits === 4) {
    const pairs = n >>> 1;
    let i = 0;
    for (let k = 0; k < pairs; k++, i += 2) {
      const b = src[k];
      codes[i] = b & 15;
      codes[i + 1] = b >>> 4;
    }
    if (i < n) {
      const b = src[pairs];
      if (b >>> 4 !== 0) throw paddingError();
      codes[i] = b & 15;
    }
    return;
  }
  if (bits === 2) {
    const quads = n >>> 2;
    let i = 0;
    for (let k = 0; k < quads; k++, i += 4) {
      const b = src[k];
      codes[i] = b & 3;
      codes[i + 1] = (b >>> 2) & 3;
      codes[i + 2] = (b >>> 4) & 3;
      codes[i + 3] = b >>> 6;
    }
    if (i < n) {
      let b = src[quads];
      for (; i < n; i++, b >>>= 2) codes[i] = b & 3;
      if (b !== 0) throw paddingError();
    }
    return;
  }
  const mask = (1 << bits) - 1;
  let acc = 0;
  let have = 0;
  let p = 0;
  for (let i = 0; i < n; i++) {
    while (have < bits) {
      acc |= src[p++] << have;
      have += 8;
    }
    codes[i] = acc & mask;
    acc >>>= bits;
    have -= bits;
  }
  if (acc !== 0) throw paddingError();
}

function readElias(
  src: Uint8Array,
  coderId: number,
  bits: number,
  signed: boolean,
  codes: Uint16Array,
): void {
  const r = new BitReader(src);
  const read = coderId === 1 ? readEliasGamma : readEliasOmega;
  const n = codes.length;
  const name = CODERS[coderId];
  if (signed) {
    const maxV = 2 ** (bits - 1);
    for (let i = 0; i < n; i++) {
      const v = read(r);
      if (v > maxV) {
        throw new FrameError(
          `payload: ${name} code ${i} has level index ${v - 1} > ${maxV - 1} (bits ${bits})`,
        );
      }
      codes[i] = v === 1 ? 0 : ((v - 1) << 1) | r.readBit();
    }
  } else {
    const maxV = 2 ** bits;
    for (let i = 0; i < n; i++) {
      const v = read(r);
      if (v > maxV) {
        throw new FrameError(`payload: ${name} code ${i} is ${v - 1} > ${maxV - 1} (bits ${bits})`);
      }
      codes[i] = v - 1;
    }
  }
  const used = r.position;
  if (Math.ceil(used / 8) !== src.length) {
    throw new FrameError(
      `payload byte count ${src.length} does not match the ${used} bits the codes use ` +
        `(expected ${Math.ceil(used / 8)})`,
    );
  }
  if (r.remaining > 0 && r.read(r.remaining) !== 0) throw paddingError();
}

/**
 * Decodes a frame made by {@linkcode encode}. Needs nothing but the bytes.
 * Every field is checked before anything is allocated from it, so any byte
 * string either decodes or throws {@linkcode FrameError} naming the bad field,
 * in time linear in its length.
 *
 * @param bytes The frame (may be a view at any offset).
 * @returns A fresh block that deep-equals the one encoded.
 * @throws {FrameError} When the bytes are truncated, corrupt or inconsistent.
 *
 * @example Reject garbage
 * ```ts
 * import { decode, FrameError } from "@qoda/ring";
 * try {
 *   decode(new Uint8Array([1, 2, 3]));
 *   throw new Error("accepted garbage");
 * } catch (e) {
 *   if (!(e instanceof FrameError)) throw e;
 * }
 * ```
 */
export function decode(bytes: Uint8Array): Quantized {
  const f = parseFrame(bytes);
  const { scheme, length, bits, signed, coderId, payload, view, at } = f;
  let codes: Uint16Array = EMPTY_U16;
  let raw: Float32Array = EMPTY_F32;
  if (scheme === "none") {
    raw = readF32s(bytes, view, at, length);
  } else if (length > 0) {
    codes = new Uint16Array(length);
    if (isElias(coderId)) readElias(payload, coderId, bits, signed, codes);
    else unpackFixed(payload, bits, codes);
  } else {
    codes = new Uint16Array(0);
  }
  return { ...f.block, codes, raw };
}

/** A validated frame: every field but the payload decoded. */
interface ParsedFrame {
  block: Omit<Quantized, "codes" | "raw">;
  scheme: SchemeName;
  length: number;
  bits: number;
  signed: boolean;
  coderId: number;
  payload: Uint8Array;
  view: DataView;
  at: number;
}

/** Validates a frame's header and sections (see {@linkcode decode}); leaves the payload coded. */
function parseFrame(bytes: Uint8Array): ParsedFrame {
  if (!(bytes instanceof Uint8Array)) throw new FrameError("frame must be a Uint8Array");
  const total = bytes.length;
  if (total < HEADER_BYTES) {
    throw new FrameError(`truncated header: need ${HEADER_BYTES} bytes, got ${total}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== MAGIC0 || bytes[1] !== MAGIC1) {
    throw new FrameError(`bad magic 0x${bytes[0].toString(16)} 0x${bytes[1].toString(16)}`);
  }
  const version = bytes[OFF_VERSION];
  if (version !== FORMAT_VERSION) {
    throw new FrameError(`unsupported format version ${version} (expected ${FORMAT_VERSION})`);
  }
  const schemeId = bytes[OFF_SCHEME];
  if (schemeId >= SCHEMES.length) {
    throw new FrameError(`scheme id ${schemeId} out of range 0..${SCHEMES.length - 1}`);
  }
  const scheme = SCHEMES[schemeId];
  const coderId = bytes[OFF_CODER];
  if (coderId >= CODERS.length) {
    throw new FrameError(`coder id ${coderId} out of range 0..${CODERS.length - 1}`);
  }
  const flags = view.getUint16(OFF_FLAGS, true);
  if ((flags & ~FLAG_SIGNED) !== 0) {
    throw new FrameError(`flags 0x${flags.toString(16)} has unknown bits set`);
  }
  const signed = (flags & FLAG_SIGNED) !== 0;
  const bits = bytes[OFF_BITS];
  const problem = bitsProblem(scheme, bits, signed);
  if (problem) throw new FrameError(`bits field: ${problem}, got ${bits}`);
  if (isElias(coderId) && !eliasApplies(scheme)) {
    throw new FrameError(`coder '${CODERS[coderId]}' does not apply to scheme '${scheme}'`);
  }
  const normQ = view.getFloat32(OFF_NORMQ, true);
  if (Number.isNaN(normQ)) throw new FrameError("normQ field is NaN");
  const bins = view.getUint32(OFF_BINS, true);
  const length = view.getUint32(OFF_LENGTH, true);
  const bucketSize = view.getUint32(OFF_BUCKET, true);
  const nLevels = view.getUint32(OFF_LEVELS, true);
  const nMeta = view.getUint32(OFF_META, true);
  const nAux = view.getUint32(OFF_AUX, true);
  const payloadBytes = view.getUint32(OFF_PAYLOAD, true);

  // Sizes, checked against the actual byte length before any allocation.
  let at = HEADER_BYTES;
  for (const [name, count] of [["levels", nLevels], ["meta", nMeta], ["aux", nAux]] as const) {
    if (4 * count > total - at) {
      throw new FrameError(
        `${name} count ${count} needs ${4 * count} bytes, only ${total - at} remain`,
      );
    }
    at += 4 * count;
  }
  if (payloadBytes !== total - at) {
    throw new FrameError(
      `payload byte count ${payloadBytes} does not match the ${total - at} bytes remaining`,
    );
  }
  if (isElias(coderId)) {
    // Every Elias code takes at least 1 bit and at most eliasBitsPerCode bits.
    const minBytes = Math.ceil(length / 8);
    const maxBytes = Math.ceil((length * eliasBitsPerCode(coderId, bits, signed)) / 8);
    if (payloadBytes < minBytes || payloadBytes > maxBytes) {
      throw new FrameError(
        `payload byte count ${payloadBytes} impossible for length ${length} ` +
          `(${CODERS[coderId]}: ${minBytes}..${maxBytes})`,
      );
    }
  } else {
    const expected = fixedPayloadBytes(scheme, length, bits);
    if (payloadBytes !== expected) {
      throw new FrameError(
        `payload byte count ${payloadBytes} does not match length ${length} × ${bits} bits ` +
          `(expected ${expected})`,
      );
    }
  }

  const levels = readF32s(bytes, view, HEADER_BYTES, nLevels);
  const meta = readF32s(bytes, view, HEADER_BYTES + 4 * nLevels, nMeta);
  const aux = readU32s(bytes, view, HEADER_BYTES + 4 * (nLevels + nMeta), nAux);
  const payload = bytes.subarray(at);
  return {
    block: { scheme, length, bits, bucketSize, signed, normQ, bins, levels, meta, aux },
    scheme,
    length,
    bits,
    signed,
    coderId,
    payload,
    view,
    at,
  };
}

/** Anything that can turn a decoded block back into values (every `Quantizer` can). */
export interface Dequantizer {
  /** Reconstructs the values of `q` into `out` (or a new array). */
  dequantize(q: Quantized, out?: Float32Array): Float32Array;
}

/**
 * Decodes a frame and dequantizes it into `out` in one step, the receive path
 * of a collective. Fixed-width sign-magnitude frames (`qsgd`, `layerwise`) of
 * 2, 4 or 8 bits go through a fused WebAssembly unpack + dequantize without
 * materializing the codes; every other frame is {@linkcode decode}d and handed
 * to `dequantizer`. Malformed frames raise {@linkcode FrameError}.
 *
 * @param bytes An encoded frame.
 * @param dequantizer The scheme's quantizer (used for the general path).
 * @param out Destination of the frame's length; a new array when omitted.
 * @returns `out` holding the dequantized values.
 *
 * @example Receive a frame into a reused buffer
 * ```ts
 * import { decodeInto, encode, QsgdQuantizer, Rng } from "@qoda/ring";
 * const q = new QsgdQuantizer({ bits: 8, normQ: Infinity });
 * const v = new Float32Array([1, -2, 3]);
 * const block = q.quantize(v, new Rng(1));
 * const out = new Float32Array(3);
 * const a = decodeInto(encode(block), q, out);
 * if (a !== out || a.join() !== q.dequantize(block).join()) throw new Error("fused path differs");
 * // 8 bits under the L∞ norm: every value lies within 3/127 of the original.
 * if (v.some((x, i) => Math.abs(a[i] - x) > 3 / 127 + 1e-6)) throw new Error("too far");
 * ```
 */
export function decodeInto(
  bytes: Uint8Array,
  dequantizer: Dequantizer,
  out?: Float32Array,
): Float32Array {
  const f = parseFrame(bytes);
  const { length } = f;
  if (out && out.length !== length) {
    throw new QuantizationError("", `output buffer has length ${out.length}, frame has ${length}`);
  }
  if (!fusable(f) || length === 0) return dequantizer.dequantize(decode(bytes), out);
  const dst = out ?? new Float32Array(length);
  fusedDequantize(f, dst, false);
  return dst;
}

/**
 * The fused path of {@linkcode decodeInto} (`add` false) and
 * {@linkcode decodeAddInto} (`add` true, which also refuses a bucket norm
 * that is not finite): checks the levels and the padding, then writes or
 * adds the frame's values into `dst`.
 * @throws {FrameError} On a bad norm, padding or code.
 */
function fusedDequantize(f: ParsedFrame, dst: Float32Array, add: boolean): void {
  const { length, bits, payload } = f;
  const { bucketSize, levels, meta } = f.block;
  checkLevels(levels, "");
  if (add) {
    for (let i = 0; i < meta.length; i++) {
      if (!Number.isFinite(meta[i])) {
        throw new FrameError(`meta: bucket norm ${i} is ${meta[i]}, not a finite number`);
      }
    }
  }
  const tailBits = (length * bits) & 7;
  if (tailBits && payload[payload.length - 1] >>> tailBits) throw paddingError();
  const k = kernels(dst), b = bits as 2 | 4 | 8; // in place when dst lies in an arena
  const bad = add
    ? k.smUnpackDequantizeAdd(payload, length, b, bucketSize, meta, levels, dst)
    : k.smUnpackDequantize(payload, length, b, bucketSize, meta, levels, dst);
  if (bad >= 0) {
    throw new FrameError(`payload: code at index ${bad} exceeds the ${levels.length}-level table`);
  }
}

/** Whether a parsed frame takes the fused WebAssembly unpack + dequantize (+ add) path. */
function fusable(f: ParsedFrame): boolean {
  const { length, bits, signed, coderId } = f;
  const { bucketSize, levels, meta } = f.block;
  return signed && !isElias(coderId) && (bits === 2 || bits === 4 || bits === 8) &&
    // Kernel chunks are whole buckets of whole bytes: 8 buckets must fit in CHUNK (larger
    // buckets take the general path).
    bucketSize >= 1 && bucketSize <= CHUNK / 8 && levels.length >= 2 &&
    levels.length <= 1 << (bits - 1) && meta.length === Math.ceil(length / bucketSize);
}

/**
 * Decodes a frame, dequantizes it and adds the values to `acc` in one step:
 * `acc[i] += v[i]` for the `v` that {@linkcode decodeInto} gives, with the
 * same float32 results, the receive side of a reduce-scatter hop. Fixed-width
 * sign-magnitude frames (`qsgd`, `layerwise`) of 2, 4 or 8 bits go through a
 * fused WebAssembly kernel that never materializes the codes or the values;
 * every other frame is decoded and dequantized first, then added.
 *
 * Malformed frames raise {@linkcode FrameError} (as {@linkcode decode} does),
 * and so does a fused frame with a bucket norm that is not a finite number or
 * a code beyond its level table. `acc` is left untouched by a rejected frame
 * of up to 2^20 coordinates (larger ones may be partly added).
 *
 * @param bytes An encoded frame.
 * @param dequantizer The scheme's quantizer (used for the general path).
 * @param acc The values to add to, of the frame's length.
 * @returns `acc`.
 *
 * @example Add a received frame to a partial sum
 * ```ts
 * import { decodeAddInto, decodeInto, encode, QsgdQuantizer, Rng } from "@qoda/ring";
 * const q = new QsgdQuantizer({ bits: 4, normQ: Infinity });
 * const frame = encode(q.quantize(new Float32Array([0.5, -1, 0.25]), new Rng(1)));
 * const acc = new Float32Array([1, 1, 1]);
 * decodeAddInto(frame, q, acc);
 * const v = decodeInto(frame, q, new Float32Array(3));
 * if (acc.some((x, i) => x !== Math.fround(1 + v[i]))) throw new Error("not acc + v");
 * ```
 */
export function decodeAddInto(
  bytes: Uint8Array,
  dequantizer: Dequantizer,
  acc: Float32Array,
): Float32Array {
  const f = parseFrame(bytes);
  const { length } = f;
  if (acc.length !== length) {
    throw new QuantizationError("", `output buffer has length ${acc.length}, frame has ${length}`);
  }
  if (length === 0) return acc;
  if (!fusable(f)) {
    const v = dequantizer.dequantize(decode(bytes));
    for (let i = 0; i < length; i++) acc[i] += v[i];
    return acc;
  }
  fusedDequantize(f, acc, true);
  return acc;
}

// Sign-magnitude stochastic rounding onto a level table in [0, 1], shared by
// `qsgd` (uniform levels) and `layerwise` (per-type levels). Internal.
import { QuantizationError } from "../errors.ts";
import type { Rng } from "../rng.ts";
import { checkOut, throwNonFinite } from "./_validate.ts";
import { EMPTY_F32, EMPTY_U16, EMPTY_U32 } from "./types.ts";
import { CHUNK, kernels, MAX_HIST_BINS, MAX_LEVELS } from "../kernels/kernels.ts";
import type { Quantized, QuantizeStats, SchemeName } from "./types.ts";

const LUT_CACHE = new WeakMap<Float32Array, { lut: Uint16Array; scale: number }>();

/**
 * A lookup table from ⌊u·scale⌋ to the largest level index j with
 * levels[j] ≤ that bin's start, so the interval search costs a lookup plus a
 * few comparisons whatever the level spacing.
 */
function levelLut(levels: Float32Array): { lut: Uint16Array; scale: number } {
  let hit = LUT_CACHE.get(levels);
  if (hit) return hit;
  const s = levels.length - 1;
  const scale = Math.min(65536, Math.max(1024, 8 * (s + 1)));
  const lut = new Uint16Array(scale + 1);
  let j = 0;
  for (let b = 0; b <= scale; b++) {
    const u = b / scale;
    while (j + 1 < s && levels[j + 1] <= u) j++;
    lut[b] = j;
  }
  hit = { lut, scale };
  LUT_CACHE.set(levels, hit);
  return hit;
}

/** Checks a level table: ascending, first 0, last 1, at least two levels. */
export function checkLevels(levels: Float32Array, layer: string, maxLevels = 32768): void {
  const n = levels.length;
  if (n < 2 || n > maxLevels) {
    throw new QuantizationError(layer, `level table needs 2..${maxLevels} levels, got ${n}`);
  }
  if (levels[0] !== 0 || levels[n - 1] !== 1) {
    throw new QuantizationError(
      layer,
      `level table must start at 0 and end at 1, got ${levels[0]} … ${levels[n - 1]}`,
    );
  }
  for (let i = 1; i < n; i++) {
    if (!(levels[i] > levels[i - 1])) {
      throw new QuantizationError(
        layer,
        `levels must be strictly increasing; levels[${i}] = ${levels[i]} ≤ ${levels[i - 1]}`,
      );
    }
  }
}

/** L^q norm of v[from, to); q = Infinity for L∞. Returns NaN if a value is non-finite. */
export function bucketNorm(v: Float32Array, from: number, to: number, q: number): number {
  if (q === 2) {
    let s = 0;
    for (let i = from; i < to; i++) s += v[i] * v[i];
    return Math.sqrt(s);
  }
  if (q === Infinity) {
    let m = 0, bad = 0;
    for (let i = from; i < to; i++) {
      const a = Math.abs(v[i]);
      bad += v[i] * 0;
      if (a > m) m = a;
    }
    return bad === 0 ? m : NaN;
  }
  let s = 0;
  for (let i = from; i < to; i++) s += Math.pow(Math.abs(v[i]), q);
  return Math.pow(s, 1 / q);
}

/** Options for {@linkcode quantizeSignMagnitude}. */
export interface SignMagnitudeParams {
  scheme: SchemeName;
  bits: number;
  bucketSize: number;
  normQ: number;
  levels: Float32Array;
  layer: string;
}

/** Every this many coordinates of a bucket is added to the level statistics. */
export const HISTOGRAM_STRIDE = 8;

/**
 * Where {@linkcode quantizeSignMagnitude} may put its output instead of new
 * arrays; every field is optional.
 */
export interface SignMagnitudeOutput {
  /**
   * A code array to reuse (length at least v.length): the block's `codes`
   * are a view of its first v.length entries.
   */
  codes?: Uint16Array;
  /**
   * A norm array to reuse (length at least the number of buckets): the
   * block's `meta` is a view of its first entries.
   */
  meta?: Float32Array;
  /** Pack the codes straight into bytes instead of making a code array. */
  packed?: PackedCodes;
}

/**
 * A request to write the codes packed `bits` bits each, LSB-first (the
 * `fixed` payload of a frame), with no code array in between. Taken only by
 * the WebAssembly path (L2 or L∞ norms) when every code fits in `bits` bits;
 * otherwise `open` is never called and the block gets its codes as usual.
 */
export interface PackedCodes {
  /**
   * Called once, before any coordinate is quantized, with the block whose
   * header fields are final (its `meta` allocated but not yet filled, its
   * `codes` empty). Returns where the ⌈length·bits/8⌉ payload bytes go, or
   * null to decline (the codes are then made as usual).
   */
  open(block: Quantized): { bytes: Uint8Array; at: number } | null;
  /**
   * Set to true by the quantizer when the payload was written; the block it
   * returns then has empty `codes`.
   */
  written?: boolean;
}

/**
 * The key under which the `stats` object handed to a sign-magnitude
 * quantizer (`qsgd`, `layerwise`) may carry a {@linkcode SignMagnitudeOutput}:
 * how `quantizeEncode` (`coding/codec.ts`) reaches the kernel through
 * `Quantizer.quantize`, whose signature has no room for it.
 */
export const SIGN_MAGNITUDE_OUTPUT: unique symbol = Symbol("qoda.signMagnitudeOutput");

/** {@linkcode QuantizeStats} that may carry a {@linkcode SignMagnitudeOutput}. */
export type QuantizeStatsWithOutput = QuantizeStats & {
  [SIGN_MAGNITUDE_OUTPUT]?: SignMagnitudeOutput;
};

/**
 * Quantizes v bucket by bucket: u = |x|/‖bucket‖_q, rounded stochastically to
 * the adjacent levels (unbiased), code = (index << 1) | sign (sign 0 for index 0).
 * Optionally adds every {@linkcode HISTOGRAM_STRIDE}-th u to `hist` (a
 * histogram over [0, 1]). L2 and L∞ norms run in the wasm SIMD kernel; other
 * norms in TypeScript. `out` (or, when it is omitted, `stats` under
 * {@linkcode SIGN_MAGNITUDE_OUTPUT}) supplies buffers to reuse or a place to
 * pack the codes into; the codes, norms, statistics and random draws are the
 * same either way.
 */
export function quantizeSignMagnitude(
  v: Float32Array,
  p: SignMagnitudeParams,
  rng: Rng,
  stats?: QuantizeStats,
  hist?: Float64Array,
  out?: SignMagnitudeOutput,
): Quantized {
  const { levels, bucketSize, normQ } = p;
  const o = out ?? (stats as QuantizeStatsWithOutput | undefined)?.[SIGN_MAGNITUDE_OUTPUT];
  const n = v.length;
  const nb = Math.ceil(n / bucketSize);
  const meta = o?.meta && o.meta.length >= nb ? o.meta.subarray(0, nb) : new Float32Array(nb);
  const { lut, scale } = levelLut(levels);
  const block: Quantized = {
    scheme: p.scheme,
    length: n,
    bits: p.bits,
    bucketSize,
    signed: true,
    normQ,
    bins: 0,
    levels,
    meta,
    aux: EMPTY_U32,
    codes: EMPTY_U16,
    raw: EMPTY_F32,
  };
  if (
    (normQ === 2 || normQ === Infinity) && bucketSize <= CHUNK && levels.length <= MAX_LEVELS &&
    (!hist || hist.length <= MAX_HIST_BINS)
  ) {
    const k = kernels(v); // the arena's own instance when v lies in one: quantized in place
    const kind = normQ === 2 ? 2 : 0;
    let r;
    const target = o?.packed && 2 * levels.length <= 2 ** p.bits &&
        k.canPackQuantize(bucketSize, p.bits)
      ? o.packed.open(block)
      : null;
    if (target) {
      r = k.smQuantizeInto(v, bucketSize, kind, levels, lut, rng, meta, {
        packed: target.bytes,
        packedAt: target.at,
        bits: p.bits,
        hist,
        histStride: HISTOGRAM_STRIDE,
      });
    } else {
      block.codes = reuse(o?.codes, n);
      r = k.smQuantize(
        v,
        bucketSize,
        kind,
        levels,
        lut,
        rng,
        meta,
        block.codes,
        hist,
        HISTOGRAM_STRIDE,
      );
    }
    if (r.badBucket >= 0) {
      const from = r.badBucket * bucketSize;
      throwNonFinite(v, from, Math.min(n, from + bucketSize), p.layer);
    }
    if (target) o!.packed!.written = true;
    if (stats) {
      stats.sqError = r.sqError;
      stats.sqNorm = r.sqNorm;
    }
    return block;
  }
  const codes = block.codes = reuse(o?.codes, n);
  const top = levels.length - 2; // largest lower-level index
  const hb = hist ? hist.length : 0;
  let sqErr = 0, sqNorm = 0;
  for (let b = 0; b < nb; b++) {
    const from = b * bucketSize;
    const to = Math.min(n, from + bucketSize);
    const norm = bucketNorm(v, from, to, normQ);
    if (!(norm < Infinity)) throwNonFinite(v, from, to, p.layer);
    meta[b] = norm;
    const nrm = meta[b]; // float32-rounded: what the decoder will use
    if (nrm === 0) {
      for (let i = from; i < to; i++) sqNorm += v[i] * v[i];
      codes.fill(0, from, to);
      continue;
    }
    const inv = 1 / nrm;
    for (let i = from; i < to; i++) {
      const x = v[i];
      const ax = x < 0 ? -x : x;
      let u = ax * inv;
      if (u > 1) u = 1;
      let j = lut[(u * scale) | 0];
      while (j < top && levels[j + 1] <= u) j++;
      const lo = levels[j], hi = levels[j + 1];
      const k = rng.nextFloat() * (hi - lo) < u - lo ? j + 1 : j;
      codes[i] = k === 0 ? 0 : (k << 1) | (x < 0 ? 1 : 0);
      const e = Math.fround(nrm * levels[k]) - ax;
      sqErr += e * e;
      sqNorm += x * x;
      if (hb && (i - from) % HISTOGRAM_STRIDE === 0) hist![u * hb < hb ? (u * hb) | 0 : hb - 1]++;
    }
  }
  if (stats) {
    stats.sqError = sqErr;
    stats.sqNorm = sqNorm;
  }
  return block;
}

/** The first n entries of `buf` when it is long enough, else a new array. */
function reuse(buf: Uint16Array | undefined, n: number): Uint16Array {
  return buf && buf.length >= n ? buf.subarray(0, n) : new Uint16Array(n);
}

/** Reconstructs ±norm·level from sign-magnitude codes, validating the block. */
export function dequantizeSignMagnitude(
  q: Quantized,
  scheme: SchemeName,
  layer: string,
  out?: Float32Array,
): Float32Array {
  if (q.scheme !== scheme) {
    throw new QuantizationError(layer, `expected a '${scheme}' block, got '${q.scheme}'`);
  }
  const n = q.length;
  if (q.codes.length !== n) {
    throw new QuantizationError(layer, `block has ${q.codes.length} codes for length ${n}`);
  }
  if (!Number.isInteger(q.bucketSize) || q.bucketSize < 1) {
    throw new QuantizationError(layer, `bad bucket size ${q.bucketSize}`);
  }
  const nb = Math.ceil(n / q.bucketSize);
  if (q.meta.length !== nb) {
    throw new QuantizationError(layer, `block has ${q.meta.length} norms, expected ${nb}`);
  }
  checkLevels(q.levels, layer);
  const dst = out ?? new Float32Array(n);
  checkOut(dst, n, layer);
  const levels = q.levels, codes = q.codes, meta = q.meta, bs = q.bucketSize;
  const maxCode = (levels.length << 1) - 1;
  if (bs <= CHUNK && levels.length <= MAX_LEVELS) {
    const bad = kernels().smDequantize(codes, bs, meta, levels, dst);
    if (bad >= 0) {
      throw new QuantizationError(layer, `code ${codes[bad]} at ${bad} exceeds the level table`);
    }
    return dst;
  }
  for (let b = 0; b < nb; b++) {
    const from = b * bs;
    const to = Math.min(n, from + bs);
    const nrm = meta[b];
    for (let i = from; i < to; i++) {
      const c = codes[i];
      if (c > maxCode) {
        throw new QuantizationError(layer, `code ${c} at ${i} exceeds the level table`);
      }
      const m = nrm * levels[c >> 1];
      dst[i] = c & 1 ? -m : m;
    }
  }
  return dst;
}

/**
 * Exact E‖Q(v) − v‖² of sign-magnitude stochastic rounding, and the input-aware
 * bound Σ norm²·gap²/4 (gap = width of the interval holding each coordinate).
 */
export function signMagnitudeVariance(
  v: Float32Array,
  levels: Float32Array,
  bucketSize: number,
  normQ: number,
  layer: string,
): { expected: number; bound: number } {
  const n = v.length;
  let expected = 0, bound = 0;
  for (let from = 0; from < n; from += bucketSize) {
    const to = Math.min(n, from + bucketSize);
    const norm = Math.fround(bucketNorm(v, from, to, normQ));
    if (!(norm < Infinity)) throwNonFinite(v, from, to, layer);
    if (norm === 0) continue;
    const n2 = norm * norm;
    for (let i = from; i < to; i++) {
      const u = Math.min(1, Math.abs(v[i]) / norm);
      const j = findInterval(levels, u);
      const lo = levels[j], hi = levels[j + 1];
      expected += n2 * (hi - u) * (u - lo);
      bound += n2 * (hi - lo) * (hi - lo) / 4;
    }
  }
  return { expected, bound };
}

/** Index j of the interval [levels[j], levels[j+1]) holding u (the last one for u = 1). */
export function findInterval(levels: Float32Array | Float64Array, u: number): number {
  let lo = 0, hi = levels.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (levels[mid] <= u) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * WebAssembly SIMD kernels for the hot loops: sign-magnitude quantize (with
 * the codes packed straight into frame bytes if asked), dequantize, fused
 * unpack + dequantize (and + add, the reduce-scatter's receive), fixed-width
 * bit packing, and the integer collective's shared-grid hops, decode and
 * bucket maxima.
 *
 * The module (built from `quant_kernels.c`, embedded as base64) imports its
 * memory, and every instance gets one of a fixed size that never grows, so
 * views into it are never detached: 32 MiB of scratch regions for
 * {@linkcode kernels}, plus an arena for {@linkcode kernelArena}. Inputs
 * elsewhere stream through the scratch in bucket-aligned chunks of at most
 * {@linkcode CHUNK} coordinates (quantization uses chunks of about
 * {@linkcode STREAM_CHUNK}, which stay in the L2 cache); values that live in
 * an arena are read and written where they are, by that arena's instance.
 * Results are identical either way and whatever the chunking, because the
 * random stream is seeded once per call and consumed in coordinate order.
 * Sign-magnitude quantization and the integer all-reduce's kernels run in
 * the optional native library instead where it is built and loads
 * (`native.ts`; the integer kernels to the bit).
 *
 * @module
 */
import type { Rng } from "../rng.ts";
import { QUANT_KERNELS_WASM_BASE64 } from "./quant_kernels_wasm.ts";
import { activeNativeKernel } from "./native.ts";
import type { GridFault, GridHop, SmQuantizeResult } from "./types.ts";

export type { GridFault, GridHop, SmQuantizeResult } from "./types.ts";

/** Coordinates processed per chunk, at most. */
export const CHUNK = 1 << 20;

/**
 * Coordinates per chunk that quantization aims for (whole buckets, and whole
 * bytes of packed codes): 256 KiB of float32 input, so what is copied into
 * the module is still in cache when the kernel reads it.
 */
export const STREAM_CHUNK = 1 << 16;

interface Exports {
  __heap_base: WebAssembly.Global;
  set_hsamp(at: number): void;
  rng_seed(a: number, b: number): void;
  sm_quantize_pack(
    x: number,
    n: number,
    bucket: number,
    kind: number,
    levels: number,
    nlev: number,
    lut: number,
    lutn: number,
    norms: number,
    codes: number,
    packed: number,
    bits: number,
    hist: number,
    hb: number,
    gleft: number,
    gsize: number,
    stats: number,
  ): number;
  sm_histogram(
    x: number,
    n: number,
    bucket: number,
    norms: number,
    stride: number,
    hist: number,
    hb: number,
  ): void;
  sm_dequantize(
    codes: number,
    n: number,
    bucket: number,
    norms: number,
    levels: number,
    nlev: number,
    table: number,
    out: number,
  ): number;
  sm_unpack_dequantize(
    bytes: number,
    n: number,
    bits: number,
    bucket: number,
    norms: number,
    levels: number,
    nlev: number,
    table: number,
    out: number,
  ): number;
  sm_unpack_dequantize_add(
    bytes: number,
    n: number,
    bits: number,
    bucket: number,
    norms: number,
    levels: number,
    nlev: number,
    table: number,
    out: number,
  ): number;
  grid_hop(
    x: number,
    n: number,
    scales: number,
    bucket: number,
    top: number,
    lanesIn: number,
    wIn: number,
    biasIn: number,
    lanesOut: number,
    wOut: number,
    decoded: number,
    divisor: number,
    state: number,
    floor: number,
    limit: number,
  ): number;
  grid_unpack_dequantize(
    lanes: number,
    n: number,
    w: number,
    bias: number,
    scales: number,
    bucket: number,
    top: number,
    divisor: number,
    decoded: number,
    state: number,
  ): number;
  bucket_max_abs(x: number, n: number, bucket: number, out: number): void;
  pack_fixed(codes: number, n: number, bits: number, out: number): number;
  unpack_fixed(bytes: number, n: number, bits: number, codes: number): void;
}

/** Largest level table the kernels take (16-bit sign-magnitude codes). */
export const MAX_LEVELS = 32768;
/** Largest histogram the kernels take. */
export const MAX_HIST_BINS = 65536;

/**
 * Where {@linkcode Kernels.smQuantizeInto} puts the codes (exactly one of
 * `codes` and `packed`) and the level statistics.
 */
export interface SmQuantizeOutput {
  /** One code per coordinate (length at least that of the input). */
  codes?: Uint16Array;
  /**
   * The codes packed `bits` bits each, LSB-first, into `packed` from byte
   * `packedAt` on (⌈n·bits/8⌉ bytes, a partial last byte zero-padded), as
   * {@linkcode Kernels.packFixed} would write them; no code array is made.
   * Every code must fit: 2 × levels ≤ 2^bits. See
   * {@linkcode Kernels.canPackQuantize}.
   */
  packed?: Uint8Array;
  /** Byte offset in `packed`. @default {0} */
  packedAt?: number;
  /** Bits per packed code (2..16). */
  bits?: number;
  /** Histogram over [0, 1] that every `histStride`-th normalized coordinate of each bucket is added to. */
  hist?: Float64Array;
  /** @default {8} */
  histStride?: number;
}

/** Codes of `bits` bits that fill whole bytes in runs of this many. */
function byteRun(bits: number): number {
  return bits % 8 === 0 ? 1 : bits % 4 === 0 ? 2 : bits % 2 === 0 ? 4 : 8;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Coordinates per quantization chunk: whole buckets that (when packing) end
 * on byte boundaries, about {@linkcode STREAM_CHUNK} of them (or up to
 * {@linkcode CHUNK} for large buckets); 0 when no such chunk fits.
 */
function quantizeChunk(bucket: number, bits: number): number {
  const run = byteRun(bits);
  const unit = (bucket / gcd(bucket, run)) * run;
  if (unit <= STREAM_CHUNK) return Math.floor(STREAM_CHUNK / unit) * unit;
  return unit <= CHUNK ? Math.floor(CHUNK / unit) * unit : 0;
}

/**
 * Coordinates per unpacking chunk: whole buckets of whole bytes (a multiple
 * of 8·bucket), about `target` of them and at least 8 buckets, at most
 * {@linkcode CHUNK}. Buckets must be at most CHUNK / 8 coordinates.
 */
function bucketChunk(bucket: number, target: number): number {
  const unit = bucket * 8;
  if (!(unit <= CHUNK)) throw new RangeError(`bucket ${bucket} exceeds CHUNK / 8 for unpacking`);
  return Math.max(unit, Math.floor(Math.min(target, CHUNK) / unit) * unit);
}

/**
 * Whether the shared-grid kernels ({@linkcode Kernels.gridHop},
 * {@linkcode Kernels.gridUnpackDequantize}) take buckets of this size: whole
 * SIMD groups of 4, chunks of whole buckets.
 */
export function gridKernelTakes(bucket: number): boolean {
  return bucket % 4 === 0 && bucket <= STREAM_CHUNK;
}

/**
 * Coordinates per shared-grid chunk: whole buckets of whole bytes at any lane
 * width (a multiple of 8·bucket / gcd(bucket, 8)), about
 * {@linkcode STREAM_CHUNK}; lanes of up to 24 bits then fit the byte regions.
 */
function gridChunk(bucket: number): number {
  if (!gridKernelTakes(bucket)) {
    throw new RangeError(
      `shared-grid kernels take buckets of 4k ≤ ${STREAM_CHUNK}, got ${bucket}`,
    );
  }
  const unit = (bucket * 8) / gcd(bucket, 8);
  return Math.max(unit, Math.floor(STREAM_CHUNK / unit) * unit);
}

/**
 * The kernel instance. Get it with {@linkcode kernels}.
 */
export class Kernels {
  readonly #e: Exports;
  readonly #buf: ArrayBuffer;
  /** Where the arena starts: the first byte after the scratch regions. */
  readonly arenaAt: number;
  // Byte offsets of the regions in the module's memory.
  readonly #levels: number;
  readonly #lut: number;
  readonly #table: number;
  readonly #stats: number;
  readonly #hist: number;
  readonly #norms: number;
  readonly #x: number;
  readonly #codes: number;
  readonly #bytes: number;
  readonly #out: number;
  readonly #grid: number;
  /** The shared-grid kernels' state: four stream states, then a faulty lane's value. */
  readonly #gridState: Int32Array;
  #levelsLoaded: Float32Array | null = null;
  /** Codes of the native kernel on their way to a width it does not pack. */
  #nativeScratch = new Uint16Array(0);

  constructor(exports: Exports, memory: WebAssembly.Memory) {
    this.#e = exports;
    this.#buf = memory.buffer as ArrayBuffer;
    let p = ((exports.__heap_base.value as number) + 15) & ~15;
    const take = (bytes: number) => {
      const at = p;
      p += (bytes + 15) & ~15;
      return at;
    };
    this.#levels = take(4 * MAX_LEVELS);
    this.#lut = take(2 * (65536 + 1));
    this.#table = take(4 * 65536);
    this.#stats = take(32);
    this.#hist = take(8 * MAX_HIST_BINS);
    this.#norms = take(4 * CHUNK);
    this.#x = take(4 * CHUNK);
    this.#codes = take(2 * CHUNK);
    this.#bytes = take(2 * CHUNK);
    this.#out = take(4 * CHUNK);
    this.#grid = take(32);
    exports.set_hsamp(take((4 * CHUNK) / 8));
    this.#gridState = new Int32Array(this.#buf, this.#grid, 8);
    this.arenaAt = (p + 63) & ~63;
    if (this.arenaAt > this.#buf.byteLength) {
      throw new Error("kernel memory layout exceeds the memory");
    }
  }

  /** The first n codes of the native kernel's scratch (grown as needed). */
  #nativeCodes(n: number): Uint16Array {
    if (this.#nativeScratch.length < n) this.#nativeScratch = new Uint16Array(n);
    return this.#nativeScratch.subarray(0, n);
  }

  /** Whether `a` lies in this instance's arena (so the kernels can work on it in place). */
  #inArena(a: ArrayBufferView): boolean {
    return a.buffer === this.#buf && a.byteOffset >= this.arenaAt;
  }

  /**
   * Where a kernel reads `x[c0, c0 + len)`: in place when `x` lies in the
   * arena (`inPlace`), else in the input scratch, copied there first.
   */
  #inputAt(x: Float32Array, c0: number, len: number, inPlace: boolean): number {
    if (inPlace) return x.byteOffset + 4 * c0;
    this.#f32(this.#x, len).set(x.subarray(c0, c0 + len));
    return this.#x;
  }

  #f32(at: number, n: number): Float32Array {
    return new Float32Array(this.#buf, at, n);
  }

  #loadLevels(levels: Float32Array, lut: Uint16Array | null): void {
    if (this.#levelsLoaded === levels && !lut) return;
    this.#f32(this.#levels, levels.length).set(levels);
    if (lut) new Uint16Array(this.#buf, this.#lut, lut.length).set(lut);
    this.#levelsLoaded = lut ? null : levels;
  }

  /**
   * Sign-magnitude stochastic rounding (see `quant_kernels.c`). `kind` is 2
   * (L2) or 0 (L∞). Writes `norms` (one per bucket) and `codes`; when `hist`
   * is given, adds every `histStride`-th normalized coordinate to it.
   */
  smQuantize(
    v: Float32Array,
    bucket: number,
    kind: 0 | 2,
    levels: Float32Array,
    lut: Uint16Array,
    rng: Rng,
    norms: Float32Array,
    codes: Uint16Array,
    hist?: Float64Array,
    histStride = 8,
  ): SmQuantizeResult {
    return this.smQuantizeInto(v, bucket, kind, levels, lut, rng, norms, {
      codes,
      hist,
      histStride,
    });
  }

  /**
   * Whether {@linkcode Kernels.smQuantizeInto} can pack codes of `bits` bits
   * for this bucket size: chunks of whole buckets must end on byte
   * boundaries within {@linkcode CHUNK} coordinates (always true for buckets
   * up to CHUNK / 8).
   */
  canPackQuantize(bucket: number, bits: number): boolean {
    return Number.isInteger(bits) && bits >= 2 && bits <= 16 && quantizeChunk(bucket, bits) > 0;
  }

  /**
   * {@linkcode Kernels.smQuantize} with the codes either per coordinate or
   * packed straight into bytes (`out.packed`: the fused quantize + pack of
   * the send path, which never makes a code array), and the statistics of
   * stride 8 gathered in the same pass. Same codes, norms, statistics and
   * random draws as smQuantize. Runs the native kernel when one is active
   * and takes the arguments ({@linkcode activeNativeKernel}): the same
   * definition, its own random stream.
   */
  smQuantizeInto(
    v: Float32Array,
    bucket: number,
    kind: 0 | 2,
    levels: Float32Array,
    lut: Uint16Array,
    rng: Rng,
    norms: Float32Array,
    out: SmQuantizeOutput,
  ): SmQuantizeResult {
    const e = this.#e, n = v.length;
    const { codes, packed, packedAt = 0, hist, histStride = 8 } = out;
    const bits = packed ? out.bits ?? 0 : 8;
    if (!codes === !packed) throw new Error("smQuantizeInto needs exactly one of codes and packed");
    const chunk = quantizeChunk(bucket, bits);
    if (chunk === 0 || (packed && !this.canPackQuantize(bucket, bits))) {
      throw new Error(`cannot quantize buckets of ${bucket} into ${bits}-bit codes in chunks`);
    }
    const nlev = levels.length;
    const native = activeNativeKernel();
    if (native?.takes(bucket, nlev, hist ? histStride : undefined)) {
      const direct = !packed || native.packs(bits, nlev);
      const scratch = direct ? null : this.#nativeCodes(n);
      const r = native.quantize(
        v,
        bucket,
        kind,
        levels,
        rng.nextU32(),
        rng.nextU32(),
        norms,
        codes ?? scratch,
        direct && packed ? packed.subarray(packedAt) : null,
        direct && packed ? bits : 16,
        hist ?? null,
      );
      if (scratch && r.badBucket < 0) this.packFixed(scratch, bits, packed!, packedAt);
      return r;
    }
    this.#loadLevels(levels, nlev > 16 ? lut : null);
    e.rng_seed(rng.nextU32(), rng.nextU32());
    // The sums are kept per group of the chunk size quantization used to
    // have (floor(CHUNK / bucket) buckets), so they come out the same to the
    // last bit; see sm_quantize_pack.
    const gsize = Math.floor(CHUNK / bucket);
    const stats = new Float64Array(this.#buf, this.#stats, 4);
    stats.fill(0);
    let hv: Float64Array | undefined;
    if (hist) {
      hv = new Float64Array(this.#buf, this.#hist, hist.length);
      hv.set(hist);
    }
    const fusedHist = hv !== undefined && histStride === 8;
    const inPlace = this.#inArena(v);
    for (let c0 = 0; c0 < n; c0 += chunk) {
      const len = Math.min(chunk, n - c0);
      const b0 = c0 / bucket, nb = Math.ceil(len / bucket);
      const x = this.#inputAt(v, c0, len, inPlace);
      const bad = e.sm_quantize_pack(
        x,
        len,
        bucket,
        kind,
        this.#levels,
        nlev,
        this.#lut,
        lut.length - 1,
        this.#norms,
        this.#codes,
        packed ? this.#bytes : 0,
        bits,
        fusedHist ? this.#hist : 0,
        hv ? hv.length : 0,
        gsize - (b0 % gsize),
        gsize,
        this.#stats,
      );
      if (bad >= 0) return { sqError: NaN, sqNorm: NaN, badBucket: b0 + bad };
      norms.set(this.#f32(this.#norms, nb), b0);
      if (packed) {
        const nbytes = Math.ceil((len * bits) / 8);
        packed.set(new Uint8Array(this.#buf, this.#bytes, nbytes), packedAt + (c0 * bits) / 8);
      } else {
        codes!.set(new Uint16Array(this.#buf, this.#codes, len), c0);
      }
      if (hv && !fusedHist) {
        e.sm_histogram(x, len, bucket, this.#norms, histStride, this.#hist, hv.length);
      }
    }
    const sqError = stats[2] + stats[0], sqNorm = stats[3] + stats[1];
    if (hist && hv) hist.set(hv);
    return { sqError, sqNorm, badBucket: -1 };
  }

  /** out[i] = ±norms[bucket]·levels[codes[i] >> 1]. Returns the first invalid code's index or −1. */
  smDequantize(
    codes: Uint16Array,
    bucket: number,
    norms: Float32Array,
    levels: Float32Array,
    out: Float32Array,
  ): number {
    const e = this.#e, n = codes.length;
    const chunk = Math.floor(CHUNK / bucket) * bucket;
    this.#loadLevels(levels, null);
    for (let c0 = 0; c0 < n; c0 += chunk) {
      const len = Math.min(chunk, n - c0);
      const b0 = c0 / bucket, nb = Math.ceil(len / bucket);
      new Uint16Array(this.#buf, this.#codes, len).set(codes.subarray(c0, c0 + len));
      this.#f32(this.#norms, nb).set(norms.subarray(b0, b0 + nb));
      const bad = e.sm_dequantize(
        this.#codes,
        len,
        bucket,
        this.#norms,
        this.#levels,
        levels.length,
        this.#table,
        this.#out,
      );
      if (bad >= 0) return c0 + bad;
      out.set(this.#f32(this.#out, len), c0);
    }
    return -1;
  }

  /**
   * Fused unpack (fixed width `bits` ∈ {2, 4, 8}, LSB-first) and dequantize.
   * Returns the first invalid code's index or −1. Buckets of at most
   * CHUNK / 8 coordinates.
   */
  smUnpackDequantize(
    bytes: Uint8Array,
    n: number,
    bits: 2 | 4 | 8,
    bucket: number,
    norms: Float32Array,
    levels: Float32Array,
    out: Float32Array,
  ): number {
    return this.#unpackDequantize(bytes, n, bits, bucket, norms, levels, out, false);
  }

  /**
   * Fused unpack (fixed width `bits` ∈ {2, 4, 8}, LSB-first), dequantize and
   * add: `acc[i] += ±norms[bucket]·levels[code >> 1]` in float32, the values
   * {@linkcode Kernels.smUnpackDequantize} gives, added as `acc[i] += v[i]`
   * would add them. Returns the first invalid code's index (a code beyond the
   * 2·levels table) or −1; on an invalid code, chunks of {@linkcode CHUNK}
   * coordinates before it have been added, the chunk holding it has not.
   */
  smUnpackDequantizeAdd(
    bytes: Uint8Array,
    n: number,
    bits: 2 | 4 | 8,
    bucket: number,
    norms: Float32Array,
    levels: Float32Array,
    acc: Float32Array,
  ): number {
    return this.#unpackDequantize(bytes, n, bits, bucket, norms, levels, acc, true);
  }

  /** Both of the above: the values into `out`, or (`add`) added to it, chunk by chunk. */
  #unpackDequantize(
    bytes: Uint8Array,
    n: number,
    bits: 2 | 4 | 8,
    bucket: number,
    norms: Float32Array,
    levels: Float32Array,
    out: Float32Array,
    add: boolean,
  ): number {
    const e = this.#e;
    const kernel = add ? e.sm_unpack_dequantize_add : e.sm_unpack_dequantize;
    // The values stream through in chunks that stay in the L2 cache; an add with a partial
    // table (codes can be invalid) takes chunks of up to CHUNK, so that a frame of up to
    // CHUNK coordinates with an invalid code leaves `out` untouched.
    const partial = 2 * levels.length < 1 << bits;
    const chunk = bucketChunk(bucket, add && partial ? CHUNK : STREAM_CHUNK);
    // In an arena, `out` is written where it lies, unless a code can be invalid: a chunk with
    // one is then left untouched, which only the copy gives.
    const inPlace = !partial && this.#inArena(out);
    this.#loadLevels(levels, null);
    for (let c0 = 0; c0 < n; c0 += chunk) {
      const len = Math.min(chunk, n - c0);
      const b0 = c0 / bucket, nb = Math.ceil(len / bucket);
      const byte0 = (c0 * bits) / 8, nbytes = Math.ceil((len * bits) / 8);
      new Uint8Array(this.#buf, this.#bytes, nbytes).set(bytes.subarray(byte0, byte0 + nbytes));
      this.#f32(this.#norms, nb).set(norms.subarray(b0, b0 + nb));
      const work = this.#f32(this.#out, len);
      if (add && !inPlace) work.set(out.subarray(c0, c0 + len));
      const bad = kernel(
        this.#bytes,
        len,
        bits,
        bucket,
        this.#norms,
        this.#levels,
        levels.length,
        this.#table,
        inPlace ? out.byteOffset + 4 * c0 : this.#out,
      );
      if (bad >= 0) return c0 + bad;
      if (!inPlace) out.set(work, c0);
    }
    return -1;
  }

  /**
   * One hop of the integer all-reduce ({@linkcode GridHop}; `grid_hop` in
   * `quant_kernels.c`). `bucket` must be a multiple of 4 of at most
   * {@linkcode STREAM_CHUNK}.
   *
   * `x` and `decoded` (which may be `x`) are read and written in place when
   * they lie in this instance's arena.
   *
   * @returns null, or where it stopped (earlier chunks are written; in an
   * arena, `decoded` may also hold the stopped chunk's earlier coordinates).
   */
  gridHop(h: GridHop): GridFault | null {
    const native = activeNativeKernel();
    if (native) return native.gridHop(h);
    const { x, scales, bucket, top, streams, lanesIn, wIn, biasIn, lanesOut, wOut, decoded } = h;
    const e = this.#e, n = x.length;
    const chunk = gridChunk(bucket);
    const state = this.#gridState;
    // The kernel reads each group of four values before it writes their decoded sums, so
    // `decoded` may be `x` in place.
    const xInPlace = this.#inArena(x), decInPlace = decoded !== null && this.#inArena(decoded);
    state.set(streams);
    for (let c0 = 0; c0 < n; c0 += chunk) {
      const len = Math.min(chunk, n - c0);
      const b0 = c0 / bucket, nb = Math.ceil(len / bucket);
      const xAt = this.#inputAt(x, c0, len, xInPlace);
      this.#f32(this.#norms, nb).set(scales.subarray(b0, b0 + nb));
      if (lanesIn) {
        const at = (c0 * wIn) / 8, nbytes = Math.ceil((len * wIn) / 8);
        new Uint8Array(this.#buf, this.#bytes, nbytes).set(lanesIn.subarray(at, at + nbytes));
      }
      const bad = e.grid_hop(
        xAt,
        len,
        this.#norms,
        bucket,
        top,
        lanesIn ? this.#bytes : 0,
        wIn,
        biasIn,
        lanesOut ? this.#codes : 0,
        wOut,
        decoded ? (decInPlace ? decoded.byteOffset + 4 * c0 : this.#out) : 0,
        h.divisor,
        this.#grid,
        h.floor,
        h.limit,
      );
      if (bad >= 0) return { index: c0 + (bad >> 1), lane: bad & 1 ? state[4] : null };
      if (lanesOut) {
        const nbytes = Math.ceil((len * wOut) / 8);
        lanesOut.set(new Uint8Array(this.#buf, this.#codes, nbytes), (c0 * wOut) / 8);
      }
      if (decoded && !decInPlace) decoded.set(this.#f32(this.#out, len), c0);
    }
    streams.set(state.subarray(0, 4));
    return null;
  }

  /**
   * The largest |x| of each bucket of `bucket` coordinates (the last may be
   * shorter) into `out`: NaN for a bucket that holds a NaN, Infinity for one
   * that holds an infinity (and no NaN). Buckets of at most {@linkcode CHUNK}.
   */
  bucketMaxAbs(x: Float32Array, bucket: number, out: Float32Array): void {
    const e = this.#e, n = x.length;
    if (!(bucket >= 1 && bucket <= CHUNK)) throw new RangeError(`bucket ${bucket} exceeds CHUNK`);
    const native = activeNativeKernel();
    if (native) {
      native.bucketMaxAbs(x, bucket, out);
      return;
    }
    // Chunks of about STREAM_CHUNK: the copy stays in cache for the kernel to read.
    const chunk = Math.max(1, Math.floor(STREAM_CHUNK / bucket)) * bucket;
    const inPlace = this.#inArena(x);
    for (let c0 = 0; c0 < n; c0 += chunk) {
      const len = Math.min(chunk, n - c0);
      e.bucket_max_abs(this.#inputAt(x, c0, len, inPlace), len, bucket, this.#norms);
      out.set(this.#f32(this.#norms, Math.ceil(len / bucket)), c0 / bucket);
    }
  }

  /**
   * The integer all-reduce's all-gather receive (`unpackDequantize` in
   * `runtime/quant/shared_grid.ts`): lanes of `w` bits offset by `bias`,
   * decoded to (lane − bias)·s/`top`/`divisor` into `out` (its length is the
   * count). Same bucket sizes as {@linkcode Kernels.gridHop}.
   *
   * `out` is written in place when it lies in this instance's arena.
   *
   * @returns null, or the first lane above 2·bias (earlier chunks are written;
   * in an arena, also the stopped chunk's earlier coordinates).
   */
  gridUnpackDequantize(
    lanes: Uint8Array,
    w: number,
    bias: number,
    scales: Float32Array,
    bucket: number,
    top: number,
    divisor: number,
    out: Float32Array,
  ): GridFault | null {
    const native = activeNativeKernel();
    if (native) {
      return native.gridUnpackDequantize(lanes, w, bias, scales, bucket, top, divisor, out);
    }
    const e = this.#e, n = out.length;
    const chunk = gridChunk(bucket);
    const state = this.#gridState;
    const inPlace = this.#inArena(out);
    for (let c0 = 0; c0 < n; c0 += chunk) {
      const len = Math.min(chunk, n - c0);
      const b0 = c0 / bucket, nb = Math.ceil(len / bucket);
      const at = (c0 * w) / 8, nbytes = Math.ceil((len * w) / 8);
      new Uint8Array(this.#buf, this.#bytes, nbytes).set(lanes.subarray(at, at + nbytes));
      this.#f32(this.#norms, nb).set(scales.subarray(b0, b0 + nb));
      const bad = e.grid_unpack_dequantize(
        this.#bytes,
        len,
        w,
        bias,
        this.#norms,
        bucket,
        top,
        divisor,
        inPlace ? out.byteOffset + 4 * c0 : this.#out,
        this.#grid,
      );
      if (bad >= 0) return { index: c0 + bad, lane: state[4] >>> 0 };
      if (!inPlace) out.set(this.#f32(this.#out, len), c0);
    }
    return null;
  }

  /**
   * Packs codes of `bits` bits (1..16) LSB-first into `out` from byte `at`
   * (⌈n·bits/8⌉ bytes). Returns the OR of all codes (the caller checks that
   * it fits in `bits` bits; a code that does not is masked, never spills).
   */
  packFixed(codes: Uint16Array, bits: number, out: Uint8Array, at = 0): number {
    const e = this.#e, n = codes.length;
    const chunk = STREAM_CHUNK; // a multiple of 8: chunks start on byte boundaries
    let all = 0;
    for (let c0 = 0; c0 < n; c0 += chunk) {
      const len = Math.min(chunk, n - c0);
      new Uint16Array(this.#buf, this.#codes, len).set(codes.subarray(c0, c0 + len));
      all |= e.pack_fixed(this.#codes, len, bits, this.#bytes);
      const nbytes = Math.ceil((len * bits) / 8);
      out.set(new Uint8Array(this.#buf, this.#bytes, nbytes), at + (c0 * bits) / 8);
    }
    return all;
  }

  /** The inverse of {@linkcode Kernels.packFixed}. */
  unpackFixed(bytes: Uint8Array, n: number, bits: number, codes: Uint16Array): void {
    const e = this.#e;
    const chunk = CHUNK;
    for (let c0 = 0; c0 < n; c0 += chunk) {
      const len = Math.min(chunk, n - c0);
      const byte0 = (c0 * bits) / 8, nbytes = Math.ceil((len * bits) / 8);
      new Uint8Array(this.#buf, this.#bytes, nbytes).set(bytes.subarray(byte0, byte0 + nbytes));
      e.unpack_fixed(this.#bytes, len, bits, this.#codes);
      codes.set(new Uint16Array(this.#buf, this.#codes, len), c0);
    }
  }
}

let compiled: WebAssembly.Module | null = null;
let instance: Kernels | null = null;
/** The arenas' instances, by the memory buffer they live in. */
const ARENAS = new WeakMap<ArrayBufferLike, Kernels>();

/** Bytes of a WebAssembly page. */
const PAGE = 65536;
/** The most pages a memory of the module may have (4 GiB). */
export const MAX_PAGES = 65536;
/** The scratch memory of {@linkcode kernels}: 32 MiB, the module's minimum. */
const SCRATCH_PAGES = 512;

/** An instance of the module over a new memory of `pages` pages that never grows, and that memory. */
function instantiate(pages: number): [Kernels, ArrayBuffer] {
  if (!compiled) {
    const bin = Uint8Array.from(atob(QUANT_KERNELS_WASM_BASE64), (c) => c.charCodeAt(0));
    compiled = new WebAssembly.Module(bin);
  }
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const inst = new WebAssembly.Instance(compiled, { env: { memory } });
  return [new Kernels(inst.exports as unknown as Exports, memory), memory.buffer as ArrayBuffer];
}

/**
 * The kernels of this isolate (compiled on first use, about a millisecond);
 * given an array that lies in a {@linkcode kernelArena}, that arena's
 * instance, which works on the arena's values in place.
 *
 * @param near An array the call will work on (optional).
 *
 * @example
 * ```ts
 * import { kernels } from "./kernels.ts";
 * const codes = new Uint16Array([1, 2, 3, 15]);
 * const bytes = new Uint8Array(2);
 * kernels().packFixed(codes, 4, bytes);
 * if (bytes[0] !== 0x21 || bytes[1] !== 0xf3) throw new Error("LSB-first nibbles");
 * ```
 */
export function kernels(near?: ArrayBufferView): Kernels {
  if (near) {
    const arena = ARENAS.get(near.buffer);
    if (arena) return arena;
  }
  return instance ??= instantiate(SCRATCH_PAGES)[0];
}

/**
 * Pages of a memory holding the scratch regions and an arena of `n` float32
 * values, or 0 when that exceeds `maxPages`.
 */
export function arenaPages(n: number, maxPages = MAX_PAGES): number {
  const pages = Math.max(SCRATCH_PAGES, Math.ceil((kernels().arenaAt + 4 * n) / PAGE));
  return pages <= maxPages ? pages : 0;
}

/**
 * A float32 array of `n` zeros that lives in the kernels' own memory: an
 * instance of its own, whose scratch and arena share one memory, so that
 * quantizing it ({@linkcode Kernels.smQuantizeInto}) and decoding or adding
 * frames into it ({@linkcode Kernels.smUnpackDequantize},
 * {@linkcode Kernels.smUnpackDequantizeAdd}) read and write it in place
 * instead of copying it through the scratch. Every caller that picks its
 * kernels with {@linkcode kernels}(`array`) gets that instance. When the
 * memory would exceed 4 GiB, or the engine cannot reserve it, a plain
 * `Float32Array` (the copying path).
 *
 * @param n How many values.
 * @returns The array (its memory is held as long as the array is).
 *
 * @example
 * ```ts
 * import { kernelArena, kernels } from "./kernels.ts";
 * const grad = kernelArena(1000);
 * if (kernels(grad) === kernels()) throw new Error("an arena has its own instance");
 * if (grad.length !== 1000 || grad.some((x) => x !== 0)) throw new Error("zeros");
 * ```
 */
export function kernelArena(n: number): Float32Array {
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`an arena holds a non-negative integer count of values, got ${n}`);
  }
  const pages = arenaPages(n);
  if (pages === 0) return new Float32Array(n);
  let made: [Kernels, ArrayBuffer];
  try {
    made = instantiate(pages);
  } catch (e) {
    // A memory the engine cannot reserve: the values work as well, through the copies.
    if (e instanceof RangeError) return new Float32Array(n);
    throw e;
  }
  const [k, memory] = made;
  ARENAS.set(memory, k);
  return new Float32Array(memory, k.arenaAt, n);
}

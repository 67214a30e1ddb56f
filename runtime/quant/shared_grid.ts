/**
 * Quantization onto a grid that every rank shares, so that quantized vectors
 * add as integers: the math of the all-reduce that reduces in the compressed
 * domain (`integer` mode of the collective).
 *
 * Every rank scales a bucket by the same scale s (the largest |x| of that
 * bucket over all ranks, agreed on first) and rounds |x|/s·G stochastically
 * to one of the grid's integer magnitudes 0 = g₀ < g₁ < … < gₘ = G, the sign
 * kept. The code of a coordinate is ±g, an integer, and its expectation is
 * x·G/s exactly: unbiased. Codes of different ranks then add as integers,
 * without decoding or re-quantizing; a sum of k codes lies in [−kG, kG] and
 * travels in ⌈log₂(2kG + 1)⌉ bits (offset binary, packed little-endian).
 * Each rank's vector is quantized exactly once, as in an all-gather, so the
 * variance of the reduced sum is the sum of the ranks' variances.
 *
 * On a uniform grid, x·G/s + G is formed in float32 (so E[code] is x·G/s to
 * float32 rounding) and the rounding draws come from four xorshift32 streams
 * per call, coordinate i taking stream i mod 4: the WebAssembly kernel
 * (`grid_hop` in `runtime/kernels/quant_kernels.c`, for buckets of 4k
 * coordinates) and the TypeScript loops give the same codes bit for bit.
 *
 * - A **uniform** grid of b bits has G = 2^(b−1) − 1 and gⱼ = j: the codes
 *   of one rank fit in b bits, sums of k ranks in b + ⌈log₂ k⌉ bits or so.
 * - **Non-uniform levels** (the layer-wise quantizer's adapted levels ℓⱼ in
 *   [0, 1]) live on a fine grid of f bits: gⱼ = round(ℓⱼ·(2^f − 1)),
 *   duplicates dropped. Rounding is between adjacent snapped levels, so the
 *   variance is that of the snapped levels (close to the adapted ones for
 *   f ≥ b + 3); the price is wider lanes: f + 1 bits for one rank's codes.
 *
 * @example Two ranks' codes add as integers, and the decoded sum is unbiased
 * ```ts
 * import { bucketMaxAbs, dequantizeGrid, quantizeToGrid, uniformGrid } from "@qoda/ring/quant";
 * const grid = uniformGrid(4); // magnitudes 0..7
 * const a = Float32Array.of(0.5, -1, 0.25, 0), b = Float32Array.of(0.25, 0.5, -0.75, 1);
 * const scales = bucketMaxAbs(a, 4, new Float32Array(1));
 * const sb = bucketMaxAbs(b, 4, new Float32Array(1));
 * scales[0] = Math.max(scales[0], sb[0]); // what the ranks agree on
 * const sums = new Int32Array(4);
 * quantizeToGrid(a, scales, 4, grid, 1, sums, false); // seed 1
 * quantizeToGrid(b, scales, 4, grid, 2, sums, true); // adds rank b's codes
 * const out = dequantizeGrid(sums, scales, 4, grid, 1, new Float32Array(4));
 * // Each coordinate is within one grid step per rank of the exact sum.
 * for (let i = 0; i < 4; i++) {
 *   if (Math.abs(out[i] - (a[i] + b[i])) > 2 / 7 + 1e-6) throw new Error(`coordinate ${i}`);
 * }
 * ```
 *
 * @module
 */
import {
  CHUNK,
  type GridFault,
  type GridHop,
  gridKernelTakes,
  kernels,
} from "../kernels/kernels.ts";

/** The integer magnitudes codes may take: 0 = values[0] < … < values[m] = top. */
export interface SharedGrid {
  /** Ascending integer magnitudes, first 0, last {@linkcode SharedGrid.top}. */
  readonly values: Int32Array;
  /** The largest magnitude, G: a coordinate equal to the scale gets code ±G. */
  readonly top: number;
  /** For each integer k in [0, G): the index j with values[j] ≤ k < values[j + 1]. */
  readonly below: Int32Array;
  /** True when values[j] = j (every integer magnitude is a level). */
  readonly uniform: boolean;
}

function gridOf(values: Int32Array): SharedGrid {
  const top = values[values.length - 1];
  const below = new Int32Array(Math.max(top, 1));
  for (let j = 0; j + 1 < values.length; j++) below.fill(j, values[j], values[j + 1]);
  return { values, top, below, uniform: values.length === top + 1 };
}

/**
 * A uniform grid of `bits` bits: magnitudes 0 … 2^(bits−1) − 1, so that one
 * rank's signed codes fit in `bits` bits.
 *
 * @param bits Bits per code, 2 to 16.
 * @returns The grid.
 */
export function uniformGrid(bits: number): SharedGrid {
  if (!Number.isInteger(bits) || bits < 2 || bits > 16) {
    throw new RangeError(`a shared grid needs 2 to 16 bits, got ${bits}`);
  }
  const top = 2 ** (bits - 1) - 1;
  return gridOf(Int32Array.from({ length: top + 1 }, (_, j) => j));
}

/**
 * Non-uniform levels snapped to a fine integer grid of `fineBits` bits: how
 * the layer-wise quantizer's adapted levels reduce in the compressed domain.
 *
 * @param levels Magnitude levels in [0, 1], ascending, first 0 and last 1.
 * @param fineBits Bits of the fine grid (its top is 2^fineBits − 1), 2 to 16.
 * @returns The grid (levels that snap to the same integer are merged).
 */
export function fineGrid(levels: Float32Array, fineBits: number): SharedGrid {
  if (!Number.isInteger(fineBits) || fineBits < 2 || fineBits > 16) {
    throw new RangeError(`a fine grid needs 2 to 16 bits, got ${fineBits}`);
  }
  if (levels.length < 2 || levels[0] !== 0 || levels[levels.length - 1] !== 1) {
    throw new RangeError("levels must start at 0 and end at 1");
  }
  const top = 2 ** fineBits - 1;
  const values: number[] = [];
  for (let j = 0; j < levels.length; j++) {
    if (j > 0 && !(levels[j] > levels[j - 1])) {
      throw new RangeError(`levels must ascend: levels[${j}] = ${levels[j]}`);
    }
    const g = Math.round(levels[j] * top);
    if (values.length === 0 || g > values[values.length - 1]) values.push(g);
  }
  return gridOf(Int32Array.from(values));
}

/**
 * Bits of a lane that holds a sum of `ranks` codes: ⌈log₂(2·ranks·G + 1)⌉.
 *
 * @param grid The grid.
 * @param ranks How many ranks' codes the sum holds (≥ 1).
 * @returns The width in bits.
 */
export function laneWidth(grid: SharedGrid, ranks: number): number {
  return Math.ceil(Math.log2(2 * ranks * grid.top + 1));
}

/**
 * The largest |x| of each bucket of `bucket` consecutive coordinates (the
 * last may be shorter): the local part of the shared scales.
 *
 * @param x The values.
 * @param bucket Coordinates per bucket (≥ 1).
 * @param out Receives ⌈x.length / bucket⌉ maxima.
 * @returns `out`.
 * @throws {RangeError} when a value is not finite, naming its index.
 */
export function bucketMaxAbs(x: Float32Array, bucket: number, out: Float32Array): Float32Array {
  const buckets = Math.ceil(x.length / bucket);
  if (out.length < buckets) throw new RangeError(`out holds ${out.length} of ${buckets} buckets`);
  if (!(Number.isInteger(bucket) && bucket >= 1)) {
    throw new RangeError(`bucket must be a positive integer, got ${bucket}`);
  }
  if (bucket <= CHUNK) kernels(x).bucketMaxAbs(x, bucket, out);
  for (let b = 0; b < buckets; b++) {
    if (bucket <= CHUNK && out[b] < Infinity) continue;
    // Not finite (or no kernel for this bucket size): the bucket again, naming the value.
    let m = 0;
    const end = Math.min(x.length, (b + 1) * bucket);
    for (let i = b * bucket; i < end; i++) {
      const a = Math.abs(x[i]);
      if (!(a < Infinity)) {
        throw new RangeError(`value ${i} is ${x[i]}: a shared grid needs finite values`);
      }
      if (a > m) m = a;
    }
    out[b] = m;
  }
  return out;
}

/**
 * Quantizes `x` onto the grid with the shared per-bucket `scales`, writing
 * (or adding, with `accumulate`) the integer codes into `out`. Unbiased:
 * E[code] = x·G/s. Values above their scale (a scale not agreed on) are an
 * error, not clipped. The reference of {@linkcode addOwnCodes}' one pass.
 *
 * @param x The values.
 * @param scales One scale per bucket, each ≥ every |x| of its bucket.
 * @param bucket Coordinates per bucket.
 * @param grid The shared grid.
 * @param seed Seeds the call's stochastic rounding (any 32-bit integer): the
 *   same seed and input give the same codes, whatever else runs meanwhile.
 * @param out The codes (length ≥ x.length).
 * @param accumulate Add to `out` instead of overwriting it.
 */
export function quantizeToGrid(
  x: Float32Array,
  scales: Float32Array,
  bucket: number,
  grid: SharedGrid,
  seed: number,
  out: Int32Array,
  accumulate: boolean,
): void {
  const { values, below, top, uniform } = grid;
  const buckets = Math.ceil(x.length / bucket);
  if (scales.length < buckets) {
    throw new RangeError(`${scales.length} scales for ${buckets} buckets`);
  }
  if (out.length < x.length) throw new RangeError(`out holds ${out.length} of ${x.length} codes`);
  const st = seedStreams(seed);
  const keep = accumulate ? -1 : 0, cap = 2 * top, { floor, limit } = gridRange(top);
  for (let b = 0; b < buckets; b++) {
    const s = scales[b];
    const start = b * bucket, end = Math.min(x.length, start + bucket);
    if (uniform) {
      // v = x·k + G lies in [0, 2G]; rounding it stochastically and subtracting G rounds x·k
      // between its neighbours, sign included. Float32 arithmetic, as the kernel's.
      const k = s > 0 ? Math.fround(top / s) : 0;
      for (let i = start; i < end; i++) {
        let r = st[i & 3];
        r ^= r << 13;
        r ^= r >>> 17;
        r ^= r << 5;
        st[i & 3] = r;
        const v = Math.fround(Math.fround(x[i] * k) + top);
        if (!(v >= floor && v <= limit)) throw overScale(i, x[i], s);
        const lo = v | 0;
        const f31 = ((v - lo) * 2147483648) | 0;
        out[i] = Math.min(lo - (((r >>> 1) - f31) >> 31), cap) - top + (out[i] & keep);
      }
      continue;
    }
    const k = s > 0 ? top / s : 0;
    for (let i = start; i < end; i++) {
      const v = x[i];
      const u = (v < 0 ? -v : v) * k;
      let r = st[i & 3];
      r ^= r << 13;
      r ^= r >>> 17;
      r ^= r << 5;
      st[i & 3] = r;
      if (!(u <= top * (1 + 1e-6))) throw overScale(i, v, s);
      const j = u >= top ? values.length - 2 : below[Math.floor(u)];
      const lo = values[j], hi = values[j + 1];
      let code = (r >>> 0) * 2.3283064365386963e-10 * (hi - lo) < u - lo ? hi : lo;
      if (v < 0) code = -code;
      out[i] = code + (out[i] & keep);
    }
  }
}

/**
 * The four xorshift32 states of a call's stochastic rounding, from its seed:
 * coordinate i of the call draws from stream i mod 4 (so that four lanes of a
 * SIMD kernel run the same streams). Written into a reused array.
 */
function seedStreams(seed: number): Int32Array {
  for (let l = 0; l < 4; l++) STREAMS[l] = mixSeed((seed + Math.imul(l, 0x632be5ab)) | 0);
  return STREAMS;
}

const STREAMS = new Int32Array(4);

/**
 * The range of v = x·G/s + G within a bucket's scale, float32 rounding
 * tolerated: [floor, limit], both float32 values (the kernel compares with
 * the same ones).
 */
function gridRange(top: number): { floor: number; limit: number } {
  return { floor: Math.fround(-1e-6 * top), limit: Math.fround(2 * top * (1 + 1e-6)) };
}

/** A well-mixed non-zero 32-bit state from any integer seed (splitmix32's finaliser). */
export function mixSeed(seed: number): number {
  let t = (seed + 0x9e3779b9) | 0;
  t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
  t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
  t ^= t >>> 16;
  return t === 0 ? 1 : t;
}

/** A received lane no rank could have sent (its sum beyond ±bias), named. */
function laneOutside(i: number, lane: number, bias: number): RangeError {
  return new RangeError(`lane ${i} holds ${lane - bias}, outside ±${bias}`);
}

function overScale(i: number, v: number, s: number): RangeError {
  return new RangeError(`value ${i} (${v}) exceeds its bucket's scale ${s}`);
}

/**
 * Packs sums of `ranks` codes into lanes of {@linkcode laneWidth} bits
 * (offset binary, little-endian bit order).
 *
 * @param sums The sums, each in [−ranks·G, ranks·G].
 * @param count How many to pack.
 * @param grid The grid.
 * @param ranks How many ranks' codes each sum holds.
 * @param out Receives the bytes; at least ⌈count·width / 8⌉ long.
 * @returns The packed bytes (a view of `out`).
 */
export function packSums(
  sums: Int32Array,
  count: number,
  grid: SharedGrid,
  ranks: number,
  out: Uint8Array,
): Uint8Array {
  const w = laneWidth(grid, ranks), bias = ranks * grid.top;
  const bytes = Math.ceil((count * w) / 8);
  if (out.length < bytes) throw new RangeError(`out holds ${out.length} of ${bytes} bytes`);
  if (w > 24) throw new RangeError(`lanes of ${w} bits: at most 24`);
  const max = 2 * bias;
  let acc = 0, nacc = 0, o = 0;
  for (let i = 0; i < count; i++) {
    const v = sums[i] + bias;
    if (v < 0 || v > max) throw new RangeError(`sum ${i} (${sums[i]}) is outside ±${bias}`);
    acc |= v << nacc; // nacc < 8 and w ≤ 24: within 31 bits
    nacc += w;
    while (nacc >= 8) {
      out[o++] = acc & 0xff;
      acc >>>= 8;
      nacc -= 8;
    }
  }
  if (nacc > 0) out[o++] = acc & 0xff;
  return out.subarray(0, bytes);
}

/**
 * Unpacks sums of `ranks` codes and adds them to `into` (or writes them),
 * rejecting a payload of the wrong length or a lane outside ±ranks·G: a peer
 * cannot make a rank read past its buffer or hold values no rank could send.
 *
 * @param bytes The packed lanes.
 * @param count How many sums they hold.
 * @param grid The grid.
 * @param ranks How many ranks' codes each sum holds.
 * @param into The sums to add to.
 * @param add Add (true) or overwrite (false).
 * @throws {RangeError} naming what was wrong.
 */
export function unpackSums(
  bytes: Uint8Array,
  count: number,
  grid: SharedGrid,
  ranks: number,
  into: Int32Array,
  add: boolean,
): void {
  const w = laneWidth(grid, ranks), bias = ranks * grid.top;
  const want = Math.ceil((count * w) / 8);
  if (bytes.length !== want) {
    throw new RangeError(
      `${bytes.length} bytes for ${count} sums of ${w} bits (${want} expected)`,
    );
  }
  if (into.length < count) throw new RangeError(`into holds ${into.length} of ${count} sums`);
  if (w > 24) throw new RangeError(`lanes of ${w} bits: at most 24`);
  const mask = (1 << w) - 1, max = 2 * bias;
  let acc = 0, nacc = 0, p = 0;
  for (let i = 0; i < count; i++) {
    while (nacc < w) {
      acc |= bytes[p++] << nacc; // nacc < w ≤ 24: within 31 bits
      nacc += 8;
    }
    const v = acc & mask;
    acc >>>= w;
    nacc -= w;
    if (v > max) throw laneOutside(i, v, bias);
    into[i] = add ? into[i] + v - bias : v - bias;
  }
}

/**
 * Decodes summed codes: out[i] = sums[i]·s/G / divisor, s the bucket's scale.
 *
 * @param sums The summed codes.
 * @param scales The shared per-bucket scales.
 * @param bucket Coordinates per bucket.
 * @param grid The grid.
 * @param divisor 1 for a sum, the number of ranks for a mean.
 * @param out Receives the values (its length is the count).
 * @returns `out`.
 */
export function dequantizeGrid(
  sums: Int32Array,
  scales: Float32Array,
  bucket: number,
  grid: SharedGrid,
  divisor: number,
  out: Float32Array,
): Float32Array {
  const buckets = Math.ceil(out.length / bucket);
  for (let b = 0; b < buckets; b++) {
    const unit = scales[b] / grid.top / divisor;
    const end = Math.min(out.length, (b + 1) * bucket);
    for (let i = b * bucket; i < end; i++) out[i] = sums[i] * unit;
  }
  return out;
}

/**
 * The exact variance of one rank's quantization of `x` on the grid (the sum
 * over coordinates of (hi − u)(u − lo)·(s/G)²): what the integer all-reduce
 * adds per rank.
 *
 * @param x The values.
 * @param scales The per-bucket scales.
 * @param bucket Coordinates per bucket.
 * @param grid The grid.
 * @returns E‖Q(x) − x‖².
 */
export function gridVariance(
  x: Float32Array,
  scales: Float32Array,
  bucket: number,
  grid: SharedGrid,
): number {
  const { values, below, top } = grid;
  let total = 0;
  const buckets = Math.ceil(x.length / bucket);
  for (let b = 0; b < buckets; b++) {
    const s = scales[b];
    if (!(s > 0)) continue;
    const unit = s / top;
    const end = Math.min(x.length, (b + 1) * bucket);
    for (let i = b * bucket; i < end; i++) {
      const u = Math.min(top, Math.abs(x[i]) / unit);
      const j = u >= top ? values.length - 2 : below[Math.floor(u)];
      total += (values[j + 1] - u) * (u - values[j]) * unit * unit;
    }
  }
  return total;
}

/**
 * One pass of a reduce-scatter hop on a uniform grid: this rank's codes of
 * `x` (seeded by `seed`, the same stream as {@linkcode quantizeToGrid}) are
 * added to the lanes of `ranksIn` ranks' sums read from `lanesIn` (none when
 * `lanesIn` is null: the first hop), and the new sums are written as lanes of
 * `ranksIn + 1` ranks to `lanesOut` and, when `decoded` is given, decoded
 * into it (`sum·s/G / divisor`; `decoded` may be `x` itself). Equivalent to
 * {@linkcode unpackSums}, {@linkcode quantizeToGrid} with `accumulate`,
 * {@linkcode packSums} and {@linkcode dequantizeGrid} in turn, without the
 * intermediate integers; buckets of 4k coordinates run in the WebAssembly
 * kernel.
 *
 * @param lanesIn Lanes of `ranksIn` ranks' sums, or null.
 * @param ranksIn How many ranks' codes each incoming lane holds (0 with no lanes).
 * @param x This rank's values.
 * @param scales The shared per-bucket scales.
 * @param bucket Coordinates per bucket.
 * @param grid A uniform grid.
 * @param seed Seeds this rank's rounding of `x`.
 * @param lanesOut Receives the lanes of ranksIn + 1 ranks, or null.
 * @param decoded Receives the decoded sums, or null.
 * @param divisor What the decoded sums are divided by.
 * @returns The packed lanes (a view of `lanesOut`), or null.
 * @throws {RangeError} on a lane outside its range, a payload of the wrong
 *   length, or a value beyond its bucket's scale.
 */
export function addOwnCodes(
  lanesIn: Uint8Array | null,
  ranksIn: number,
  x: Float32Array,
  scales: Float32Array,
  bucket: number,
  grid: SharedGrid,
  seed: number,
  lanesOut: Uint8Array | null,
  decoded: Float32Array | null,
  divisor: number,
): Uint8Array | null {
  if (!grid.uniform) throw new RangeError("addOwnCodes needs a uniform grid");
  const count = x.length, top = grid.top;
  const buckets = Math.ceil(count / bucket);
  if (scales.length < buckets) {
    throw new RangeError(`${scales.length} scales for ${buckets} buckets`);
  }
  const wIn = lanesIn ? laneWidth(grid, ranksIn) : 0, biasIn = ranksIn * top;
  if (lanesIn && lanesIn.length !== Math.ceil((count * wIn) / 8)) {
    throw new RangeError(
      `${lanesIn.length} bytes for ${count} sums of ${wIn} bits ` +
        `(${Math.ceil((count * wIn) / 8)} expected)`,
    );
  }
  const wOut = laneWidth(grid, ranksIn + 1);
  const bytesOut = Math.ceil((count * wOut) / 8);
  if (lanesOut && lanesOut.length < bytesOut) {
    throw new RangeError(`lanesOut holds ${lanesOut.length} of ${bytesOut} bytes`);
  }
  if (wIn > 24 || wOut > 24) {
    throw new RangeError(`lanes of ${Math.max(wIn, wOut)} bits: at most 24`);
  }
  const h: GridHop = {
    x,
    scales,
    bucket,
    top,
    streams: seedStreams(seed),
    lanesIn,
    wIn,
    biasIn,
    lanesOut,
    wOut,
    decoded,
    divisor,
    ...gridRange(top),
  };
  const fault = gridKernelTakes(bucket) ? kernels(h.x).gridHop(h) : hop(h);
  if (fault) {
    const i = fault.index;
    throw fault.lane === null
      ? overScale(i, x[i], scales[Math.floor(i / bucket)])
      : laneOutside(i, fault.lane, biasIn);
  }
  return lanesOut ? lanesOut.subarray(0, bytesOut) : null;
}

/**
 * {@linkcode addOwnCodes} in TypeScript, for buckets the kernel does not take:
 * the same arithmetic and streams as `grid_hop` in `quant_kernels.c`.
 *
 * @returns null, or where it stopped.
 */
function hop(h: GridHop): GridFault | null {
  const { x, scales, bucket, top, streams: st, lanesIn, wIn, biasIn, lanesOut, wOut } = h;
  const { decoded, divisor, floor, limit } = h;
  const count = x.length, cap = 2 * top;
  const biasOut = biasIn + top, maskIn = (1 << wIn) - 1, maxIn = 2 * biasIn;
  let ain = 0, nin = 0, p = 0, aout = 0, nout = 0, q = 0;
  for (let b = 0, buckets = Math.ceil(count / bucket); b < buckets; b++) {
    const s = scales[b];
    const start = b * bucket, end = Math.min(count, start + bucket);
    const k = s > 0 ? Math.fround(top / s) : 0;
    const unit = s / top / divisor;
    for (let i = start; i < end; i++) {
      let r = st[i & 3];
      r ^= r << 13;
      r ^= r >>> 17;
      r ^= r << 5;
      st[i & 3] = r;
      const v = Math.fround(Math.fround(x[i] * k) + top);
      if (!(v >= floor && v <= limit)) return { index: i, lane: null };
      const lo = v | 0;
      // This rank's code + G, then (after the first hop) lane − biasIn + code + biasOut.
      let sum = Math.min(lo - (((r >>> 1) - (((v - lo) * 2147483648) | 0)) >> 31), cap);
      if (lanesIn) {
        while (nin < wIn) {
          ain |= lanesIn[p++] << nin;
          nin += 8;
        }
        const lane = ain & maskIn;
        ain >>>= wIn;
        nin -= wIn;
        if (lane > maxIn) return { index: i, lane };
        sum += lane;
      }
      if (decoded) decoded[i] = (sum - biasOut) * unit;
      if (lanesOut) {
        aout |= sum << nout;
        nout += wOut;
        while (nout >= 8) {
          lanesOut[q++] = aout & 0xff;
          aout >>>= 8;
          nout -= 8;
        }
      }
    }
  }
  if (lanesOut && nout > 0) lanesOut[q] = aout & 0xff;
  return null;
}

/**
 * Unpacks lanes of `ranks` ranks' sums and decodes them in one pass
 * (`sum·s/G / divisor`): the all-gather's receive.
 *
 * @param lanes The packed lanes.
 * @param ranks How many ranks' codes each lane holds.
 * @param grid The grid.
 * @param scales The shared per-bucket scales.
 * @param bucket Coordinates per bucket.
 * @param divisor 1 for a sum, the number of ranks for a mean.
 * @param out Receives the values (its length is the count).
 * @throws {RangeError} on a lane outside its range or a payload of the wrong length.
 */
export function unpackDequantize(
  lanes: Uint8Array,
  ranks: number,
  grid: SharedGrid,
  scales: Float32Array,
  bucket: number,
  divisor: number,
  out: Float32Array,
): void {
  const count = out.length;
  const w = laneWidth(grid, ranks), bias = ranks * grid.top;
  const want = Math.ceil((count * w) / 8);
  if (lanes.length !== want) {
    throw new RangeError(`${lanes.length} bytes for ${count} sums of ${w} bits (${want} expected)`);
  }
  if (w > 24) throw new RangeError(`lanes of ${w} bits: at most 24`);
  if (gridKernelTakes(bucket)) {
    const fault = kernels(out).gridUnpackDequantize(
      lanes,
      w,
      bias,
      scales,
      bucket,
      grid.top,
      divisor,
      out,
    );
    if (fault) {
      throw laneOutside(fault.index, fault.lane!, bias);
    }
    return;
  }
  const mask = (1 << w) - 1, max = 2 * bias;
  let acc = 0, nacc = 0, p = 0;
  for (let b = 0, buckets = Math.ceil(count / bucket); b < buckets; b++) {
    const unit = scales[b] / grid.top / divisor;
    const end = Math.min(count, (b + 1) * bucket);
    for (let i = b * bucket; i < end; i++) {
      while (nacc < w) {
        acc |= lanes[p++] << nacc;
        nacc += 8;
      }
      const v = acc & mask;
      acc >>>= w;
      nacc -= w;
      if (v > max) throw laneOutside(i, v, bias);
      out[i] = (v - bias) * unit;
    }
  }
}

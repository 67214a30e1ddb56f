/**
 * GPFQ's quantization alphabet: the 2K + 1 levels `{−Kδ, …, −δ, 0, δ, …, Kδ}` with
 * `K = 2^{b−1}` and `δ = C · mean_i max_j |W_ji| / K`, where neuron i is a column of the
 * `[N0, N1]` (inputs × neurons) kernel and C is the alphabet scalar. Quantized weights are kept
 * as integer level indices k ∈ [−K, K] (value kδ).
 *
 * @example The known answer from the GPFQ notes
 * ```ts
 * import { alphabetFromMaxima } from "@qoda/ring/tfjs";
 * const a = alphabetFromMaxima(new Float64Array([0.5, 1.0]), 4, 1.16);
 * if (Math.abs(a.delta - 0.10875) > 1e-12 || a.size !== 17) throw new Error();
 * ```
 *
 * @module
 */

/** Bit widths GPFQ accepts (K = 2^{b−1} ≤ 32768 levels per side). */
export const MIN_BITS = 1;
/** Largest bit width. */
export const MAX_BITS = 16;

/** A symmetric uniform alphabet `{kδ : k = −K..K}`. */
export interface Alphabet {
  /** Bits b. */
  readonly bits: number;
  /** Largest level index K = 2^{b−1}. */
  readonly K: number;
  /** The step δ (> 0). */
  readonly delta: number;
  /** The scalar C it was built with. */
  readonly scalar: number;
  /** Number of levels, 2K + 1. */
  readonly size: number;
}

/**
 * Checks a bit width.
 *
 * @param bits The width.
 * @param what How to name it in the error.
 * @throws {RangeError} Not an integer in [1, 16].
 */
export function checkBits(bits: number, what = "bits"): void {
  if (!Number.isInteger(bits) || bits < MIN_BITS || bits > MAX_BITS) {
    throw new RangeError(`${what} must be an integer in ${MIN_BITS}..${MAX_BITS}, got ${bits}`);
  }
}

/**
 * Per-neuron maxima `max_j |W_ji|` of a row-major `[n0, n1]` kernel (neurons are columns).
 *
 * @param w The kernel, `n0 × n1` row-major.
 * @param n0 Inputs (rows).
 * @param n1 Neurons (columns).
 * @returns One maximum per neuron.
 *
 * @example
 * ```ts
 * import { neuronMaxAbs } from "@qoda/ring/tfjs";
 * const m = neuronMaxAbs(new Float32Array([0.1, -2, -0.5, 1]), 2, 2);
 * if (m[0] !== 0.5 || m[1] !== 2) throw new Error();
 * ```
 */
export function neuronMaxAbs(w: Float32Array, n0: number, n1: number): Float64Array {
  checkShape(w.length, n0, n1, "kernel");
  const out = new Float64Array(n1);
  for (let r = 0; r < n0; r++) {
    const off = r * n1;
    for (let j = 0; j < n1; j++) {
      const a = Math.abs(w[off + j]);
      if (a > out[j]) out[j] = a;
    }
  }
  return out;
}

/**
 * The alphabet from per-neuron maxima: `δ = C · mean(maxima) / 2^{b−1}`.
 *
 * @param maxima `max_j |W_ji|` per neuron (see {@linkcode neuronMaxAbs}).
 * @param bits b (1..16).
 * @param scalar C (> 0).
 * @returns The alphabet. An all-zero kernel gets δ = 1 (every weight maps to level 0).
 */
export function alphabetFromMaxima(
  maxima: ArrayLike<number>,
  bits: number,
  scalar: number,
): Alphabet {
  checkBits(bits);
  if (!(scalar > 0) || !Number.isFinite(scalar)) {
    throw new RangeError(`the alphabet scalar C must be a finite number > 0, got ${scalar}`);
  }
  if (maxima.length === 0) throw new RangeError("maxima is empty: a kernel needs ≥ 1 neuron");
  let sum = 0;
  for (let i = 0; i < maxima.length; i++) sum += maxima[i];
  const K = 2 ** (bits - 1);
  const radius = scalar * sum / maxima.length;
  const delta = radius > 0 ? radius / K : 1;
  return { bits, K, delta, scalar, size: 2 * K + 1 };
}

/**
 * The alphabet of a `[n0, n1]` kernel (maxima taken per neuron = column).
 *
 * @param w The kernel, row-major.
 * @param n0 Inputs.
 * @param n1 Neurons.
 * @param bits b.
 * @param scalar C.
 * @returns The alphabet.
 */
export function alphabetForKernel(
  w: Float32Array,
  n0: number,
  n1: number,
  bits: number,
  scalar: number,
): Alphabet {
  return alphabetFromMaxima(neuronMaxAbs(w, n0, n1), bits, scalar);
}

/**
 * The level index nearest to `z`: `clamp(round(z/δ), −K, K)`, halves rounded away from zero
 * (so the map is odd: `nearestLevel(−z) = −nearestLevel(z)`).
 *
 * @param z Any value.
 * @param delta δ.
 * @param K K.
 * @returns k ∈ [−K, K].
 *
 * @example
 * ```ts
 * import { nearestLevel } from "@qoda/ring/tfjs";
 * if (nearestLevel(0.4, 1, 1) !== 0 || nearestLevel(-0.5, 1, 1) !== -1) throw new Error();
 * if (nearestLevel(7, 1, 2) !== 2) throw new Error("clamped to K");
 * ```
 */
export function nearestLevel(z: number, delta: number, K: number): number {
  const r = z / delta;
  const k = r >= 0 ? Math.floor(r + 0.5) : -Math.floor(-r + 0.5);
  return k > K ? K : k < -K ? -K : k;
}

/**
 * Round-to-nearest (RTN / MSQ) onto the alphabet, the data-free baseline.
 *
 * @param w Weights.
 * @param alphabet The alphabet.
 * @param out Level indices (length ≥ w.length); a new array when omitted.
 * @returns `out`.
 */
export function roundToNearest(w: Float32Array, alphabet: Alphabet, out?: Int32Array): Int32Array {
  const res = out ?? new Int32Array(w.length);
  if (res.length < w.length) throw new RangeError(`out has length ${res.length} < ${w.length}`);
  const { delta, K } = alphabet;
  for (let i = 0; i < w.length; i++) res[i] = nearestLevel(w[i], delta, K);
  return res;
}

/**
 * The levels as values (`kδ`, float64), for inspection.
 *
 * @param alphabet The alphabet.
 * @returns The 2K + 1 values, ascending.
 */
export function alphabetLevels(alphabet: Alphabet): Float64Array {
  const out = new Float64Array(alphabet.size);
  for (let k = -alphabet.K; k <= alphabet.K; k++) out[k + alphabet.K] = k * alphabet.delta;
  return out;
}

/** Throws a RangeError naming both sizes when `length ≠ rows · cols`. */
export function checkShape(length: number, rows: number, cols: number, what: string): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    throw new RangeError(`${what}: dimensions must be positive integers, got ${rows} × ${cols}`);
  }
  if (length !== rows * cols) {
    throw new RangeError(
      `${what} has ${length} entries, expected ${rows} × ${cols} = ${rows * cols}`,
    );
  }
}

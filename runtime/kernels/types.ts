/**
 * The shapes the kernels take and give, shared by the WebAssembly kernels
 * (`kernels.ts`) and the native ones (`native.ts`).
 *
 * @module
 */

/** Result of `Kernels.smQuantize` (and of the native kernel's quantize). */
export interface SmQuantizeResult {
  /** Σ(Q(v)_i − v_i)², or NaN when a bucket norm was not finite. */
  sqError: number;
  /** Σ v_i². */
  sqNorm: number;
  /** When sqError is NaN: the index of the bucket whose norm was not finite. */
  badBucket: number;
}

/**
 * Where a shared-grid kernel stopped: the coordinate, and for a lane beyond
 * its range its raw value (null when the coordinate's value exceeded its
 * bucket's scale).
 */
export interface GridFault {
  /** The coordinate's index in the call. */
  index: number;
  /** The offending lane as read (offset binary), or null for a value beyond its scale. */
  lane: number | null;
}

/**
 * One hop of the integer all-reduce on the uniform grid of magnitudes
 * 0..`top` (`addOwnCodes` in `runtime/quant/shared_grid.ts`): this rank's
 * values, rounded stochastically, added to the incoming lanes if any, packed
 * and decoded if asked.
 */
export interface GridHop {
  /** This rank's values. */
  x: Float32Array;
  /** The shared per-bucket scales. */
  scales: Float32Array;
  /** Coordinates per bucket. */
  bucket: number;
  /** The grid's largest magnitude, G. */
  top: number;
  /** Four xorshift32 states: coordinate i draws from stream i mod 4 (advanced in place). */
  streams: Int32Array;
  /** Lanes of `wIn` bits holding sums offset by `biasIn`, or null at the first hop. */
  lanesIn: Uint8Array | null;
  /** Bits per incoming lane (0 without). */
  wIn: number;
  /** The incoming lanes' offset. */
  biasIn: number;
  /** Receives the new lanes (`wOut` bits, offset by biasIn + top), or null. */
  lanesOut: Uint8Array | null;
  /** Bits per outgoing lane. */
  wOut: number;
  /** Receives the new sums decoded, (sum − offset)·s/top/divisor, or null; may be `x`. */
  decoded: Float32Array | null;
  /** What the decoded sums are divided by. */
  divisor: number;
  /** x·top/s + top below this (a float32) is beyond the scale. */
  floor: number;
  /** x·top/s + top above this (a float32) is beyond the scale. */
  limit: number;
}

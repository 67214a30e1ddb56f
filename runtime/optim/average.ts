/**
 * An exponential moving average of the parameters, kept beside the optimiser:
 * what a GAN is evaluated and shipped at (the averaged generator; Yazıcı et
 * al., "The unusual effectiveness of averaging in GAN training", ICLR 2019),
 * and the kind of average dual-averaging methods are analysed at.
 *
 * Each `update(x)` applies, in float64,
 *
 * ```text
 * A_1 = x_1,   A_t = d_t · A_{t−1} + (1 − d_t) · x_t,   d_t = min(decay, (1 + t) / (10 + t))
 * ```
 *
 * (t counts the updates from 1; the warm-up `(1 + t)/(10 + t)`, TensorFlow's
 * `num_updates` rule, keeps the random starting point from dominating the
 * first 1/(1 − decay) steps: the average spans about the last t/9 updates
 * until t ≈ 9/(1 − decay), then about the last 1/(1 − decay)). The update is
 * deterministic, so every replica holds the same average; `state()` is
 * restored bit-exactly.
 *
 * @example The average of a constant sequence is the constant; of a ramp, it lags
 * ```ts
 * import { ParamAverage } from "@qoda/ring/optim";
 * const avg = new ParamAverage(1, 0.9);
 * for (let t = 1; t <= 200; t++) avg.update(new Float32Array([t]));
 * const lag = 200 - avg.values[0]; // an EMA of a unit ramp lags by decay/(1 − decay) = 9
 * if (!(Math.abs(lag - 9) < 1e-4)) throw new Error(`lag ${lag}`);
 * ```
 *
 * @module
 */
import { checkArray, checkCount, checkUnit } from "./_util.ts";

/** A {@linkcode ParamAverage}'s snapshot: plain data, restorable bit-exactly. */
export interface ParamAverageState {
  /** The decay per update. */
  decay: number;
  /** Updates so far. */
  count: number;
  /** The average (all zeros before the first update). */
  values: Float64Array;
}

/** An exponential moving average of a parameter vector (see the module doc). */
export class ParamAverage {
  /** The decay per update, in (0, 1). */
  readonly decay: number;
  #count = 0;
  #values: Float64Array;
  #out: Float32Array | null = null;

  /**
   * An average of `dim` parameters.
   *
   * @param dim The vector's length.
   * @param decay The decay per update, in (0, 1): about 1/(1 − decay) recent updates weigh.
   * @throws {RangeError} On a decay outside (0, 1).
   */
  constructor(dim: number, decay: number) {
    checkCount("dim", dim);
    checkUnit("decay", decay);
    if (!(decay > 0)) throw new RangeError(`decay must be in (0, 1), got ${decay}`);
    this.decay = decay;
    this.#values = new Float64Array(dim);
  }

  /** Updates so far. */
  get count(): number {
    return this.#count;
  }

  /** The average (float64; the array is the instance's own, updated in place). */
  get values(): Float64Array {
    return this.#values;
  }

  /**
   * Takes `x` into the average.
   * @throws {TypeError} When `x` has another length.
   */
  update(x: Float32Array): void {
    const a = this.#values;
    if (x.length !== a.length) {
      throw new TypeError(`parameters of length ${x.length}, the average has ${a.length}`);
    }
    const t = ++this.#count;
    const d = t === 1 ? 0 : Math.min(this.decay, (1 + t) / (10 + t));
    const w = 1 - d;
    for (let i = 0; i < a.length; i++) a[i] += w * (x[i] - a[i]);
  }

  /** The average rounded to float32 (a buffer of the instance's own, overwritten by the next call). */
  float32(): Float32Array {
    const out = this.#out ??= new Float32Array(this.#values.length);
    for (let i = 0; i < out.length; i++) out[i] = this.#values[i];
    return out;
  }

  /** A copy of the state. */
  state(): ParamAverageState {
    return { decay: this.decay, count: this.#count, values: this.#values.slice() };
  }

  /**
   * The average a {@linkcode ParamAverage.state} snapshot describes.
   * @throws {TypeError | RangeError} On a malformed snapshot.
   */
  static restore(s: ParamAverageState): ParamAverage {
    checkCount("count", s.count);
    checkArray("values", s.values, Float64Array, s.values?.length ?? -1);
    const a = new ParamAverage(s.values.length, s.decay);
    a.#count = s.count;
    a.#values.set(s.values);
    return a;
  }
}

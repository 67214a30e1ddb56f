// What QODA and per-coordinate QODA share: the rates and exponents of γ and η,
// the anchor X_1, the dual accumulator Y, the last averaged sample V̄_{t−1/2},
// the scratch of a step, and the checks and loading of a snapshot. Each keeps
// its own step sizes and update. Internal.
import { checkArray, checkCount, checkPositive, firstNonFinite } from "./_util.ts";
import { OptimizerBase } from "./_base.ts";
import type { MeanCollective, NonFinitePolicy, OptimizerName, Oracle, StepInfo } from "./types.ts";

/** The options both take. */
export interface DualAveragingOptions {
  /** Base learning rate; the default of `lrGamma` and `lrEta`. */
  lr: number;
  /** Base of γ. @default {lr} */
  lrGamma?: number;
  /** Base of η. @default {lr} */
  lrEta?: number;
  /** Exponent of γ's denominator. @default {0.5} */
  exponentGamma?: number;
  /** Exponent of η's denominator. @default {0.5} */
  exponentEta?: number;
  /** What a non-finite value does. @default {"skip"} */
  onNonFinite?: NonFinitePolicy;
}

/** The snapshot fields both have. */
export interface DualAveragingSnapshot {
  /** The anchor X_1. */
  x1: Float32Array;
  /** X_t. */
  x: Float32Array;
  /** Y_t. */
  y: Float64Array;
  /** V̄_{t−1/2}. */
  vPrev: Float32Array;
  /** Completed iterations. */
  t: number;
  /** Skipped steps. */
  skipped: number;
  /** Collectives issued. */
  collectiveCalls: number;
}

/** The rates, exponents and policy a snapshot carries beside its shared fields. */
export interface DualAveragingRates {
  /** Base of γ. */
  lrGamma: number;
  /** Base of η. */
  lrEta: number;
  /** Exponent of γ's denominator. */
  exponentGamma: number;
  /** Exponent of η's denominator. */
  exponentEta: number;
  /** What a non-finite value does. */
  onNonFinite: NonFinitePolicy;
}

/** s^e, with the square root taken directly for e = 0.5 (the per-coordinate denominators). */
export function root(s: number, e: number): number {
  return e === 0.5 ? Math.sqrt(s) : s ** e;
}

/** Optimistic dual averaging's state, without its step sizes. */
export abstract class DualAveragingBase extends OptimizerBase {
  /** Base of γ. */
  protected readonly lrGamma: number;
  /** Base of η. */
  protected readonly lrEta: number;
  /** Exponent of γ's denominator. */
  protected readonly expGamma: number;
  /** Exponent of η's denominator. */
  protected readonly expEta: number;
  /** The anchor X_1. */
  protected readonly x1: Float32Array;
  /** The dual accumulator Y_t = −Σ V̄. */
  protected readonly y: Float64Array;
  /** V̄_{t−1/2} (zero before the first step). */
  protected readonly vPrev: Float32Array;
  /** Scratch: X_{t+1/2}, then X_{t+1} before it is accepted. */
  protected readonly xh: Float32Array;
  /** Scratch: the sample and its average. */
  protected readonly v: Float32Array;

  /**
   * Checks the rates, copies X_1 and allocates the state.
   *
   * @param name For messages.
   * @param x0 The starting point X_1 (copied).
   * @param options Rates, exponents and the non-finite policy.
   */
  protected constructor(name: OptimizerName, x0: Float32Array, options: DualAveragingOptions) {
    super(name, x0, options.onNonFinite ?? "skip");
    const { lr, lrGamma = lr, lrEta = lr, exponentGamma = 0.5, exponentEta = 0.5 } = options;
    checkPositive(`${name}: lr`, lr);
    checkPositive(`${name}: lrGamma`, lrGamma);
    checkPositive(`${name}: lrEta`, lrEta);
    checkPositive(`${name}: exponentGamma`, exponentGamma, true);
    checkPositive(`${name}: exponentEta`, exponentEta, true);
    this.lrGamma = lrGamma;
    this.lrEta = lrEta;
    this.expGamma = exponentGamma;
    this.expEta = exponentEta;
    const n = x0.length;
    this.x1 = x0.slice();
    this.y = new Float64Array(n);
    this.vPrev = new Float32Array(n);
    this.xh = new Float32Array(n);
    this.v = new Float32Array(n);
  }

  /**
   * The exchange of step `t` once X_{t+1/2} is in `xh`: one oracle call there
   * and one collective, leaving V̄_{t+1/2} in `v`. X_{t+1/2} is a function of
   * the replicated state, so every worker agrees on a non-finite one and
   * skips the collective together.
   *
   * @returns The rejected step's report, or null when `v` holds a finite average.
   */
  protected async exchange(
    oracle: Oracle,
    collective: MeanCollective,
    t: number,
    gamma: number,
  ): Promise<StepInfo | null> {
    const xh = this.xh, v = this.v;
    let bad = firstNonFinite(xh);
    if (bad >= 0) return this.reject(t, gamma, xh, bad, "extrapolated point X_{t+1/2}", 0);
    bad = await this.averagedSample(oracle, collective, xh, v);
    if (bad >= 0) return this.reject(t, gamma, v, bad, "averaged sample", 1);
    return null;
  }

  /**
   * Checks a snapshot's shared fields (their types, lengths and counters).
   * @throws {TypeError} Naming the optimiser and the field.
   */
  protected static checkSnapshot(name: string, s: DualAveragingSnapshot): void {
    const n = s.x1?.length;
    checkArray(`${name} state: x1`, s.x1, Float32Array, n);
    checkArray(`${name} state: x`, s.x, Float32Array, n);
    checkArray(`${name} state: y`, s.y, Float64Array, n);
    checkArray(`${name} state: vPrev`, s.vPrev, Float32Array, n);
    checkCount(`${name} state: t`, s.t);
    checkCount(`${name} state: skipped`, s.skipped);
    checkCount(`${name} state: collectiveCalls`, s.collectiveCalls);
  }

  /**
   * Checks the per-coordinate sums `s` of a snapshot: a Float64Array of one
   * finite value ≥ 0 per coordinate.
   * @throws {TypeError} Naming the optimiser and the field.
   */
  protected static checkSums(name: string, s: Float64Array, n: number): void {
    checkArray(`${name} state: s`, s, Float64Array, n);
    if (s.some((v) => !(v >= 0 && v < Infinity))) {
      throw new TypeError(`${name} state: s must hold finite values ≥ 0`);
    }
  }

  /** The options that rebuild a snapshot's rates, exponents and policy. */
  protected static restoredOptions(st: DualAveragingRates): DualAveragingOptions {
    return {
      lr: st.lrGamma,
      lrGamma: st.lrGamma,
      lrEta: st.lrEta,
      exponentGamma: st.exponentGamma,
      exponentEta: st.exponentEta,
      onNonFinite: st.onNonFinite,
    };
  }

  /** Loads a checked snapshot's shared fields into this replica (copies). */
  protected loadSnapshot(s: DualAveragingSnapshot): void {
    this.params.set(s.x);
    this.y.set(s.y);
    this.vPrev.set(s.vPrev);
    this.steps = s.t;
    this.skips = s.skipped;
    this.calls = s.collectiveCalls;
  }

  /** The shared fields of a snapshot (copies). */
  protected snapshot(): DualAveragingSnapshot & DualAveragingRates {
    return {
      lrGamma: this.lrGamma,
      lrEta: this.lrEta,
      exponentGamma: this.expGamma,
      exponentEta: this.expEta,
      onNonFinite: this.policy,
      t: this.steps,
      skipped: this.skips,
      collectiveCalls: this.calls,
      x1: this.x1.slice(),
      x: this.params.slice(),
      y: this.y.slice(),
      vPrev: this.vPrev.slice(),
    };
  }
}

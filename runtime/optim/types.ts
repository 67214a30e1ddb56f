/**
 * Types shared by the optimisers: the injected oracle and collective, the
 * per-step report, the common {@linkcode Optimizer} interface, the plain-data
 * snapshots each optimiser's `state()` returns, and the error a non-finite
 * step raises in `onNonFinite: "throw"` mode.
 *
 * @module
 */
import { QodaError } from "../errors.ts";

/**
 * This worker's stochastic operator sample: writes V_k(x) into `out` (a
 * gradient for minimisation, the VI operator for games). `out` has the length
 * of `x`; it is zero-filled before the call, and the oracle must not keep
 * either array.
 */
export type Oracle = (x: Float32Array, out: Float32Array) => void;

/**
 * The only communication an optimiser does: replaces `v` in place by the mean
 * over workers of each worker's (possibly quantized) `v`. Every worker must
 * get identical bytes back; that is what keeps replicas in lockstep.
 */
export type MeanCollective = (v: Float32Array) => Promise<void>;

/** Names accepted by `createOptimizer`. */
export const OPTIMIZER_NAMES = [
  "qoda",
  "qgenx",
  "sgd",
  "adam",
  "qoda-adagrad",
  "oadam",
  "qoda-rms",
] as const;

/** One of {@linkcode OPTIMIZER_NAMES}. */
export type OptimizerName = typeof OPTIMIZER_NAMES[number];

/** What to do when the averaged vector returned by the collective is not finite. */
export type NonFinitePolicy = "skip" | "throw";

/** What one call of `step()` did. */
export interface StepInfo {
  /**
   * The iteration this step performed, 1-based (on a non-finite step: the
   * iteration that was attempted; it will be attempted again).
   */
  t: number;
  /**
   * Step size of the extrapolation / gradient step: QODA γ_t, Q-GenX γ_t,
   * SGD and Adam the learning rate applied.
   */
  gamma: number;
  /**
   * QODA: η_{t+1}, the dual-averaging weight of X_{t+1} = X_1 + η_{t+1}·Y_{t+1}.
   * Everyone else: equal to `gamma`. NaN on a non-finite step.
   */
  eta: number;
  /**
   * The squared norm the adaptive schedule accumulates this step: QODA
   * ‖V̄_{t+1/2} − V̄_{t−1/2}‖², Q-GenX ‖ḡ2 − ḡ1‖², SGD and Adam 0. NaN on a
   * non-finite step.
   */
  sqDiff: number;
  /** ‖averaged vector‖² of the (last) collective of this step; NaN if non-finite. */
  sqNorm: number;
  /**
   * Collectives this call issued: QODA, SGD, Adam 1; Q-GenX 2. On a
   * non-finite step it can be fewer (Q-GenX stops after a non-finite ḡ1; QODA
   * issues none if X_{t+1/2} overflowed) — the same on every worker.
   */
  collectives: number;
  /**
   * True when an averaged vector came back with NaN/±Infinity, or a point
   * computed from it overflowed float32: the step was skipped and no state
   * changed except the counters (`skipped`, `collectiveCalls`). Every worker
   * sees the same bytes, so every worker agrees.
   */
  nonFinite: boolean;
}

/** QODA's snapshot (see `Qoda.state()`). */
export interface QodaState {
  /** Discriminant. */
  name: "qoda";
  /** Base of γ. */
  lrGamma: number;
  /** Base of η. */
  lrEta: number;
  /** Exponent of γ. */
  exponentGamma: number;
  /** Exponent of η. */
  exponentEta: number;
  /** What a non-finite step does. */
  onNonFinite: NonFinitePolicy;
  /** Completed iterations. */
  t: number;
  /** Skipped steps (non-finite or `skipStep()`). */
  skipped: number;
  /** Collectives issued so far. */
  collectiveCalls: number;
  /** The anchor X_1. */
  x1: Float32Array;
  /** The current X_t. */
  x: Float32Array;
  /** The dual accumulator Y_t = −Σ V̄. */
  y: Float64Array;
  /** V̄_{t−1/2}, the last averaged sample (zero before the first step). */
  vPrev: Float32Array;
  /** S = Σ_{s<t} ‖V̄_{s+1/2} − V̄_{s−1/2}‖². */
  sumSq: number;
  /** γ of the last completed step (lrGamma before any). */
  gamma: number;
  /** η of the last completed step (lrEta before any). */
  eta: number;
}

/** Per-coordinate QODA's snapshot (see `QodaAdagrad.state()`). */
export interface QodaAdagradState {
  /** Discriminant. */
  name: "qoda-adagrad";
  /** Base of γ. */
  lrGamma: number;
  /** Base of η. */
  lrEta: number;
  /** Exponent of γ. */
  exponentGamma: number;
  /** Exponent of η. */
  exponentEta: number;
  /** δ added to each denominator. */
  eps: number;
  /** What a non-finite step does. */
  onNonFinite: NonFinitePolicy;
  /** Completed iterations. */
  t: number;
  /** Skipped steps (non-finite or `skipStep()`). */
  skipped: number;
  /** Collectives issued so far. */
  collectiveCalls: number;
  /** The anchor X_1. */
  x1: Float32Array;
  /** The current X_t. */
  x: Float32Array;
  /** The dual accumulator Y_t = −Σ V̄. */
  y: Float64Array;
  /** Per coordinate, S_i = Σ_{s<t} (V̄_{s+1/2,i} − V̄_{s−1/2,i})². */
  s: Float64Array;
  /** V̄_{t−1/2}, the last averaged sample (zero before the first step). */
  vPrev: Float32Array;
}

/** Windowed per-coordinate QODA's snapshot (see `QodaRms.state()`). */
export interface QodaRmsState extends Omit<QodaAdagradState, "name"> {
  /** Discriminant. */
  name: "qoda-rms";
  /** β, the window's decay per step. */
  decay: number;
}

/** Q-GenX's snapshot (see `QGenX.state()`). */
export interface QGenXState {
  /** Discriminant. */
  name: "qgenx";
  /** Learning rate. */
  lr: number;
  /** Exponent of γ. */
  exponent: number;
  /** What a non-finite step does. */
  onNonFinite: NonFinitePolicy;
  /** Completed iterations. */
  t: number;
  /** Skipped steps (non-finite or `skipStep()`). */
  skipped: number;
  /** Collectives issued so far. */
  collectiveCalls: number;
  /** The current parameters. */
  x: Float32Array;
  /** S = Σ_{s<t} ‖ḡ2_s − ḡ1_s‖². */
  sumSq: number;
  /** γ of the last completed step (lr before any). */
  gamma: number;
}

/** SGD's snapshot (see `Sgd.state()`). */
export interface SgdState {
  /** Discriminant. */
  name: "sgd";
  /** Learning rate. */
  lr: number;
  /** What a non-finite step does. */
  onNonFinite: NonFinitePolicy;
  /** Completed iterations. */
  t: number;
  /** Skipped steps (non-finite or `skipStep()`). */
  skipped: number;
  /** Collectives issued so far. */
  collectiveCalls: number;
  /** The current parameters. */
  x: Float32Array;
}

/** Adam's snapshot (see `Adam.state()`). */
export interface AdamState {
  /** Discriminant: `oadam` is optimistic Adam. */
  name: "adam" | "oadam";
  /** Learning rate. */
  lr: number;
  /** First-moment decay. */
  beta1: number;
  /** Second-moment decay. */
  beta2: number;
  /** Denominator guard. */
  eps: number;
  /** What a non-finite step does. */
  onNonFinite: NonFinitePolicy;
  /** Completed iterations. */
  t: number;
  /** Skipped steps (non-finite or `skipStep()`). */
  skipped: number;
  /** Collectives issued so far. */
  collectiveCalls: number;
  /** The current parameters. */
  x: Float32Array;
  /** First moment. */
  m: Float64Array;
  /** Second moment. */
  v: Float64Array;
  /** Optimistic Adam: the previous step's direction m̂/(√v̂ + ε). */
  prev?: Float64Array;
}

/**
 * Plain data (typed arrays and numbers, no methods) from which an optimiser
 * is restored bit-exactly; safe to structured-clone or serialise.
 */
export type OptimizerState =
  | QodaState
  | QGenXState
  | SgdState
  | AdamState
  | QodaAdagradState
  | QodaRmsState;

/**
 * What the distributed runtime needs from an optimiser. Every worker holds a
 * replica and calls `step()` in lockstep; the only communication is the
 * collective passed to `step()`.
 */
export interface Optimizer {
  /** One of {@linkcode OPTIMIZER_NAMES}. */
  readonly name: OptimizerName;
  /** Collectives a (finite) step issues. */
  readonly collectivesPerStep: number;
  /**
   * The current parameters X_t, updated in place by `step()` (the same array
   * for the optimiser's lifetime). Callers may read it any time and may write
   * it between steps (e.g. a projection); see each optimiser for how a write
   * is taken into account.
   */
  readonly params: Float32Array;
  /** Completed iterations. */
  readonly t: number;
  /** Collectives issued so far (counted at each call of the collective). */
  readonly collectiveCalls: number;
  /** Steps skipped so far (non-finite steps and `skipStep()` calls). */
  readonly skipped: number;
  /**
   * One iteration: oracle call(s), `collectivesPerStep` collectives, update.
   * If the oracle or the collective throws, the optimiser's state is
   * unchanged (only `collectiveCalls` may have grown) and the error propagates.
   */
  step(oracle: Oracle, collective: MeanCollective): Promise<StepInfo>;
  /** An agreed skip: changes nothing but the `skipped` counter. */
  skipStep(): void;
  /** A plain-data snapshot (copies), restorable bit-exactly. */
  state(): OptimizerState;
}

/**
 * The averaged vector of a step came back with NaN/±Infinity, or a point
 * computed from it overflowed, and the optimiser was built with
 * `onNonFinite: "throw"`. Names the optimiser, the iteration, the vector and
 * the first bad coordinate. The optimiser's state is unchanged.
 */
export class NonFiniteStepError extends QodaError {
  /** The optimiser. */
  readonly optimizer: string;
  /** The iteration that was attempted (1-based). */
  readonly step: number;
  /** First non-finite coordinate. */
  readonly index: number;
  /** The offending value. */
  readonly value: number;
  /**
   * Creates the error; the message names the optimiser, step, vector and coordinate.
   *
   * @param optimizer The optimiser's name.
   * @param step The iteration attempted.
   * @param index First bad coordinate.
   * @param value The bad value.
   * @param what Which vector ("averaged sample", "update X_{t+1}", …).
   */
  constructor(optimizer: string, step: number, index: number, value: number, what: string) {
    super(`${optimizer} step ${step}: ${what} has non-finite value ${value} at index ${index}`);
    this.name = "NonFiniteStepError";
    this.optimizer = optimizer;
    this.step = step;
    this.index = index;
    this.value = value;
  }
}

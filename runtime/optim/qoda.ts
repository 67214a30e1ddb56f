/**
 * QODA: quantized optimistic dual averaging, one collective per iteration.
 *
 * ```
 * X_{t+1/2} = X_t − γ_t V̄_{t−1/2}              (optimistic: reuses last round's average)
 * V̄_{t+1/2} = collective(V_k(X_{t+1/2}))        (the only communication)
 * Y_{t+1}   = Y_t − V̄_{t+1/2}
 * X_{t+1}   = X_1 + η_{t+1} Y_{t+1}              (dual averaging, anchored at X_1)
 * ```
 *
 * Adaptive step sizes (notes/qoda.md §1, after LIONS `DualOpt`):
 * γ_t = lrGamma·(1 + S_{t−1})^{−exponentGamma}, η_{t+1} = lrEta·(1 + S_t)^{−exponentEta},
 * S_t = Σ_{s≤t} ‖V̄_{s+1/2} − V̄_{s−1/2}‖².
 *
 * Initialisation: Y_1 = 0, S_0 = 0 and V̄_{1/2} := 0 (no extra uncompressed
 * exchange), so X_{3/2} = X_1, γ_1 = lrGamma, and the first S term is
 * ‖V̄_{3/2}‖².
 *
 * @module
 */
import { checkPositive, firstNonFinite, sqDist, sqNorm } from "./_util.ts";
import { DualAveragingBase } from "./_dual_averaging.ts";
import type {
  MeanCollective,
  NonFinitePolicy,
  Optimizer,
  Oracle,
  QodaState,
  StepInfo,
} from "./types.ts";

/** Options of {@linkcode Qoda}. */
export interface QodaOptions {
  /** Base learning rate; the default of `lrGamma` and `lrEta`. */
  lr: number;
  /** Base of γ_t (the extrapolation step). @default {lr} */
  lrGamma?: number;
  /** Base of η_t (the dual-averaging weight). @default {lr} */
  lrEta?: number;
  /** γ_t = lrGamma·(1 + S)^{−exponentGamma}; 0 gives a constant γ. @default {0.5} */
  exponentGamma?: number;
  /** η_t = lrEta·(1 + S)^{−exponentEta}; 0 gives a constant η. @default {0.5} */
  exponentEta?: number;
  /**
   * A non-finite averaged sample: `"skip"` reports `nonFinite: true` and
   * changes nothing but the counters; `"throw"` rejects with
   * {@linkcode NonFiniteStepError} (state likewise unchanged). @default {"skip"}
   */
  onNonFinite?: NonFinitePolicy;
}

/**
 * Externally decided step sizes for one step (the supervisor's schedule).
 * A field left out uses the adaptive rule. S is accumulated either way, and
 * the step's `sqDiff` is reported so that the owner of the schedule can keep
 * its own sum.
 */
export interface QodaStepSizes {
  /** γ_t for this step's extrapolation. */
  gamma?: number;
  /**
   * η_{t+1}, or a function of this step's ‖V̄_{t+1/2} − V̄_{t−1/2}‖² and the
   * updated S that returns it (η_{t+1} depends on this step's sample). The
   * function may be async (a supervisor's answer); if it throws, the step
   * changes nothing but `collectiveCalls` and the error propagates.
   */
  eta?: number | ((sqDiff: number, sumSq: number) => number | Promise<number>);
}

/**
 * QODA replica of one worker. Call {@linkcode Qoda.step} on every worker in
 * lockstep with the same collective.
 *
 * `params` is X_t. A write to it between steps (e.g. a projection) moves the
 * point of the next extrapolation X_{t+1/2} = X_t − γ_t V̄_{t−1/2}; X_{t+1}
 * is then recomputed from X_1 and Y as usual ("lazy" projection).
 *
 * @example Solve a 2-D bilinear game x·y on one worker
 * ```ts
 * import { Qoda } from "@qoda/ring";
 * const opt = new Qoda(new Float32Array([1, 0]), { lr: 0.5 });
 * // F(x, y) = (y, −x); the solution is (0, 0).
 * const oracle = (z: Float32Array, out: Float32Array) => {
 *   out[0] = z[1];
 *   out[1] = -z[0];
 * };
 * const single = async (_v: Float32Array) => {}; // one worker: the mean is v itself
 * for (let i = 0; i < 2000; i++) await opt.step(oracle, single);
 * if (!(Math.hypot(opt.params[0], opt.params[1]) < 0.01)) throw new Error("no convergence");
 * if (opt.collectiveCalls !== 2000) throw new Error("one collective per step");
 * ```
 */
export class Qoda extends DualAveragingBase implements Optimizer {
  /** Always `"qoda"`. */
  readonly name = "qoda" as const;
  /** QODA exchanges once per iteration. */
  readonly collectivesPerStep = 1;

  #sumSq = 0;
  #gamma: number;
  #eta: number;

  /**
   * Creates a QODA replica at `x0`.
   *
   * @param x0 The starting point X_1 (copied).
   * @param options Learning rates and exponents; see {@linkcode QodaOptions}.
   */
  constructor(x0: Float32Array, options: QodaOptions) {
    super("qoda", x0, options);
    this.#gamma = this.lrGamma;
    this.#eta = this.lrEta;
  }

  /** S = Σ ‖V̄_{s+1/2} − V̄_{s−1/2}‖² over completed iterations. */
  get sumSq(): number {
    return this.#sumSq;
  }
  /** The adaptive γ the next step would use. */
  get nextGamma(): number {
    return this.lrGamma * (1 + this.#sumSq) ** -this.expGamma;
  }

  /**
   * One QODA iteration: extrapolate, one oracle call at X_{t+1/2}, one
   * collective, dual update.
   *
   * @param oracle This worker's V_k.
   * @param collective The mean over workers (in place).
   * @param sizes Externally decided γ_t and/or η_{t+1}; omit for the adaptive rule.
   * @returns What the step did; `nonFinite: true` means nothing changed but the counters.
   * @throws {NonFiniteStepError} With `onNonFinite: "throw"` on a non-finite average.
   */
  step(
    oracle: Oracle,
    collective: MeanCollective,
    sizes?: QodaStepSizes,
  ): Promise<StepInfo> {
    return this.guarded(() => this.#step(oracle, collective, sizes));
  }

  async #step(
    oracle: Oracle,
    collective: MeanCollective,
    sizes?: QodaStepSizes,
  ): Promise<StepInfo> {
    const t = this.steps + 1;
    const gamma = sizes?.gamma ?? this.nextGamma;
    checkPositive(`qoda step ${t}: gamma`, gamma, true);
    const x = this.params, xh = this.xh, vPrev = this.vPrev, v = this.v;
    const n = x.length;
    for (let i = 0; i < n; i++) xh[i] = x[i] - gamma * vPrev[i];
    const rejected = await this.exchange(oracle, collective, t, gamma);
    if (rejected) return rejected;
    const sqDiff = sqDist(v, vPrev); // finite: float32 inputs cannot overflow float64 here
    const norm = sqNorm(v);

    const sumSq = this.#sumSq + sqDiff;
    const e = sizes?.eta;
    const eta = e === undefined
      ? this.lrEta * (1 + sumSq) ** -this.expEta
      : typeof e === "number"
      ? e
      : await e(sqDiff, sumSq);
    checkPositive(`qoda step ${t}: eta`, eta, true);

    // X_{t+1} into scratch first: a float32 overflow must not corrupt X or Y.
    const y = this.y, x1 = this.x1, xn = this.xh;
    for (let i = 0; i < n; i++) xn[i] = x1[i] + eta * (y[i] - v[i]);
    const bad = firstNonFinite(xn);
    if (bad >= 0) return this.reject(t, gamma, xn, bad, "update X_{t+1}", 1);
    for (let i = 0; i < n; i++) y[i] -= v[i];
    x.set(xn);
    vPrev.set(v);
    this.#sumSq = sumSq;
    this.#gamma = gamma;
    this.#eta = eta;
    this.steps = t;
    return { t, gamma, eta, sqDiff, sqNorm: norm, collectives: 1, nonFinite: false };
  }

  /** A plain-data snapshot (copies of every array). */
  state(): QodaState {
    return {
      name: "qoda",
      ...this.snapshot(),
      sumSq: this.#sumSq,
      gamma: this.#gamma,
      eta: this.#eta,
    };
  }

  /**
   * Rebuilds a replica from {@linkcode Qoda.state} output; it continues
   * bit-exactly as the original would have. The arrays are copied.
   *
   * @param s A snapshot.
   * @returns The restored optimiser.
   */
  static restore(s: QodaState): Qoda {
    if (s?.name !== "qoda") throw new TypeError(`not a qoda state: name ${s?.name}`);
    DualAveragingBase.checkSnapshot("qoda", s);
    checkPositive("qoda state: sumSq", s.sumSq, true);
    const o = new Qoda(s.x1, DualAveragingBase.restoredOptions(s));
    o.loadSnapshot(s);
    o.#sumSq = s.sumSq;
    o.#gamma = s.gamma;
    o.#eta = s.eta;
    return o;
  }
}

/**
 * QODA with per-coordinate step sizes (`"qoda-adagrad"`): the same
 * optimistic dual averaging as {@linkcode Qoda}, one collective per
 * iteration, but QODA's adaptive rule is applied to every coordinate on its
 * own (a diagonal, AdaGrad-type preconditioner of the dual averaging, as in
 * AdaGrad's dual-averaging form):
 *
 * ```
 * X_{t+1/2} = X_t − γ_t ⊙ V̄_{t−1/2}
 * V̄_{t+1/2} = collective(V_k(X_{t+1/2}))
 * Y_{t+1}   = Y_t − V̄_{t+1/2}
 * X_{t+1}   = X_1 + η_{t+1} ⊙ Y_{t+1}
 * S_{t,i}   = Σ_{s≤t} (V̄_{s+1/2,i} − V̄_{s−1/2,i})²
 * γ_{t,i}   = lrGamma / (eps + S_{t−1,i}^{exponentGamma})
 * η_{t+1,i} = lrEta / (eps + S_{t,i}^{exponentEta})
 * ```
 *
 * Plain QODA sums ‖V̄_{s+1/2} − V̄_{s−1/2}‖² over all coordinates, so one
 * step size serves every layer; in a GAN the generator's and the critic's
 * coordinates have operator scales orders of magnitude apart, and a single
 * step size that is stable for the largest scale barely moves the smallest.
 * Here each coordinate's step is normalised by its own accumulated variation,
 * which makes the update invariant to a rescaling of any coordinate. The
 * replicas stay bit-identical: the step sizes are a function of the averaged
 * vectors, which every worker receives identically, so no step-size message
 * is needed (the supervisor's schedule is not used).
 *
 * Initialisation as in QODA: Y_1 = 0, S_0 = 0, V̄_{1/2} := 0; the first
 * extrapolation is therefore X_{3/2} = X_1.
 *
 * @module
 */
import { checkPositive, firstNonFinite, sqDist, sqNorm } from "./_util.ts";
import { DualAveragingBase, root } from "./_dual_averaging.ts";
import type {
  MeanCollective,
  NonFinitePolicy,
  Optimizer,
  Oracle,
  QodaAdagradState,
  StepInfo,
} from "./types.ts";

/** Options of {@linkcode QodaAdagrad}. */
export interface QodaAdagradOptions {
  /** Base learning rate; the default of `lrGamma` and `lrEta`. */
  lr: number;
  /** Base of γ (the extrapolation step). @default {lr} */
  lrGamma?: number;
  /** Base of η (the dual-averaging weight). @default {lr} */
  lrEta?: number;
  /** γ_i = lrGamma / (eps + S_i^exponentGamma). @default {0.5} */
  exponentGamma?: number;
  /** η_i = lrEta / (eps + S_i^exponentEta). @default {0.5} */
  exponentEta?: number;
  /** Added to each coordinate's denominator (AdaGrad's δ). @default {1e-8} */
  eps?: number;
  /** See `QodaOptions.onNonFinite`. @default {"skip"} */
  onNonFinite?: NonFinitePolicy;
}

/**
 * Per-coordinate QODA replica of one worker. Call
 * {@linkcode QodaAdagrad.step} on every worker in lockstep with the same
 * collective. A write to `params` between steps moves the next extrapolation
 * point, as in {@linkcode Qoda}.
 *
 * @example A badly scaled bilinear game: x·y on one pair, 1000·u·w on another
 * ```ts
 * import { QodaAdagrad } from "@qoda/ring/optim";
 * const opt = new QodaAdagrad(new Float32Array([1, 0, 1, 0]), { lr: 0.5 });
 * const oracle = (z: Float32Array, out: Float32Array) => {
 *   out[0] = z[1];
 *   out[1] = -z[0];
 *   out[2] = 1000 * z[3];
 *   out[3] = -1000 * z[2];
 * };
 * const single = async (_v: Float32Array) => {}; // one worker: the mean is v itself
 * for (let i = 0; i < 3000; i++) await opt.step(oracle, single);
 * if (!(Math.hypot(...opt.params) < 0.05)) throw new Error("no convergence");
 * ```
 */
export class QodaAdagrad extends DualAveragingBase implements Optimizer {
  /** Always `"qoda-adagrad"`. */
  readonly name = "qoda-adagrad" as const;
  /** One exchange per iteration, as QODA. */
  readonly collectivesPerStep = 1;

  readonly #eps: number;
  readonly #s: Float64Array;

  /**
   * Creates a replica at `x0`.
   *
   * @param x0 The starting point X_1 (copied).
   * @param options Learning rates, exponents and δ; see {@linkcode QodaAdagradOptions}.
   */
  constructor(x0: Float32Array, options: QodaAdagradOptions) {
    super("qoda-adagrad", x0, options);
    const { eps = 1e-8 } = options;
    checkPositive("qoda-adagrad: eps", eps);
    this.#eps = eps;
    this.#s = new Float64Array(x0.length);
  }

  /**
   * One iteration: extrapolate with the per-coordinate γ, one oracle call at
   * X_{t+1/2}, one collective, dual update with the per-coordinate η.
   *
   * @param oracle This worker's V_k.
   * @param collective The mean over workers (in place).
   * @returns What the step did; `gamma` and `eta` are the means over the
   *   coordinates of γ_t and η_{t+1}.
   * @throws {NonFiniteStepError} With `onNonFinite: "throw"` on a non-finite average.
   */
  step(oracle: Oracle, collective: MeanCollective): Promise<StepInfo> {
    return this.guarded(() => this.#step(oracle, collective));
  }

  async #step(oracle: Oracle, collective: MeanCollective): Promise<StepInfo> {
    const t = this.steps + 1;
    const x = this.params, xh = this.xh, vPrev = this.vPrev, v = this.v, s = this.#s;
    const n = x.length;
    const lrG = this.lrGamma, lrE = this.lrEta, eG = this.expGamma, eE = this.expEta;
    const eps = this.#eps;
    let gammaSum = 0;
    for (let i = 0; i < n; i++) {
      const g = lrG / (eps + root(s[i], eG));
      gammaSum += g;
      xh[i] = x[i] - g * vPrev[i];
    }
    const gamma = n ? gammaSum / n : lrG;
    const rejected = await this.exchange(oracle, collective, t, gamma);
    if (rejected) return rejected;
    const sqDiff = sqDist(v, vPrev);
    const norm = sqNorm(v);

    // X_{t+1} into scratch first: a float32 overflow must not corrupt X, Y or S.
    const y = this.y, x1 = this.x1, xn = this.xh;
    let etaSum = 0;
    for (let i = 0; i < n; i++) {
      const d = v[i] - vPrev[i];
      const si = s[i] + d * d;
      const e = lrE / (eps + root(si, eE));
      etaSum += e;
      xn[i] = x1[i] + e * (y[i] - v[i]);
    }
    const bad = firstNonFinite(xn);
    if (bad >= 0) return this.reject(t, gamma, xn, bad, "update X_{t+1}", 1);
    for (let i = 0; i < n; i++) {
      const d = v[i] - vPrev[i];
      s[i] += d * d;
      y[i] -= v[i];
    }
    x.set(xn);
    vPrev.set(v);
    this.steps = t;
    const eta = n ? etaSum / n : lrE;
    return { t, gamma, eta, sqDiff, sqNorm: norm, collectives: 1, nonFinite: false };
  }

  /** A plain-data snapshot (copies of every array). */
  state(): QodaAdagradState {
    return { name: "qoda-adagrad", ...this.snapshot(), eps: this.#eps, s: this.#s.slice() };
  }

  /**
   * Rebuilds a replica from {@linkcode QodaAdagrad.state} output; it
   * continues bit-exactly. The arrays are copied.
   *
   * @param st A snapshot.
   * @returns The restored optimiser.
   */
  static restore(st: QodaAdagradState): QodaAdagrad {
    if (st?.name !== "qoda-adagrad") {
      throw new TypeError(`not a qoda-adagrad state: name ${st?.name}`);
    }
    DualAveragingBase.checkSnapshot("qoda-adagrad", st);
    DualAveragingBase.checkSums("qoda-adagrad", st.s, st.x1.length);
    const o = new QodaAdagrad(st.x1, { ...DualAveragingBase.restoredOptions(st), eps: st.eps });
    o.loadSnapshot(st);
    o.#s.set(st.s);
    return o;
  }
}

/**
 * QODA with windowed per-coordinate step sizes (`"qoda-rms"`): QODA's
 * optimistic step and single collective per iteration, with QODA's adaptive
 * rule applied to each coordinate over an exponential window of the recent
 * variations instead of all of them (an RMSprop-type normaliser), and the
 * update taken from the current point:
 *
 * ```
 * X_{t+1/2} = X_t − γ_t ⊙ V̄_{t−1/2}
 * V̄_{t+1/2} = collective(V_k(X_{t+1/2}))
 * X_{t+1}   = X_t − η_{t+1} ⊙ V̄_{t+1/2}
 * S_{t,i}   = β S_{t−1,i} + (1 − β)(V̄_{t+1/2,i} − V̄_{t−1/2,i})²,   Ŝ_{t,i} = S_{t,i} / (1 − β^t)
 * γ_{t,i}   = lrGamma / (eps + Ŝ_{t−1,i}^{exponentGamma})   (γ_1 = 0)
 * η_{t+1,i} = lrEta / (eps + Ŝ_{t,i}^{exponentEta})
 * ```
 *
 * Why a second variant: {@linkcode QodaAdagrad}'s sums grow with every
 * step, so its steps shrink like 1/√t, which is what the analysis of
 * monotone problems asks for; a non-saturating GAN is not monotone, and on
 * `gaussians25` with the non-saturating loss and packed critic inputs
 * those shrinking steps stall (4 of 25 modes after 9,000 steps, against 17
 * with this window). Dual averaging anchors X_{t+1} = X_1 + η_{t+1} ⊙ Y_{t+1}
 * needs step sizes that never grow (a windowed η moves X by Δη·Y, and the
 * dual form trained nothing in our runs), so this variant takes the step
 * from X_t: the optimistic-gradient (past-extragradient) form of the same
 * method. Y_t = −Σ V̄ is still kept, for the snapshot.
 *
 * Like RMSprop's, its steps keep a length of about `lr` per coordinate near
 * a solution (the variations shrink with the operator), so on a game it
 * settles within a few `lr` of the solution rather than converging to it.
 * The step sizes are a function of the averaged vectors, which every worker
 * receives bit-identically, so the replicas agree without a step-size message.
 *
 * @module
 */
import { checkPositive, checkUnit, firstNonFinite, sqDist, sqNorm } from "./_util.ts";
import { DualAveragingBase, root } from "./_dual_averaging.ts";
import type { QodaAdagradOptions } from "./qoda_adagrad.ts";
import type { MeanCollective, Optimizer, Oracle, QodaRmsState, StepInfo } from "./types.ts";

/**
 * Options of {@linkcode QodaRms}: those of `qoda-adagrad` (rates, exponents
 * of Ŝ, δ, the non-finite policy) and the window's decay.
 */
export interface QodaRmsOptions extends QodaAdagradOptions {
  /** β, the window's decay per step, in [0, 1). @default {0.99} */
  decay?: number;
}

/**
 * One replica of windowed per-coordinate QODA (see the module doc).
 *
 * @example Settles near the solution of the bilinear game min_x max_y x·y (one worker)
 * ```ts
 * import { QodaRms } from "./mod.ts";
 * const opt = new QodaRms(new Float32Array([1, 1]), { lr: 0.05 });
 * const oracle = (p: Float32Array, out: Float32Array) => {
 *   out[0] = p[1];
 *   out[1] = -p[0];
 * };
 * for (let t = 0; t < 400; t++) await opt.step(oracle, async () => {});
 * if (Math.hypot(opt.params[0], opt.params[1]) > 0.2) throw new Error();
 * ```
 */
export class QodaRms extends DualAveragingBase implements Optimizer {
  /** Always `"qoda-rms"`. */
  readonly name = "qoda-rms" as const;
  /** One exchange per iteration, as QODA. */
  readonly collectivesPerStep = 1;

  readonly #decay: number;
  readonly #eps: number;
  readonly #s: Float64Array;

  /**
   * Creates a replica at `x0`.
   *
   * @param x0 The starting point X_1 (copied).
   * @param options Learning rates, exponents, the window's decay and δ.
   * @throws {RangeError} A rate, exponent or δ that is not positive, a decay outside [0, 1).
   */
  constructor(x0: Float32Array, options: QodaRmsOptions) {
    super("qoda-rms", x0, options);
    const { decay = 0.99, eps = 1e-8 } = options;
    checkUnit("qoda-rms: decay", decay);
    checkPositive("qoda-rms: eps", eps);
    this.#decay = decay;
    this.#eps = eps;
    this.#s = new Float64Array(x0.length);
  }

  /**
   * One iteration: extrapolate with the per-coordinate γ, one oracle call at
   * X_{t+1/2}, one collective, step from X_t with the per-coordinate η.
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
    const eps = this.#eps, b = this.#decay;
    // Bias corrections of the window before and after this step's variation.
    const before = 1 - b ** (t - 1), after = 1 - b ** t;
    let gammaSum = 0;
    for (let i = 0; i < n; i++) {
      const g = t === 1 ? 0 : lrG / (eps + root(s[i] / before, eG));
      gammaSum += g;
      xh[i] = x[i] - g * vPrev[i];
    }
    const gamma = n ? gammaSum / n : 0;
    const rejected = await this.exchange(oracle, collective, t, gamma);
    if (rejected) return rejected;
    const sqDiff = sqDist(v, vPrev);
    const norm = sqNorm(v);

    // X_{t+1} into scratch first: a float32 overflow must not corrupt X, Y or S.
    const xn = this.xh, y = this.y;
    let etaSum = 0;
    for (let i = 0; i < n; i++) {
      const d = v[i] - vPrev[i];
      const e = lrE / (eps + root((b * s[i] + (1 - b) * d * d) / after, eE));
      etaSum += e;
      xn[i] = x[i] - e * v[i];
    }
    const bad = firstNonFinite(xn);
    if (bad >= 0) return this.reject(t, gamma, xn, bad, "update X_{t+1}", 1);
    for (let i = 0; i < n; i++) {
      const d = v[i] - vPrev[i];
      s[i] = b * s[i] + (1 - b) * d * d;
      y[i] -= v[i];
    }
    x.set(xn);
    vPrev.set(v);
    this.steps = t;
    const eta = n ? etaSum / n : lrE;
    return { t, gamma, eta, sqDiff, sqNorm: norm, collectives: 1, nonFinite: false };
  }

  /** A plain-data snapshot (copies of every array). */
  state(): QodaRmsState {
    return {
      name: "qoda-rms",
      ...this.snapshot(),
      decay: this.#decay,
      eps: this.#eps,
      s: this.#s.slice(),
    };
  }

  /**
   * Rebuilds a replica from {@linkcode QodaRms.state} output; it continues
   * bit-exactly. The arrays are copied.
   *
   * @param st A snapshot.
   * @returns The restored optimiser.
   * @throws {TypeError} Not a `qoda-rms` state, or a malformed one.
   */
  static restore(st: QodaRmsState): QodaRms {
    if (st?.name !== "qoda-rms") throw new TypeError(`not a qoda-rms state: name ${st?.name}`);
    DualAveragingBase.checkSnapshot("qoda-rms", st);
    DualAveragingBase.checkSums("qoda-rms", st.s, st.x1.length);
    const o = new QodaRms(st.x1, {
      ...DualAveragingBase.restoredOptions(st),
      decay: st.decay,
      eps: st.eps,
    });
    o.loadSnapshot(st);
    o.#s.set(st.s);
    return o;
  }
}

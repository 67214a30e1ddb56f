/**
 * Q-GenX baseline: quantized extra-gradient, two collectives per iteration.
 *
 * ```
 * ḡ1        = collective(V_k(X_t))
 * X_{t+1/2} = X_t − γ_t ḡ1
 * ḡ2        = collective(V_k(X_{t+1/2}))
 * X_{t+1}   = X_t − γ_t ḡ2
 * ```
 *
 * Adaptive step: γ_t = lr·(1 + Σ_{s<t} ‖ḡ2_s − ḡ1_s‖²)^{−exponent}.
 *
 * @module
 */
import { checkArray, checkCount, checkPositive, firstNonFinite, sqDist, sqNorm } from "./_util.ts";
import { OptimizerBase } from "./_base.ts";
import type {
  MeanCollective,
  NonFinitePolicy,
  Optimizer,
  Oracle,
  QGenXState,
  StepInfo,
} from "./types.ts";

/** Options of {@linkcode QGenX}. */
export interface QGenXOptions {
  /** Base learning rate. */
  lr: number;
  /** γ_t = lr·(1 + S)^{−exponent}; 0 gives a constant step. @default {0.5} */
  exponent?: number;
  /** See `QodaOptions.onNonFinite`. @default {"skip"} */
  onNonFinite?: NonFinitePolicy;
}

/** An externally decided step size for one step. */
export interface QGenXStepSizes {
  /** γ_t for both half-steps; S is accumulated either way. */
  gamma?: number;
}

/**
 * Q-GenX replica of one worker (extra-gradient on averaged samples).
 *
 * `params` is X_t, updated as X_t − γ_t ḡ2 in float64 and rounded to float32;
 * a write to it between steps is taken as the new X_t.
 *
 * A non-finite ḡ1 (or X_{t+1/2}) ends the step after its first collective
 * (every worker sees the same ḡ1, so every worker stops there): `collectives`
 * is then 1.
 *
 * @example Solve a 2-D bilinear game x·y on one worker
 * ```ts
 * import { QGenX } from "@qoda/ring/optim";
 * const opt = new QGenX(new Float32Array([1, 0]), { lr: 0.5 });
 * const oracle = (z: Float32Array, out: Float32Array) => {
 *   out[0] = z[1];
 *   out[1] = -z[0];
 * };
 * for (let i = 0; i < 500; i++) await opt.step(oracle, async () => {});
 * if (!(Math.hypot(opt.params[0], opt.params[1]) < 0.01)) throw new Error("no convergence");
 * if (opt.collectiveCalls !== 1000) throw new Error("two collectives per step");
 * ```
 */
export class QGenX extends OptimizerBase implements Optimizer {
  /** Always `"qgenx"`. */
  readonly name = "qgenx" as const;
  /** Extra-gradient exchanges twice per iteration. */
  readonly collectivesPerStep = 2;

  readonly #lr: number;
  readonly #exp: number;
  readonly #g1: Float32Array;
  readonly #g2: Float32Array;
  readonly #xh: Float32Array;
  #sumSq = 0;
  #gamma: number;

  /**
   * Creates a Q-GenX replica at `x0`.
   *
   * @param x0 The starting point (copied).
   * @param options Learning rate and exponent; see {@linkcode QGenXOptions}.
   */
  constructor(x0: Float32Array, options: QGenXOptions) {
    super("qgenx", x0, options.onNonFinite ?? "skip");
    const { lr, exponent = 0.5 } = options;
    checkPositive("qgenx: lr", lr);
    checkPositive("qgenx: exponent", exponent, true);
    this.#lr = lr;
    this.#exp = exponent;
    const n = x0.length;
    this.#g1 = new Float32Array(n);
    this.#g2 = new Float32Array(n);
    this.#xh = new Float32Array(n);
    this.#gamma = lr;
  }

  /** S = Σ ‖ḡ2_s − ḡ1_s‖² over completed iterations. */
  get sumSq(): number {
    return this.#sumSq;
  }
  /** The adaptive γ the next step would use. */
  get nextGamma(): number {
    return this.#lr * (1 + this.#sumSq) ** -this.#exp;
  }

  /**
   * One extra-gradient iteration: two oracle calls, two collectives.
   *
   * @param oracle This worker's V_k.
   * @param collective The mean over workers (in place).
   * @param sizes An externally decided γ_t; omit for the adaptive rule.
   * @returns What the step did.
   * @throws {NonFiniteStepError} With `onNonFinite: "throw"` on a non-finite average.
   */
  step(
    oracle: Oracle,
    collective: MeanCollective,
    sizes?: QGenXStepSizes,
  ): Promise<StepInfo> {
    return this.guarded(() => this.#step(oracle, collective, sizes));
  }

  async #step(
    oracle: Oracle,
    collective: MeanCollective,
    sizes?: QGenXStepSizes,
  ): Promise<StepInfo> {
    const t = this.steps + 1;
    const gamma = sizes?.gamma ?? this.nextGamma;
    checkPositive(`qgenx step ${t}: gamma`, gamma, true);
    const x = this.params, g1 = this.#g1, g2 = this.#g2, xh = this.#xh;
    const n = x.length;

    let bad = await this.averagedSample(oracle, collective, x, g1);
    if (bad >= 0) return this.reject(t, gamma, g1, bad, "first averaged sample (ḡ1)", 1);

    for (let i = 0; i < n; i++) xh[i] = x[i] - gamma * g1[i];
    bad = firstNonFinite(xh);
    if (bad >= 0) return this.reject(t, gamma, xh, bad, "extrapolated point X_{t+1/2}", 1);
    bad = await this.averagedSample(oracle, collective, xh, g2);
    if (bad >= 0) return this.reject(t, gamma, g2, bad, "second averaged sample (ḡ2)", 2);
    const sqDiff = sqDist(g2, g1);
    const norm = sqNorm(g2);

    // X_{t+1} into scratch first: a float32 overflow must not corrupt X.
    for (let i = 0; i < n; i++) xh[i] = x[i] - gamma * g2[i];
    bad = firstNonFinite(xh);
    if (bad >= 0) return this.reject(t, gamma, xh, bad, "update X_{t+1}", 2);
    x.set(xh);
    this.#sumSq += sqDiff;
    this.#gamma = gamma;
    this.steps = t;
    return { t, gamma, eta: gamma, sqDiff, sqNorm: norm, collectives: 2, nonFinite: false };
  }

  /** A plain-data snapshot (copies). */
  state(): QGenXState {
    return {
      name: "qgenx",
      lr: this.#lr,
      exponent: this.#exp,
      onNonFinite: this.policy,
      t: this.steps,
      skipped: this.skips,
      collectiveCalls: this.calls,
      x: this.params.slice(),
      sumSq: this.#sumSq,
      gamma: this.#gamma,
    };
  }

  /**
   * Rebuilds a replica from {@linkcode QGenX.state} output (bit-exact).
   *
   * @param s A snapshot.
   * @returns The restored optimiser.
   */
  static restore(s: QGenXState): QGenX {
    if (s?.name !== "qgenx") throw new TypeError(`not a qgenx state: name ${s?.name}`);
    checkArray("qgenx state: x", s.x, Float32Array, s.x?.length);
    checkCount("qgenx state: t", s.t);
    checkCount("qgenx state: skipped", s.skipped);
    checkCount("qgenx state: collectiveCalls", s.collectiveCalls);
    checkPositive("qgenx state: sumSq", s.sumSq, true);
    const o = new QGenX(s.x, { lr: s.lr, exponent: s.exponent, onNonFinite: s.onNonFinite });
    o.steps = s.t;
    o.skips = s.skipped;
    o.calls = s.collectiveCalls;
    o.#sumSq = s.sumSq;
    o.#gamma = s.gamma;
    return o;
  }
}

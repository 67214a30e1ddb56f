/**
 * Adam on the averaged (possibly quantized) gradient, one collective per step:
 *
 * ```
 * ḡ = collective(g);  m ← β1 m + (1 − β1) ḡ;  v ← β2 v + (1 − β2) ḡ²
 * u = (m / (1 − β1^t)) / (√(v / (1 − β2^t)) + ε);  x ← x − lr · u
 * ```
 *
 * and optimistic Adam (`oadam`, Daskalakis et al., "Training GANs with
 * Optimism", ICLR 2018), the GAN baseline with extrapolation from the past:
 * x ← x − lr · (2u − u_prev), u_prev the previous step's direction (0 at the
 * first step). The moments are float64.
 *
 * @module
 */
import {
  checkArray,
  checkCount,
  checkPositive,
  checkUnit,
  firstNonFinite,
  sqNorm,
} from "./_util.ts";
import { OptimizerBase } from "./_base.ts";
import type {
  AdamState,
  MeanCollective,
  NonFinitePolicy,
  Optimizer,
  Oracle,
  StepInfo,
} from "./types.ts";

/** Options of {@linkcode Adam}. */
export interface AdamOptions {
  /** Learning rate. */
  lr: number;
  /** First-moment decay β1. @default {0.9} */
  beta1?: number;
  /** Second-moment decay β2. @default {0.999} */
  beta2?: number;
  /** ε added to √v̂. @default {1e-8} */
  eps?: number;
  /** See `QodaOptions.onNonFinite`. @default {"skip"} */
  onNonFinite?: NonFinitePolicy;
  /** Optimistic Adam: step by 2u − u_prev (the optimiser's name becomes `oadam`). */
  optimistic?: boolean;
}

/** An externally decided learning rate for one step. */
export interface AdamStepSizes {
  /** The learning rate of this step. */
  lr?: number;
}

/**
 * Adam replica of one worker. `params` is rounded to float32 after each
 * step; a write to it between steps is taken as the new x.
 *
 * @example Minimise ½‖x − c‖² on one worker
 * ```ts
 * import { Adam } from "@qoda/ring/optim";
 * const opt = new Adam(new Float32Array(2), { lr: 0.05 });
 * const grad = (x: Float32Array, g: Float32Array) => {
 *   g[0] = x[0] - 3;
 *   g[1] = x[1] + 1;
 * };
 * for (let i = 0; i < 1000; i++) await opt.step(grad, async () => {});
 * if (!(Math.abs(opt.params[0] - 3) < 1e-2)) throw new Error("no convergence");
 * ```
 */
export class Adam extends OptimizerBase implements Optimizer {
  /** `"adam"`, or `"oadam"` when optimistic. */
  readonly name: "adam" | "oadam";
  /** One exchange per step. */
  readonly collectivesPerStep = 1;

  readonly #lr: number;
  readonly #b1: number;
  readonly #b2: number;
  readonly #eps: number;
  readonly #m: Float64Array;
  readonly #v: Float64Array;
  readonly #g: Float32Array;
  readonly #xn: Float32Array;
  /** Optimistic: the previous direction u (null for plain Adam). */
  readonly #prev: Float64Array | null;

  /**
   * Creates a Adam replica at `x0`.
   *
   * @param x0 The starting point (copied).
   * @param options See {@linkcode AdamOptions}.
   */
  constructor(x0: Float32Array, options: AdamOptions) {
    super(options.optimistic ? "oadam" : "adam", x0, options.onNonFinite ?? "skip");
    this.name = options.optimistic ? "oadam" : "adam";
    const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = options;
    checkPositive("adam: lr", lr);
    checkUnit("adam: beta1", beta1);
    checkUnit("adam: beta2", beta2);
    checkPositive("adam: eps", eps);
    this.#lr = lr;
    this.#b1 = beta1;
    this.#b2 = beta2;
    this.#eps = eps;
    const n = x0.length;
    this.#m = new Float64Array(n);
    this.#v = new Float64Array(n);
    this.#g = new Float32Array(n);
    this.#xn = new Float32Array(n);
    this.#prev = options.optimistic ? new Float64Array(n) : null;
  }

  /**
   * One Adam step on the averaged gradient.
   *
   * @param oracle This worker's gradient sample.
   * @param collective The mean over workers (in place).
   * @param sizes An externally decided learning rate.
   * @returns What the step did.
   * @throws {NonFiniteStepError} With `onNonFinite: "throw"` on a non-finite average.
   */
  step(oracle: Oracle, collective: MeanCollective, sizes?: AdamStepSizes): Promise<StepInfo> {
    return this.guarded(async () => {
      const t = this.steps + 1;
      const lr = sizes?.lr ?? this.#lr;
      checkPositive(`adam step ${t}: lr`, lr, true);
      const x = this.params, g = this.#g, m = this.#m, v = this.#v;
      let bad = await this.averagedSample(oracle, collective, x, g);
      if (bad >= 0) return this.reject(t, lr, g, bad, "averaged gradient", 1);
      const norm = sqNorm(g);
      const b1 = this.#b1, b2 = this.#b2, eps = this.#eps;
      const c1 = 1 - b1 ** t, c2 = 1 - b2 ** t;
      // The update into scratch first: a float32 overflow must not corrupt x, m or v.
      const xn = this.#xn, prev = this.#prev;
      for (let i = 0; i < x.length; i++) {
        const gi = g[i];
        const mi = b1 * m[i] + (1 - b1) * gi;
        const vi = b2 * v[i] + (1 - b2) * gi * gi;
        const u = (mi / c1) / (Math.sqrt(vi / c2) + eps);
        xn[i] = prev ? x[i] - lr * (2 * u - prev[i]) : x[i] - lr * u;
      }
      bad = firstNonFinite(xn);
      if (bad >= 0) return this.reject(t, lr, xn, bad, "update of x", 1);
      for (let i = 0; i < x.length; i++) {
        const gi = g[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        if (prev) prev[i] = (m[i] / c1) / (Math.sqrt(v[i] / c2) + eps);
      }
      x.set(xn);
      this.steps = t;
      return { t, gamma: lr, eta: lr, sqDiff: 0, sqNorm: norm, collectives: 1, nonFinite: false };
    });
  }

  /** A plain-data snapshot (copies). */
  state(): AdamState {
    return {
      name: this.name,
      lr: this.#lr,
      beta1: this.#b1,
      beta2: this.#b2,
      eps: this.#eps,
      onNonFinite: this.policy,
      t: this.steps,
      skipped: this.skips,
      collectiveCalls: this.calls,
      x: this.params.slice(),
      m: this.#m.slice(),
      v: this.#v.slice(),
      ...(this.#prev ? { prev: this.#prev.slice() } : {}),
    };
  }

  /**
   * Rebuilds a replica from {@linkcode Adam.state} output (bit-exact).
   *
   * @param s A snapshot.
   * @returns The restored optimiser.
   */
  static restore(s: AdamState): Adam {
    if (s?.name !== "adam" && s?.name !== "oadam") {
      throw new TypeError(`not an adam state: name ${s?.name}`);
    }
    const n = s.x?.length;
    checkArray("adam state: x", s.x, Float32Array, n);
    checkArray("adam state: m", s.m, Float64Array, n);
    checkArray("adam state: v", s.v, Float64Array, n);
    if (s.name === "oadam") checkArray("adam state: prev", s.prev, Float64Array, n);
    checkCount("adam state: t", s.t);
    checkCount("adam state: skipped", s.skipped);
    checkCount("adam state: collectiveCalls", s.collectiveCalls);
    const o = new Adam(s.x, {
      lr: s.lr,
      beta1: s.beta1,
      beta2: s.beta2,
      eps: s.eps,
      onNonFinite: s.onNonFinite,
      optimistic: s.name === "oadam",
    });
    o.#m.set(s.m);
    o.#v.set(s.v);
    if (o.#prev) o.#prev.set(s.prev!);
    o.steps = s.t;
    o.skips = s.skipped;
    o.calls = s.collectiveCalls;
    return o;
  }
}

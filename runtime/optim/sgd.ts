/**
 * Compressed SGD: x ← x − lr·collective(g), one collective per step.
 *
 * @module
 */
import { checkArray, checkCount, checkPositive, firstNonFinite, sqNorm } from "./_util.ts";
import { OptimizerBase } from "./_base.ts";
import type {
  MeanCollective,
  NonFinitePolicy,
  Optimizer,
  Oracle,
  SgdState,
  StepInfo,
} from "./types.ts";

/** Options of {@linkcode Sgd}. */
export interface SgdOptions {
  /** Learning rate. */
  lr: number;
  /** See `QodaOptions.onNonFinite`. @default {"skip"} */
  onNonFinite?: NonFinitePolicy;
}

/** An externally decided learning rate for one step. */
export interface SgdStepSizes {
  /** The learning rate of this step. */
  lr?: number;
}

/**
 * SGD on the averaged (possibly quantized) gradient. `params` is updated as
 * x − lr·ḡ in float64 and rounded to float32; a write to it between steps is
 * taken as the new x.
 *
 * @example Minimise ½‖x − c‖² on one worker
 * ```ts
 * import { Sgd } from "@qoda/ring/optim";
 * const c = [3, -1];
 * const opt = new Sgd(new Float32Array(2), { lr: 0.1 });
 * const grad = (x: Float32Array, g: Float32Array) => {
 *   for (let i = 0; i < 2; i++) g[i] = x[i] - c[i];
 * };
 * for (let i = 0; i < 100; i++) await opt.step(grad, async () => {});
 * if (!(Math.abs(opt.params[0] - 3) < 1e-3)) throw new Error("no convergence");
 * ```
 */
export class Sgd extends OptimizerBase implements Optimizer {
  /** Always `"sgd"`. */
  readonly name = "sgd" as const;
  /** One exchange per step. */
  readonly collectivesPerStep = 1;

  readonly #lr: number;
  readonly #g: Float32Array;
  readonly #xn: Float32Array;

  /**
   * Creates a SGD replica at `x0`.
   *
   * @param x0 The starting point (copied).
   * @param options See {@linkcode SgdOptions}.
   */
  constructor(x0: Float32Array, options: SgdOptions) {
    super("sgd", x0, options.onNonFinite ?? "skip");
    const { lr } = options;
    checkPositive("sgd: lr", lr);
    this.#lr = lr;
    this.#g = new Float32Array(x0.length);
    this.#xn = new Float32Array(x0.length);
  }

  /**
   * One step: oracle, one collective, x −= lr·ḡ.
   *
   * @param oracle This worker's gradient sample.
   * @param collective The mean over workers (in place).
   * @param sizes An externally decided learning rate.
   * @returns What the step did.
   * @throws {NonFiniteStepError} With `onNonFinite: "throw"` on a non-finite average.
   */
  step(oracle: Oracle, collective: MeanCollective, sizes?: SgdStepSizes): Promise<StepInfo> {
    return this.guarded(async () => {
      const t = this.steps + 1;
      const lr = sizes?.lr ?? this.#lr;
      checkPositive(`sgd step ${t}: lr`, lr, true);
      const x = this.params, g = this.#g;
      let bad = await this.averagedSample(oracle, collective, x, g);
      if (bad >= 0) return this.reject(t, lr, g, bad, "averaged gradient", 1);
      const norm = sqNorm(g);
      // The update into scratch first: a float32 overflow must not corrupt x.
      const xn = this.#xn;
      for (let i = 0; i < x.length; i++) xn[i] = x[i] - lr * g[i];
      bad = firstNonFinite(xn);
      if (bad >= 0) return this.reject(t, lr, xn, bad, "update of x", 1);
      x.set(xn);
      this.steps = t;
      return { t, gamma: lr, eta: lr, sqDiff: 0, sqNorm: norm, collectives: 1, nonFinite: false };
    });
  }

  /** A plain-data snapshot (copies). */
  state(): SgdState {
    return {
      name: "sgd",
      lr: this.#lr,
      onNonFinite: this.policy,
      t: this.steps,
      skipped: this.skips,
      collectiveCalls: this.calls,
      x: this.params.slice(),
    };
  }

  /**
   * Rebuilds a replica from {@linkcode Sgd.state} output (bit-exact).
   *
   * @param s A snapshot.
   * @returns The restored optimiser.
   */
  static restore(s: SgdState): Sgd {
    if (s?.name !== "sgd") throw new TypeError(`not an sgd state: name ${s?.name}`);
    checkArray("sgd state: x", s.x, Float32Array, s.x?.length);
    checkCount("sgd state: t", s.t);
    checkCount("sgd state: skipped", s.skipped);
    checkCount("sgd state: collectiveCalls", s.collectiveCalls);
    const o = new Sgd(s.x, { lr: s.lr, onNonFinite: s.onNonFinite });
    o.steps = s.t;
    o.skips = s.skipped;
    o.calls = s.collectiveCalls;
    return o;
  }
}

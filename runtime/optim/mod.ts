/**
 * Optimisers as pure code over flat `Float32Array` parameters: QODA
 * (quantized optimistic dual averaging, one collective per iteration), QODA
 * with per-coordinate step sizes (`qoda-adagrad`, one; `qoda-rms`, over a
 * window of recent variations, one), the Q-GenX
 * extra-gradient baseline (two), compressed SGD and Adam (one each).
 *
 * Every worker holds a replica and calls `step(oracle, collective)` in
 * lockstep. The oracle writes this worker's stochastic sample; the collective
 * replaces a vector by the mean over workers and is the only communication.
 * Since every worker gets identical bytes back and the update is
 * deterministic, replicas stay bit-identical. A non-finite average is
 * reported as `nonFinite: true` with the state untouched (an agreed skip),
 * or thrown as {@linkcode NonFiniteStepError} with `onNonFinite: "throw"`.
 *
 * @example Two workers in lockstep on ½‖x − c‖²
 * ```ts
 * import { createOptimizer } from "@qoda/ring/optim";
 * const K = 2;
 * const opts = Array.from({ length: K }, () => createOptimizer("sgd", new Float32Array([0]), { lr: 0.5 }));
 * // A barrier collective: wait for all K vectors, then give each the mean.
 * let pending: { v: Float32Array; done: () => void }[] = [];
 * const collective = (v: Float32Array) =>
 *   new Promise<void>((done) => {
 *     pending.push({ v, done });
 *     if (pending.length < K) return;
 *     const mean = pending.reduce((s, p) => s + p.v[0], 0) / K;
 *     for (const p of pending) (p.v[0] = mean, p.done());
 *     pending = [];
 *   });
 * const oracles = [1, 3].map((c) => (x: Float32Array, g: Float32Array) => void (g[0] = x[0] - c));
 * for (let i = 0; i < 50; i++) await Promise.all(opts.map((o, k) => o.step(oracles[k], collective)));
 * if (!(Math.abs(opts[0].params[0] - 2) < 1e-4)) throw new Error("minimiser of the mean loss is 2");
 * if (opts[0].params[0] !== opts[1].params[0]) throw new Error("replicas differ");
 * ```
 *
 * @module
 */
import { UnknownNameError } from "../errors.ts";
import { Adam, type AdamOptions } from "./adam.ts";
import { QGenX, type QGenXOptions } from "./qgenx.ts";
import { Qoda, type QodaOptions } from "./qoda.ts";
import { QodaAdagrad, type QodaAdagradOptions } from "./qoda_adagrad.ts";
import { QodaRms, type QodaRmsOptions } from "./qoda_rms.ts";
import { Sgd, type SgdOptions } from "./sgd.ts";
import { type Optimizer, OPTIMIZER_NAMES, type OptimizerState } from "./types.ts";

export * from "./types.ts";
export * from "./qoda.ts";
export * from "./qoda_adagrad.ts";
export * from "./qoda_rms.ts";
export * from "./qgenx.ts";
export * from "./sgd.ts";
export * from "./adam.ts";
export * from "./average.ts";

/**
 * Options accepted by {@linkcode createOptimizer} for any name: `lr` plus
 * whichever optimiser-specific fields apply (the others are ignored).
 */
export type OptimizerOptions =
  & QodaOptions
  & QodaAdagradOptions
  & QodaRmsOptions
  & QGenXOptions
  & SgdOptions
  & AdamOptions;

/** Builds a {@linkcode Qoda}. */
export function createOptimizer(name: "qoda", x0: Float32Array, options: QodaOptions): Qoda;
/** Builds a {@linkcode QGenX}. */
export function createOptimizer(name: "qgenx", x0: Float32Array, options: QGenXOptions): QGenX;
/** Builds an {@linkcode Sgd}. */
export function createOptimizer(name: "sgd", x0: Float32Array, options: SgdOptions): Sgd;
/** Builds an {@linkcode Adam}. */
export function createOptimizer(name: "adam", x0: Float32Array, options: AdamOptions): Adam;
/** Builds a {@linkcode QodaAdagrad}. */
export function createOptimizer(
  name: "qoda-adagrad",
  x0: Float32Array,
  options: QodaAdagradOptions,
): QodaAdagrad;
/** Builds a {@linkcode QodaRms}. */
export function createOptimizer(
  name: "qoda-rms",
  x0: Float32Array,
  options: QodaRmsOptions,
): QodaRms;
/**
 * Builds an optimiser by name.
 *
 * @param name `"qoda"`, `"qgenx"`, `"sgd"`, `"adam"`, `"qoda-adagrad"`, `"qoda-rms"` or
 *   `"oadam"` (optimistic Adam).
 * @param x0 The starting parameters (copied).
 * @param options `lr` and the optimiser's own options.
 * @returns A fresh replica.
 * @throws {UnknownNameError} For any other name; the message lists the valid names.
 *
 * @example Pick an optimiser from a command-line string
 * ```ts
 * import { createOptimizer, UnknownNameError } from "@qoda/ring";
 * const name: string = "qgenx"; // e.g. from --optimizer
 * const opt = createOptimizer(name, new Float32Array(4), { lr: 0.5 });
 * if (opt.name !== "qgenx" || opt.collectivesPerStep !== 2) throw new Error("wrong optimiser");
 * try {
 *   createOptimizer("rmsprop", new Float32Array(4), { lr: 0.1 });
 *   throw new Error("should have thrown");
 * } catch (e) {
 *   if (!(e instanceof UnknownNameError) || e.requested !== "rmsprop") throw e;
 * }
 * ```
 */
export function createOptimizer(
  name: string,
  x0: Float32Array,
  options: Partial<OptimizerOptions> & { lr: number },
): Optimizer;
export function createOptimizer(
  name: string,
  x0: Float32Array,
  options: Partial<OptimizerOptions> & { lr: number },
): Optimizer {
  switch (name) {
    case "qoda":
      return new Qoda(x0, options);
    case "qgenx":
      return new QGenX(x0, options);
    case "sgd":
      return new Sgd(x0, options);
    case "adam":
      return new Adam(x0, options);
    case "oadam":
      return new Adam(x0, { ...options, optimistic: true });
    case "qoda-adagrad":
      return new QodaAdagrad(x0, options);
    case "qoda-rms":
      return new QodaRms(x0, options);
    default:
      throw new UnknownNameError("optimizer", name, OPTIMIZER_NAMES);
  }
}

/**
 * Rebuilds an optimiser from any `state()` snapshot; it continues bit-exactly.
 *
 * @param state A snapshot from `Optimizer.state()`.
 * @returns The restored replica.
 * @throws {UnknownNameError} When `state.name` is not an optimiser.
 *
 * @example Checkpoint QODA and continue from the snapshot
 * ```ts
 * import { createOptimizer, restoreOptimizer } from "@qoda/ring";
 * const oracle = (x: Float32Array, g: Float32Array) => g.set(x.map((v) => v - 1));
 * const single = async (_v: Float32Array) => {}; // one worker: the mean is v itself
 * const a = createOptimizer("qoda", new Float32Array([3, -2]), { lr: 0.5 });
 * for (let i = 0; i < 3; i++) await a.step(oracle, single);
 * const b = restoreOptimizer(structuredClone(a.state()));
 * if (b.name !== "qoda" || b.t !== 3) throw new Error("wrong restore");
 * for (let i = 0; i < 3; i++) await Promise.all([a.step(oracle, single), b.step(oracle, single)]);
 * if (a.params.join() !== b.params.join()) throw new Error("the restored replica diverged");
 * ```
 */
export function restoreOptimizer(state: OptimizerState): Optimizer {
  switch (state?.name) {
    case "qoda":
      return Qoda.restore(state);
    case "qgenx":
      return QGenX.restore(state);
    case "sgd":
      return Sgd.restore(state);
    case "adam":
    case "oadam":
      return Adam.restore(state);
    case "qoda-adagrad":
      return QodaAdagrad.restore(state);
    case "qoda-rms":
      return QodaRms.restore(state);
    default:
      throw new UnknownNameError(
        "optimizer state",
        String((state as { name?: unknown })?.name),
        OPTIMIZER_NAMES,
      );
  }
}

export { firstNonFinite } from "./_util.ts";
export type { OptimizerBase } from "./_base.ts";
export type {
  DualAveragingBase,
  DualAveragingOptions,
  DualAveragingRates,
  DualAveragingSnapshot,
} from "./_dual_averaging.ts";
export type { QodaError } from "../errors.ts";

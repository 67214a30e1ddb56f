/**
 * A tfjs model as a training problem: give its trainable variables and a
 * loss, and the runtime does the rest. The flat parameter vector, one layer
 * span per variable (so layer-wise quantization sees kernels, biases and
 * convolutions apart), loading a point into the variables, flattening the
 * gradients, and the worker's random state are this module's.
 *
 * @module
 */
import type { Scalar, Tensor, Variable } from "./types.ts";
import type { LayerSpan } from "../../runtime/collective/allreduce.ts";
import { Rng, type RngState } from "../../runtime/rng.ts";
import type { ProblemWorker, TrainProblem } from "../../actors/problem.ts";
import type { Tfjs } from "./backend/backend.ts";

/** What one worker's loss sees. */
export interface LossContext {
  /** This worker's rank. */
  rank: number;
  /** The number of workers. */
  size: number;
  /** This worker's own stream: draw its batch (from its shard) with it. */
  rng: Rng;
}

/** Options of {@linkcode tfjsProblem}. */
export interface TfjsProblemOptions {
  /** The tfjs namespace the variables live in. */
  tf: Tfjs;
  /** Name for logs and results. */
  name: string;
  /**
   * The trainable variables, in a fixed order. Their values when the problem
   * is built are X_1 (the runtime broadcasts the supervisor's, so every
   * replica starts from the same point however the ranks initialised theirs).
   */
  params: readonly Variable[];
  /**
   * One worker's loss on a fresh batch, computed from `params` (called inside
   * `tf.variableGrads`): a tensor of one element, such as what `tf.losses.*`
   * return. The gradient is its operator sample.
   */
  loss(ctx: LossContext): Tensor;
  /**
   * Quality figures with the variables at the point to evaluate; must include
   * `quality`. @default {the loss of rank 0 of 1 on a batch of a fixed seed, as `quality` and `loss`}
   */
  evaluate?(): Record<string, number> | Promise<Record<string, number>>;
  /** True when a smaller `quality` is better. @default {true} */
  lowerIsBetter?: boolean;
  /** Frees what the model holds (called when the runtime is done with the problem). */
  dispose?(): void;
}

/**
 * A {@linkcode TrainProblem} over tfjs variables: what a user's problem
 * module returns from its `createProblem`.
 *
 * @example Least squares with one weight matrix
 * ```ts
 * import { initBackend, tfjsProblem } from "@qoda/ring/tfjs";
 * import { Rng } from "@qoda/ring";
 *
 * const { tf } = await initBackend("cpu");
 * const w = tf.variable(tf.zeros([4, 1]), true, "lsq/kernel");
 * const problem = tfjsProblem({
 *   tf,
 *   name: "lsq",
 *   params: [w],
 *   loss: ({ rng }) => {
 *     const x = tf.tensor2d(Array.from({ length: 32 }, () => rng.normal()), [8, 4]);
 *     const y = x.sum(1, true); // the target weights are all ones
 *     return tf.losses.meanSquaredError(y, x.matMul(w));
 *   },
 * });
 * const g = new Float32Array(problem.dim);
 * problem.worker(0, 1, new Rng(1)).operator(problem.initial(), g);
 * if (problem.dim !== 4 || !(g[0] < 0)) throw new Error("the gradient points to the ones");
 * problem.dispose?.();
 * ```
 */
export function tfjsProblem(options: TfjsProblemOptions): TrainProblem {
  const { tf, params, loss, lowerIsBetter = true } = options;
  const names = new Set(params.map((v) => v.name));
  if (names.size !== params.length) {
    throw new TypeError(`tfjsProblem ${options.name}: variable names must be unique`);
  }
  const layers: LayerSpan[] = [];
  let dim = 0;
  for (const v of params) {
    layers.push({ name: v.name, shape: v.shape, offset: dim, length: v.size });
    dim += v.size;
  }
  const load = (x: Float32Array) => {
    if (x.length !== dim) {
      throw new RangeError(`${options.name}: a point of length ${x.length}, expected ${dim}`);
    }
    tf.tidy(() => {
      for (const [i, v] of params.entries()) {
        const l = layers[i];
        v.assign(tf.tensor(x.subarray(l.offset, l.offset + l.length), v.shape, "float32"));
      }
    });
  };
  const x1 = new Float32Array(dim);
  for (const [i, v] of params.entries()) x1.set(v.dataSync() as Float32Array, layers[i].offset);
  const lossOf = (ctx: LossContext) => tf.tidy(() => loss(ctx).dataSync()[0]);
  return {
    name: options.name,
    dim,
    layers,
    lowerIsBetter,
    initial: () => x1.slice(),
    evaluate: async (x) => {
      load(x);
      if (options.evaluate) return await options.evaluate();
      const value = lossOf({ rank: 0, size: 1, rng: new Rng(0x5eed) });
      return { quality: value, loss: value };
    },
    worker(rank: number, size: number, rng: Rng): ProblemWorker {
      const ctx: LossContext = { rank, size, rng };
      let last = NaN;
      return {
        operator(x: Float32Array, out: Float32Array) {
          load(x);
          const { value, grads } = tf.variableGrads(
            () => loss(ctx) as Scalar,
            params as Variable[],
          );
          try {
            last = value.dataSync()[0];
            for (const [i, v] of params.entries()) {
              out.set(grads[v.name].dataSync() as Float32Array, layers[i].offset);
            }
          } finally {
            value.dispose();
            tf.dispose(grads);
          }
        },
        scalars: () => ({ loss: last }),
        state: () => ctx.rng.state(),
        restore(state: unknown) {
          ctx.rng = Rng.fromState(state as RngState);
        },
      };
    },
    dispose: options.dispose,
  };
}

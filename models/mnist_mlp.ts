/**
 * The 784-128-10 MLP (ReLU hidden layer) as plain `tf.Variable`s.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { LinearOps } from "./tfjs/fqt/layers.ts";
import { Rng } from "../runtime/rng.ts";
import { type Classifier, makeParam, type Tfjs } from "./classifier.ts";
import { MNIST_CLASSES, MNIST_PIXELS } from "./mnist_data.ts";

/** Options of {@linkcode createMlp}. */
export interface MlpOptions {
  /** Hidden units. @default {128} */
  hidden?: number;
  /** Seed of the initial weights. @default {0} */
  seed?: number;
  /**
   * The linear ops, e.g. `new FqtOps(tf, …)` for fully quantized training (quantized backward
   * signal). @default plain float `matMul` + bias
   */
  ops?: LinearOps;
}

/**
 * Builds the MLP: `dense1` (784→hidden, ReLU) and `dense2` (hidden→10), kernels
 * Glorot-uniform from `seed`, biases zero. Parameters: `dense1/kernel`, `dense1/bias`,
 * `dense2/kernel`, `dense2/bias`. The caller disposes the model.
 *
 * @param tf The tfjs module (after the backend is chosen).
 * @param options Hidden width and seed.
 * @returns The classifier.
 *
 * @example
 * ```ts
 * import { initBackend } from "./tfjs/backend/backend.ts";
 * import { createMlp } from "./mnist_mlp.ts";
 * const { tf } = await initBackend("cpu");
 * const m = createMlp(tf, { seed: 1 });
 * const y = tf.tidy(() => m.logits(tf.zeros([2, 784])));
 * if (y.shape.join() !== "2,10") throw new Error();
 * y.dispose();
 * m.dispose();
 * ```
 */
export function createMlp(tf: Tfjs, options?: MlpOptions): Classifier {
  const { hidden = 128, seed = 0, ops } = options ?? {};
  const rng = new Rng(seed);
  const w1 = makeParam(tf, "dense1/kernel", [MNIST_PIXELS, hidden], rng);
  const b1 = makeParam(tf, "dense1/bias", [hidden]);
  const w2 = makeParam(tf, "dense2/kernel", [hidden, MNIST_CLASSES], rng);
  const b2 = makeParam(tf, "dense2/bias", [MNIST_CLASSES]);
  const params = [w1, b1, w2, b2];
  return {
    kind: "mlp",
    params,
    logits(x: tfjs.Tensor2D): tfjs.Tensor2D {
      const k1 = w1.variable as tfjs.Tensor2D, c1 = b1.variable as tfjs.Tensor1D;
      const k2 = w2.variable as tfjs.Tensor2D, c2 = b2.variable as tfjs.Tensor1D;
      if (ops !== undefined) {
        return ops.dense(tf.relu(ops.dense(x, k1, c1, "dense1")), k2, c2, "dense2");
      }
      const h = tf.relu(tf.add(tf.matMul(x, k1), c1));
      return tf.add(tf.matMul(h, k2), c2) as tfjs.Tensor2D;
    },
    dispose() {
      for (const p of params) p.variable.dispose();
    },
  };
}

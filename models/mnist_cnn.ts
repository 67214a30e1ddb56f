/**
 * A small CNN for MNIST: conv 3×3×8 (ReLU) → max-pool 2 → conv 3×3×16 stride 2 (ReLU) →
 * dense 784→10. Training it on the wasm backend needs the `Conv2DBackpropFilter` kernel that
 * `initBackend` registers.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { LinearOps } from "./tfjs/fqt/layers.ts";
import { Rng } from "../runtime/rng.ts";
import { type Classifier, makeParam, type Tfjs } from "./classifier.ts";
import { MNIST_CLASSES } from "./mnist_data.ts";

/** Options of {@linkcode createCnn}. */
export interface CnnOptions {
  /** Channels of the first convolution. @default {8} */
  filters1?: number;
  /** Channels of the second convolution. @default {16} */
  filters2?: number;
  /** Seed of the initial weights. @default {0} */
  seed?: number;
  /**
   * The linear ops, e.g. `new FqtOps(tf, …)` for fully quantized training (quantized backward
   * signal). @default plain float `conv2d`/`matMul` + bias
   */
  ops?: LinearOps;
}

/**
 * Builds the CNN. Parameters: `conv1/kernel` [3,3,1,f1], `conv1/bias`, `conv2/kernel`
 * [3,3,f1,f2], `conv2/bias`, `dense/kernel` [7·7·f2, 10], `dense/bias`. The caller disposes it.
 *
 * @param tf The tfjs module (after the backend is chosen).
 * @param options Widths and seed.
 * @returns The classifier.
 *
 * @example
 * ```ts
 * import { initBackend } from "./tfjs/backend/backend.ts";
 * import { createCnn } from "./mnist_cnn.ts";
 * const { tf } = await initBackend("cpu");
 * const m = createCnn(tf, { seed: 1 });
 * const y = tf.tidy(() => m.logits(tf.zeros([2, 784])));
 * if (y.shape.join() !== "2,10") throw new Error();
 * y.dispose();
 * m.dispose();
 * ```
 */
export function createCnn(tf: Tfjs, options?: CnnOptions): Classifier {
  const { filters1 = 8, filters2 = 16, seed = 0, ops } = options ?? {};
  const rng = new Rng(seed);
  const k1 = makeParam(tf, "conv1/kernel", [3, 3, 1, filters1], rng);
  const c1 = makeParam(tf, "conv1/bias", [filters1]);
  const k2 = makeParam(tf, "conv2/kernel", [3, 3, filters1, filters2], rng);
  const c2 = makeParam(tf, "conv2/bias", [filters2]);
  const w = makeParam(tf, "dense/kernel", [7 * 7 * filters2, MNIST_CLASSES], rng);
  const b = makeParam(tf, "dense/bias", [MNIST_CLASSES]);
  const params = [k1, c1, k2, c2, w, b];
  return {
    kind: "cnn",
    params,
    logits(x: tfjs.Tensor2D): tfjs.Tensor2D {
      const n = x.shape[0];
      const img = tf.reshape(x, [n, 28, 28, 1]) as tfjs.Tensor4D;
      const conv = (
        input: tfjs.Tensor4D,
        k: tfjs.Tensor4D,
        c: tfjs.Tensor1D,
        s: number,
        name: string,
      ) =>
        ops !== undefined
          ? ops.conv2d(input, k, c, s, "same", name)
          : tf.add(tf.conv2d(input, k, s, "same"), c) as tfjs.Tensor4D;
      const h1 = tf.relu(
        conv(img, k1.variable as tfjs.Tensor4D, c1.variable as tfjs.Tensor1D, 1, "conv1"),
      );
      const p1 = tf.maxPool(h1, 2, 2, "valid");
      const h2 = tf.relu(
        conv(p1, k2.variable as tfjs.Tensor4D, c2.variable as tfjs.Tensor1D, 2, "conv2"),
      );
      const flat = tf.reshape(h2, [n, 7 * 7 * filters2]) as tfjs.Tensor2D;
      const kernel = w.variable as tfjs.Tensor2D, bias = b.variable as tfjs.Tensor1D;
      return ops !== undefined
        ? ops.dense(flat, kernel, bias, "dense")
        : tf.add(tf.matMul(flat, kernel), bias) as tfjs.Tensor2D;
    },
    dispose() {
      for (const p of params) p.variable.dispose();
    },
  };
}

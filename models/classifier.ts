/**
 * What the MNIST models share: a classifier made of named `tf.Variable`s, one function that
 * computes a batch's loss and every parameter's gradient as `Float32Array`s (what the
 * compressed all-gather consumes), evaluation, and pure loss/accuracy helpers over plain arrays.
 *
 * @module
 */
import type { Scalar, Tensor1D, Tensor2D, Tfjs, Variable } from "./tfjs/types.ts";
import type { LayerInfo } from "../runtime/quant/types.ts";
import type { Rng } from "../runtime/rng.ts";
import { type Dataset, MNIST_CLASSES, MNIST_PIXELS } from "./mnist_data.ts";

/** The tfjs namespace (see `models/tfjs/types.ts`). */
export type { Tfjs };

/** One trainable parameter: the quantizer's layer info plus its variable. */
export interface Param extends LayerInfo {
  /** Layer name given to the quantizer, e.g. `"dense1/kernel"`. */
  readonly name: string;
  /** Tensor shape. */
  readonly shape: readonly number[];
  /** The variable (its tfjs name is unique per process and differs from `name`). */
  readonly variable: Variable;
}

/** A classifier of 28×28 digits into 10 classes. */
export interface Classifier {
  /** Which architecture. */
  readonly kind: string;
  /** Trainable parameters, in a fixed order (gradients come back in this order). */
  readonly params: readonly Param[];
  /**
   * Logits for a batch. The caller owns (disposes) the result; call inside `tf.tidy`.
   * @param x `[B, 784]` pixels.
   * @returns `[B, 10]` logits.
   */
  logits(x: Tensor2D): Tensor2D;
  /** Frees every variable. */
  dispose(): void;
}

/** Total number of scalar parameters of a classifier. */
export function paramCount(model: Classifier): number {
  return model.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Glorot-uniform initial values drawn from our own seeded {@linkcode Rng}, so a run's initial
 * model depends only on its seed, not on the backend.
 *
 * @param shape Kernel shape; fan-in and fan-out follow tfjs (receptive field × channels).
 * @param rng Source of randomness.
 * @returns The values, row-major.
 */
export function glorotUniform(shape: readonly number[], rng: Rng): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  let fanIn: number, fanOut: number;
  if (shape.length === 2) {
    [fanIn, fanOut] = shape as [number, number];
  } else {
    const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
    fanIn = receptive * shape[shape.length - 2];
    fanOut = receptive * shape[shape.length - 1];
  }
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = (2 * rng.nextFloat() - 1) * limit;
  return out;
}

/**
 * Creates a parameter: a kernel (Glorot-uniform from `rng`) or, with `rng` undefined, zeros.
 *
 * @param tf The tfjs module.
 * @param name Layer name for the quantizer.
 * @param shape Tensor shape.
 * @param rng Randomness of the initial values; zeros when undefined.
 * @returns The parameter; its variable belongs to the model (freed by its `dispose`).
 */
export function makeParam(tf: Tfjs, name: string, shape: number[], rng?: Rng): Param {
  const values = rng ? glorotUniform(shape, rng) : new Float32Array(shape.reduce((a, b) => a * b));
  const variable = tf.variable(tf.tensor(values, shape, "float32"), true);
  return { name, shape, variable };
}

/**
 * Mean softmax cross-entropy of a batch, computed in tfjs (for gradients).
 * The caller owns the result.
 *
 * @param tf The tfjs module.
 * @param logits `[B, 10]`.
 * @param labels `[B]` int32 class indices.
 * @returns A scalar.
 */
export function tfLoss(tf: Tfjs, logits: Tensor2D, labels: Tensor1D): Scalar {
  const oneHot = tf.oneHot(labels, MNIST_CLASSES);
  return tf.losses.softmaxCrossEntropy(oneHot, logits) as Scalar;
}

/**
 * One worker's forward and backward pass: the batch loss and the gradient of every parameter,
 * copied out of tfjs as `Float32Array`s in `model.params` order. Frees every tensor it makes.
 *
 * @param tf The tfjs module.
 * @param model The classifier.
 * @param images `B × 784` pixels.
 * @param labels `B` labels.
 * @returns The loss and the gradients.
 */
export function lossAndGrads(
  tf: Tfjs,
  model: Classifier,
  images: Float32Array,
  labels: Uint8Array,
): { loss: number; grads: Float32Array[] } {
  const b = labels.length;
  const vars = model.params.map((p) => p.variable);
  const { value, grads } = tf.tidy(() => {
    const x = tf.tensor2d(images, [b, MNIST_PIXELS]);
    const y = tf.tensor1d(Int32Array.from(labels), "int32");
    return tf.variableGrads(() => tfLoss(tf, model.logits(x), y), vars);
  });
  const loss = value.dataSync()[0];
  value.dispose();
  const out = vars.map((v) => {
    const g = grads[v.name];
    // Copy: on the cpu backend dataSync() hands back the tensor's own storage.
    const data = Float32Array.from(g.dataSync() as Float32Array);
    g.dispose();
    return data;
  });
  return { loss, grads: out };
}

/**
 * Logits of a whole dataset as one `Float32Array` (`count × 10`), computed in chunks.
 *
 * @param tf The tfjs module.
 * @param model The classifier.
 * @param data The images.
 * @param chunk Images per forward pass.
 * @returns Row-major logits.
 */
export function predictLogits(
  tf: Tfjs,
  model: Classifier,
  data: Dataset,
  chunk = 1000,
): Float32Array {
  const out = new Float32Array(data.count * MNIST_CLASSES);
  for (let i = 0; i < data.count; i += chunk) {
    const n = Math.min(chunk, data.count - i);
    const t = tf.tidy(() =>
      model.logits(
        tf.tensor2d(data.images.subarray(i * MNIST_PIXELS, (i + n) * MNIST_PIXELS), [
          n,
          MNIST_PIXELS,
        ]),
      )
    );
    out.set(t.dataSync() as Float32Array, i * MNIST_CLASSES);
    t.dispose();
  }
  return out;
}

/**
 * Mean softmax cross-entropy of row-major logits against labels (pure, float64 math).
 *
 * @param logits `n × classes` values.
 * @param labels `n` class indices.
 * @param classes Number of classes.
 * @returns The mean loss in nats.
 *
 * @example
 * ```ts
 * import { crossEntropy } from "./classifier.ts";
 * const l = crossEntropy(new Float32Array([0, 0]), new Uint8Array([1]), 2);
 * if (Math.abs(l - Math.LN2) > 1e-12) throw new Error();
 * ```
 */
export function crossEntropy(
  logits: Float32Array,
  labels: Uint8Array,
  classes = MNIST_CLASSES,
): number {
  checkShapes(logits, labels, classes);
  let total = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    let max = -Infinity;
    for (let c = 0; c < classes; c++) if (row[c] > max) max = row[c];
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(row[c] - max);
    total += Math.log(sum) + max - row[labels[i]];
  }
  return labels.length ? total / labels.length : 0;
}

/**
 * Fraction of rows whose largest logit is at the label (ties go to the lowest class).
 *
 * @param logits `n × classes` values.
 * @param labels `n` class indices.
 * @param classes Number of classes.
 * @returns Accuracy in [0, 1] (0 for no rows).
 *
 * @example
 * ```ts
 * import { accuracy } from "./classifier.ts";
 * const a = accuracy(new Float32Array([1, 0, 0, 1]), new Uint8Array([0, 0]), 2);
 * if (a !== 0.5) throw new Error();
 * ```
 */
export function accuracy(
  logits: Float32Array,
  labels: Uint8Array,
  classes = MNIST_CLASSES,
): number {
  checkShapes(logits, labels, classes);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) {
      if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    }
    if (best === labels[i]) correct++;
  }
  return labels.length ? correct / labels.length : 0;
}

function checkShapes(logits: Float32Array, labels: Uint8Array, classes: number): void {
  if (logits.length !== labels.length * classes) {
    throw new RangeError(
      `logits has length ${logits.length}, expected ${labels.length} labels × ${classes} classes`,
    );
  }
}

/**
 * Test loss and accuracy of a model on a dataset.
 *
 * @param tf The tfjs module.
 * @param model The classifier.
 * @param data The held-out set.
 * @returns Mean loss and accuracy.
 */
export function evaluate(
  tf: Tfjs,
  model: Classifier,
  data: Dataset,
): { loss: number; accuracy: number } {
  const logits = predictLogits(tf, model, data);
  return { loss: crossEntropy(logits, data.labels), accuracy: accuracy(logits, data.labels) };
}

/**
 * Differentiable building blocks of the GAN networks whose gradients stay on
 * fast kernels of the wasm backend, twice over (WGAN-GP differentiates the
 * critic's input gradient once more):
 *
 * - `matMul` with transpose flags runs about 10× slower than a plain `matMul`
 *   on wasm (12 ms against 1 ms for 64×784 by 784×256), and tfjs's own
 *   `MatMul` gradient uses the flags; {@linkcode Ops.dense} transposes
 *   explicitly instead.
 * - wasm's `Conv2DBackpropInput` (the input gradient of `conv2d`, and
 *   `conv2dTranspose`) is a naive loop, 5–13× slower than `conv2d`;
 *   {@linkcode Ops.conv} (stride 1, "same", odd square kernels) computes the
 *   input gradient as a `conv2d` with the flipped kernel.
 * - `leakyRelu`'s gradient uses `Greater`, which has no gradient itself, so
 *   it cannot be differentiated twice; {@linkcode Ops.lrelu} is built from
 *   `relu`, whose gradient can.
 *
 * Strided convolutions are replaced by {@linkcode Ops.unshuffle}
 * (space-to-depth) and {@linkcode Ops.shuffle} (depth-to-space, sub-pixel
 * convolution), built from reshapes and a rank-4 transpose.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { Tensor, Tensor2D, Tensor4D, Tfjs } from "../tfjs/types.ts";

export type { Tfjs };

/** The differentiable operations of the GAN networks, bound to one tfjs module. */
export interface Ops {
  /** `x @ w` for `[B, n]` by `[n, m]`; gradients without transpose flags. */
  dense(x: Tensor, w: Tensor): Tensor2D;
  /** 3×3 (any odd k) stride-1 "same" convolution, NHWC; input gradient by conv2d. */
  conv(x: Tensor, w: Tensor): Tensor4D;
  /** Leaky ReLU, slope `alpha` below 0, twice differentiable in tfjs. */
  lrelu(x: Tensor, alpha?: number): Tensor;
  /** Depth-to-space by 2: `[B, H, W, 4C]` → `[B, 2H, 2W, C]`. */
  shuffle(x: Tensor4D): Tensor4D;
  /** Space-to-depth by 2: `[B, 2H, 2W, C]` → `[B, H, W, 4C]` (inverse of `shuffle`). */
  unshuffle(x: Tensor4D): Tensor4D;
}

/** What the function given to {@linkcode customGradient} returns. */
export interface CustomGradientResult {
  /** The op's value. */
  value: Tensor;
  /** The gradient of each input, given dy and the tensors passed to `save`. */
  gradFunc: (dy: Tensor, saved: Tensor[]) => Tensor | Tensor[];
}

/**
 * `tf.customGrad` with the inputs as an array and `save` apart (tfjs passes
 * `save` as the last argument, which its types do not express well).
 *
 * @param tf The tfjs module.
 * @param f The op: inputs and `save` to the value and gradient function.
 * @returns The op.
 */
export function customGradient(
  tf: Tfjs,
  f: (inputs: Tensor[], save: tfjs.GradSaveFunc) => CustomGradientResult,
): (...inputs: Tensor[]) => Tensor {
  return tf.customGrad((...args: (Tensor | tfjs.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tfjs.GradSaveFunc;
    return f(args.slice(0, -1) as Tensor[], save);
  });
}

/**
 * Builds {@linkcode Ops} for `tf`. Every op is an ordinary tfjs op for the
 * caller: call it inside `tf.tidy` (or a gradient function) and dispose the
 * results as usual.
 *
 * @param tf The tfjs module.
 * @returns The operations.
 */
export function createOps(tf: Tfjs): Ops {
  type T = Tensor;
  const dense = customGradient(tf, ([a, b], save) => {
    save([a, b]);
    return {
      value: tf.matMul(a as Tensor2D, b as Tensor2D),
      gradFunc: (dy, [sa, sb]) => [dense(dy, tf.transpose(sb)), dense(tf.transpose(sa), dy)],
    };
  }) as (a: T, b: T) => Tensor2D;

  const flip = (w: T): T => tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]);
  const filterGrad = (x: T, dy: T, shape: number[]): T =>
    tf.engine().runKernel(
      "Conv2DBackpropFilter",
      { x, dy } as unknown as tfjs.NamedTensorMap,
      {
        strides: 1,
        pad: "same",
        dataFormat: "NHWC",
        dimRoundingMode: undefined,
        filterShape: shape,
      } as unknown as tfjs.NamedAttrMap,
    ) as T;
  const conv = customGradient(tf, ([x, w], save) => {
    const [kh, kw] = w.shape;
    if (kh !== kw || kh % 2 !== 1) {
      throw new RangeError(`conv needs an odd square kernel, got [${w.shape}]`);
    }
    save([x, w]);
    return {
      value: tf.conv2d(x as Tensor4D, w as Tensor4D, 1, "same"),
      gradFunc: (dy, [sx, sw]) => [conv(dy, flip(sw)), filterGrad(sx, dy, sw.shape)],
    };
  }) as (x: T, w: T) => Tensor4D;

  return {
    dense,
    conv,
    lrelu: (x, alpha = 0.2) => tf.add(tf.mul(alpha, x), tf.mul(1 - alpha, tf.relu(x))),
    shuffle(x) {
      const [b, h, w, c4] = x.shape;
      if (c4 % 4 !== 0) throw new RangeError(`shuffle needs channels divisible by 4, got ${c4}`);
      const c = c4 / 4;
      const t = tf.transpose(tf.reshape(x, [b * h, w, 2, 2 * c]), [0, 2, 1, 3]);
      return tf.reshape(t, [b, 2 * h, 2 * w, c]);
    },
    unshuffle(x) {
      const [b, h2, w2, c] = x.shape;
      if (h2 % 2 !== 0 || w2 % 2 !== 0) {
        throw new RangeError(`unshuffle needs even height and width, got [${x.shape}]`);
      }
      const h = h2 / 2, w = w2 / 2;
      const t = tf.transpose(tf.reshape(x, [b * h, 2, w, 2 * c]), [0, 2, 1, 3]);
      return tf.reshape(t, [b, h, w, 4 * c]);
    },
  };
}

/**
 * Fully quantized training (FQT) layers for tfjs: dense and conv2d ops whose forward pass is the
 * usual float op and whose backward pass continues with stochastically quantized copies of the
 * output gradient, one for the weight gradient and an independent one for the input gradient
 * (gradient bifurcation; the quantizers are in {@linkcode ./signal.ts}). Built with
 * `tf.customGrad`, so they work inside `tf.grads` and `tf.variableGrads` like any op.
 *
 * The forward pass is not quantized here (activations and weights stay float): this isolates
 * the backward quantization that the statistical FQT framework analyses. Each backward pass
 * reads the gradient out of tfjs (`dataSync`), quantizes it in plain TypeScript and hands it
 * back, so it costs a device-to-host copy per layer.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { Tensor, Tensor1D, Tensor2D, Tensor4D, Tfjs } from "../types.ts";
import { QodaError } from "../../../runtime/errors.ts";
import { Rng } from "../../../runtime/rng.ts";
import type { QuantizeStats } from "../../../runtime/quant/types.ts";
import {
  createSignalQuantizers,
  type FqtScheme,
  quantizeSignal,
  type SignalQuantizer,
  type SignalQuantizers,
} from "./signal.ts";

export type { Tfjs };

/** Padding of {@linkcode LinearOps.conv2d}. */
export type Padding = "same" | "valid";

/**
 * The linear ops a model is built from; {@linkcode floatOps} is the plain float version and
 * {@linkcode FqtOps} the fully quantized one. Results are owned by the caller (call inside
 * `tf.tidy`).
 */
export interface LinearOps {
  /**
   * `x·W + b`.
   * @param x `[N, in]`.
   * @param w `[in, out]`.
   * @param b `[out]`.
   * @param name Layer name (for error messages and statistics).
   */
  dense(x: Tensor2D, w: Tensor2D, b: Tensor1D, name: string): Tensor2D;
  /**
   * `conv2d(x, W, strides, padding) + b` (NHWC).
   * @param x `[N, H, W, Cin]`.
   * @param w `[kh, kw, Cin, Cout]`.
   * @param b `[Cout]`.
   * @param strides Stride (both directions).
   * @param padding `"same"` or `"valid"`.
   * @param name Layer name.
   */
  conv2d(
    x: Tensor4D,
    w: Tensor4D,
    b: Tensor1D,
    strides: number,
    padding: Padding,
    name: string,
  ): Tensor4D;
}

/**
 * The float ops (exact gradients).
 *
 * @param tf The tfjs module.
 * @returns Plain `matMul`/`conv2d` plus bias.
 */
export function floatOps(tf: Tfjs): LinearOps {
  return {
    dense: (x, w, b) => tf.add(tf.matMul(x, w), b) as Tensor2D,
    conv2d: (x, w, b, strides, padding) => tf.add(tf.conv2d(x, w, strides, padding), b) as Tensor4D,
  };
}

/** Options of {@linkcode FqtOps}. */
export interface FqtOptions {
  /** `"ptq"`, `"psq"` or `"bhq"`. */
  scheme: FqtScheme | string;
  /** Bits of the backward signal (1..16). */
  bits: number;
  /** Seed of the stochastic rounding (ignored when `rng` is given). @default {0} */
  seed?: number;
  /** Randomness of the stochastic rounding. @default {new Rng(seed)} */
  rng?: Rng;
  /**
   * Replaces the quantizers (tests inject biased ones to check that a bias is detected).
   * @default {createSignalQuantizers(scheme, bits)}
   */
  quantizers?: SignalQuantizers;
  /**
   * Called after each quantization with the layer, path, signal and its quantized copy
   * (for tests and diagnostics; the arrays must not be kept).
   * @default none
   */
  inspect?: (
    layer: string,
    path: "input" | "weight",
    dy: Float32Array,
    quantized: Float32Array,
  ) => void;
}

/** ε_Q of one path: Σ‖Q(dy) − dy‖² / Σ‖dy‖² so far. */
export interface PathStats {
  /** Σ‖Q(dy) − dy‖². */
  sqError: number;
  /** Σ‖dy‖². */
  sqNorm: number;
}

/**
 * FQT versions of dense and conv2d; implements {@linkcode LinearOps}. The
 * forward pass is the float op; the backward pass quantizes the output
 * gradient stochastically, once for the weight gradient and independently
 * once for the input gradient.
 *
 * @example The quantized gradient of a dense layer
 * ```ts
 * import { floatOps, FqtOps, initBackend, type Tensor1D, type Tensor2D } from "@qoda/ring/tfjs";
 * const { tf } = await initBackend("cpu");
 * const ops = new FqtOps(tf, { scheme: "psq", bits: 5, seed: 1 });
 * const x = tf.randomNormal([8, 4], 0, 1, "float32", 1) as Tensor2D;
 * const w = tf.randomNormal([4, 3], 0, 1, "float32", 2) as Tensor2D;
 * const b = tf.zeros([3]) as Tensor1D;
 * // The forward pass is the float op's.
 * const y = ops.dense(x, w, b, "dense").dataSync();
 * const yFloat = floatOps(tf).dense(x, w, b, "dense").dataSync();
 * if (y.some((v, i) => v !== yFloat[i])) throw new Error("the forward pass changed");
 * const [dx, dw, db] = tf.grads((x, w, b) =>
 *   ops.dense(x as Tensor2D, w as Tensor2D, b as Tensor1D, "dense").square().sum()
 * )([x, w, b]);
 * if (dx.shape.join() !== "8,4" || dw.shape.join() !== "4,3" || db.shape.join() !== "3") {
 *   throw new Error("wrong gradient shapes");
 * }
 * // One backward pass, both paths quantized with a small relative error.
 * const { input, weight } = ops.stats;
 * if (ops.backwardPasses !== 1 || !(weight.sqNorm > 0 && input.sqNorm > 0)) throw new Error();
 * if (!(weight.sqError / weight.sqNorm < 0.1)) throw new Error("5 bits are not that coarse");
 * ```
 */
export class FqtOps implements LinearOps {
  /** The scheme. */
  readonly scheme: string;
  /** Bits of the backward signal. */
  readonly bits: number;
  /** Backward passes through any layer so far. */
  backwardPasses = 0;
  /** Quantization error per path, summed over layers and passes. */
  readonly stats: { input: PathStats; weight: PathStats } = {
    input: { sqError: 0, sqNorm: 0 },
    weight: { sqError: 0, sqNorm: 0 },
  };
  readonly #tf: Tfjs;
  readonly #rng: Rng;
  readonly #q: SignalQuantizers;
  readonly #inspect: FqtOptions["inspect"];
  readonly #dense: (...args: Tensor[]) => Tensor;
  readonly #convs = new Map<string, (...args: Tensor[]) => Tensor>();
  #denseName = "";

  /**
   * Creates the ops; every backward pass draws its rounding from one stream.
   *
   * @param tf The tfjs module.
   * @param options Scheme, bits, randomness.
   * @throws {UnknownNameError} Unknown scheme (lists ptq, psq, bhq).
   * @throws {QuantizationError} Bits out of range.
   */
  constructor(tf: Tfjs, options: FqtOptions) {
    const { scheme, bits, seed = 0, rng, quantizers, inspect } = options;
    this.#q = quantizers ?? createSignalQuantizers(scheme, bits);
    this.scheme = scheme;
    this.bits = bits;
    this.#tf = tf;
    this.#rng = rng ?? new Rng(seed);
    this.#inspect = inspect;
    this.#dense = tf.customGrad((...args) => {
      const [x, w, b, save] = args as [
        Tensor2D,
        Tensor2D,
        Tensor1D,
        (t: Tensor[]) => void,
      ];
      save([x, w]);
      const name = this.#denseName;
      return {
        value: tf.add(tf.matMul(x, w), b),
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [sx, sw] = saved as [Tensor2D, Tensor2D];
          const [forW, forX] = this.#bifurcate(dy, name);
          return [
            tf.matMul(forX as Tensor2D, sw, false, true),
            tf.matMul(sx, forW as Tensor2D, true, false),
            tf.sum(forW, 0),
          ];
        },
      };
    });
  }

  /** Quantizes `dy` twice, independently: `[for ∇W, for ∇X]`, as tensors of dy's shape. */
  #bifurcate(dy: Tensor, name: string): [Tensor, Tensor] {
    const tf = this.#tf;
    const shape = dy.shape;
    const rows = shape[0];
    const cols = dy.size / Math.max(1, rows);
    const data = dy.dataSync() as Float32Array;
    const signal = data instanceof Float32Array ? data : Float32Array.from(data);
    this.backwardPasses++;
    const forW = this.#quantize(signal, rows, cols, this.#q.weight, name, "weight");
    const forX = this.#quantize(signal, rows, cols, this.#q.input, name, "input");
    return [tf.tensor(forW, shape, "float32"), tf.tensor(forX, shape, "float32")];
  }

  #quantize(
    signal: Float32Array,
    rows: number,
    cols: number,
    q: SignalQuantizer,
    name: string,
    path: "input" | "weight",
  ): Float32Array {
    const s: QuantizeStats = { sqError: 0, sqNorm: 0 };
    let out: Float32Array;
    try {
      out = quantizeSignal(signal, rows, cols, q, this.#rng, `${name}/${path}`, s);
    } catch (err) {
      throw new QodaError(
        `FQT ${q.label} ${this.bits}-bit backward quantization of layer '${name}' (${path} ` +
          `gradient, ${rows}×${cols}) failed: ${err instanceof Error ? err.message : err}`,
        { cause: err },
      );
    }
    this.stats[path].sqError += s.sqError;
    this.stats[path].sqNorm += s.sqNorm;
    this.#inspect?.(name, path, signal, out);
    return out;
  }

  /** {@linkcode LinearOps.dense} with a quantized backward pass. */
  dense(x: Tensor2D, w: Tensor2D, b: Tensor1D, name: string): Tensor2D {
    if (x.shape[1] !== w.shape[0]) {
      throw new RangeError(
        `layer '${name}': input has ${x.shape[1]} features but the kernel expects ${w.shape[0]}`,
      );
    }
    // customGrad's function runs synchronously inside this call, so the name is passed through
    // a field rather than a tensor argument.
    this.#denseName = name;
    return this.#dense(x, w, b) as Tensor2D;
  }

  /** {@linkcode LinearOps.conv2d} with a quantized backward pass. */
  conv2d(
    x: Tensor4D,
    w: Tensor4D,
    b: Tensor1D,
    strides: number,
    padding: Padding,
    name: string,
  ): Tensor4D {
    if (x.shape[3] !== w.shape[2]) {
      throw new RangeError(
        `layer '${name}': input has ${x.shape[3]} channels but the kernel expects ${w.shape[2]}`,
      );
    }
    const key = `${name}|${strides}|${padding}`;
    let op = this.#convs.get(key);
    if (op === undefined) {
      op = this.#makeConv(name, strides, padding);
      this.#convs.set(key, op);
    }
    return op(x, w, b) as Tensor4D;
  }

  #makeConv(name: string, strides: number, padding: Padding) {
    const tf = this.#tf;
    return tf.customGrad((...args) => {
      const [x, w, b, save] = args as [
        Tensor4D,
        Tensor4D,
        Tensor1D,
        (t: Tensor[]) => void,
      ];
      save([x, w]);
      return {
        value: tf.add(tf.conv2d(x, w, strides, padding), b),
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [sx, sw] = saved as [Tensor4D, Tensor4D];
          const [forW, forX] = this.#bifurcate(dy, name);
          const dx = tf.conv2dTranspose(
            forX as Tensor4D,
            sw,
            sx.shape,
            strides,
            padding,
          );
          // The filter gradient has no public op; run the kernel tf.conv2d's own gradient uses.
          const dw = tf.engine().runKernel("Conv2DBackpropFilter", { x: sx, dy: forW }, {
            strides: [strides, strides],
            pad: padding,
            dataFormat: "NHWC",
            dimRoundingMode: undefined,
            filterShape: sw.shape,
          } as unknown as tfjs.NamedAttrMap) as Tensor;
          return [dx, dw, tf.sum(forW, [0, 1, 2])];
        },
      };
    });
  }

  /** ε_Q per path so far (0 before the first backward pass). */
  epsQ(): { input: number; weight: number } {
    const e = (s: PathStats) => s.sqNorm > 0 ? s.sqError / s.sqNorm : 0;
    return { input: e(this.stats.input), weight: e(this.stats.weight) };
  }
}

/**
 * The generator/critic pairs of the WGAN, as parameter specifications plus
 * forward functions over tfjs tensors. No state: {@linkcode GanNetworks}
 * holds the variables.
 *
 * Three pairs:
 *
 * - `mlp` on MNIST: G: z → 128 → 256 → 784 (ReLU, tanh out);
 *   D: 784 → 256 → 128 → 1 (leaky ReLU 0.2).
 * - `mlp` on the 2-D mixtures: G: z → 64 → 64 → 2 (ReLU, linear out);
 *   D: 2 → 64 → 64 → 1 (leaky ReLU 0.2).
 * - `dcgan` (MNIST only), a DCGAN-style convolutional pair at 28×28 whose
 *   up- and down-sampling are sub-pixel (depth-to-space) instead of strided
 *   (transposed) convolutions, so that every gradient, and the critic's
 *   second-order one, runs on fast wasm kernels:
 *   G: z → dense 7·7·c2 → ReLU → conv3×3 → 4·c1 → depth-to-space (14×14×c1)
 *   → ReLU → conv3×3 → 4 → depth-to-space (28×28×1) → tanh;
 *   D: space-to-depth (14×14×4) → conv3×3 → c1 → lReLU → space-to-depth
 *   (7×7×4·c1) → conv3×3 → c2 → lReLU → dense 1; (c1, c2) = (16, 32).
 *
 * **Parameterisation** ({@linkcode ArchitectureOptions.parameterization}).
 * `"equalized"` (equalized learning rate, the default): every kernel is
 * stored with unit-variance entries (initialised N(0, 1)) and multiplied in
 * the forward pass by its He constant `gain/√fan_in` (gain √2 before ReLU,
 * √(2/(1 + 0.2²)) before leaky ReLU, 1 before the output); biases are
 * stored as is and start at 0. The operator's coordinates then have
 * comparable scales across layers, which matters for an optimiser with one
 * step size for all coordinates such as QODA. `"standard"`: every kernel is
 * stored as the forward pass uses it, and kernels and biases start uniform
 * in ±1/√fan_in (PyTorch's `nn.Linear` and `nn.Conv2d` defaults); the
 * random biases spread the first layer's hinges over the plane instead of
 * through the origin.
 *
 * @module
 */
import type { Tensor, Tensor2D, Tensor4D, Tfjs } from "../tfjs/types.ts";
import { UnknownNameError } from "../../runtime/errors.ts";
import type { Ops } from "./_ops.ts";

/** Architectures {@linkcode ganArchitecture} knows. */
export const GAN_ARCHS = ["mlp", "dcgan"] as const;
/** One of {@linkcode GAN_ARCHS}. */
export type GanArch = typeof GAN_ARCHS[number];

/** One trainable tensor of a network. */
export interface ParamSpec {
  /** Layer name for the quantizer, e.g. `"gen/dense1/kernel"` or `"critic/conv2/bias"`. */
  readonly name: string;
  /** Tensor shape. */
  readonly shape: readonly number[];
  /** Layer type for the layer-wise quantizer: `"dense"`, `"conv"` or `"bias"`. */
  readonly type: "dense" | "conv" | "bias";
  /** Forward-pass multiplier (the He constant of a kernel, 1 for a bias). */
  readonly scale: number;
  /** Standard deviation of the stored initial values (0: zeros). */
  readonly initStd: number;
  /** Their distribution: N(0, initStd²), or uniform with that standard deviation. */
  readonly initDist: "normal" | "uniform";
  /** Number of elements. */
  readonly size: number;
}

/** A generator/critic pair: parameters and forward passes. */
export interface GanArchitecture {
  /** Which pair. */
  readonly arch: GanArch;
  /** Length of the latent vector z. */
  readonly latentDim: number;
  /** Length of a sample (784 for MNIST, 2 for the mixtures). */
  readonly sampleDim: number;
  /** Samples per critic input (see {@linkcode ArchitectureOptions.pack}); 1 for `dcgan`. */
  readonly pack: number;
  /** How kernels are stored and initialised (see the module doc). */
  readonly parameterization: Parameterization;
  /** The generator's parameters, in flat-vector order. */
  readonly generator: readonly ParamSpec[];
  /** The critic's parameters, in flat-vector order (after the generator's). */
  readonly critic: readonly ParamSpec[];
  /**
   * G(z): `[B, latentDim]` → `[B, sampleDim]`. `params` are the generator's
   * tensors in {@linkcode GanArchitecture.generator} order.
   */
  generate(
    tf: Tfjs,
    ops: Ops,
    params: readonly Tensor[],
    z: Tensor,
  ): Tensor2D;
  /** D(x): `[B, sampleDim]` → `[B / pack, 1]`; `params` in critic order. */
  criticize(
    tf: Tfjs,
    ops: Ops,
    params: readonly Tensor[],
    x: Tensor,
  ): Tensor2D;
}

/** Parameterisations {@linkcode ganArchitecture} knows (see the module doc). */
export const PARAMETERIZATIONS = ["equalized", "standard"] as const;
/** One of {@linkcode PARAMETERIZATIONS}. */
export type Parameterization = typeof PARAMETERIZATIONS[number];

/** Options of {@linkcode ganArchitecture}. */
export interface ArchitectureOptions {
  /** `"mlp"` or `"dcgan"`. */
  arch: string;
  /** Length of a sample: 784 (MNIST 28×28) or 2 (mixtures). */
  sampleDim: number;
  /** Length of z. */
  latentDim: number;
  /**
   * `mlp`: the generator's hidden widths (the critic uses them reversed).
   * `dcgan`: the channels (c1, c2). @default {[128, 256] for 784, [64, 64] for 2, [16, 32] for dcgan}
   */
  widths?: readonly number[];
  /**
   * `mlp`: samples the critic sees at once (PacGAN's packing, Lin et al.
   * 2018): it scores each run of `pack` consecutive samples of a batch,
   * concatenated, as one input, so `criticize` maps `[B, sampleDim]` to
   * `[B / pack, 1]` (B a multiple of `pack`). A packed critic sees how a
   * batch is spread, which punishes a generator that drops modes. @default {1}
   */
  pack?: number;
  /**
   * `"equalized"`: kernels stored in units of their He constant, N(0, 1),
   * biases 0; `"standard"`: kernels stored as used, kernels and biases
   * uniform in ±1/√fan_in (PyTorch's defaults). See the module doc.
   * @default {"equalized"}
   */
  parameterization?: string;
}

const RELU_GAIN = Math.SQRT2;
const LRELU_GAIN = Math.sqrt(2 / (1 + 0.2 * 0.2));

/** Makes the {@linkcode ParamSpec}s of one parameterisation. */
class Layers {
  constructor(readonly parameterization: Parameterization) {}

  /** A kernel with `fanIn` inputs per unit, followed by an activation of He gain `gain`. */
  kernel(
    name: string,
    shape: number[],
    type: "dense" | "conv",
    fanIn: number,
    gain: number,
  ): ParamSpec {
    const size = shape.reduce((a, b) => a * b, 1);
    if (this.parameterization === "standard") return uniform(name, shape, type, fanIn, size);
    const scale = Math.fround(gain / Math.sqrt(fanIn));
    return { name, shape, type, scale, initStd: 1, initDist: "normal", size };
  }

  /** The bias of a layer with `fanIn` inputs per unit. */
  bias(name: string, n: number, fanIn: number): ParamSpec {
    if (this.parameterization === "standard") return uniform(name, [n], "bias", fanIn, n);
    return { name, shape: [n], type: "bias", scale: 1, initStd: 0, initDist: "normal", size: n };
  }
}

/** Stored as used, uniform in ±1/√fan_in (standard deviation 1/√(3·fan_in)). */
function uniform(
  name: string,
  shape: number[],
  type: ParamSpec["type"],
  fanIn: number,
  size: number,
): ParamSpec {
  const initStd = 1 / Math.sqrt(3 * fanIn);
  return { name, shape, type, scale: 1, initStd, initDist: "uniform", size };
}

function checkWidths(widths: readonly number[], count: number, what: string): void {
  if (
    widths.length !== count || widths.some((w) => !Number.isInteger(w) || w < 1 || w > 4096)
  ) {
    throw new RangeError(
      `${what} needs ${count} integer widths in 1..4096, got [${widths.join(", ")}]`,
    );
  }
}

/** Scaled kernel `p·scale` (the forward-pass weight). */
function weight(tf: Tfjs, p: Tensor, spec: ParamSpec): Tensor {
  return spec.scale === 1 ? p : tf.mul(p, spec.scale);
}

/**
 * The kernel and bias of each dense layer `prefix/dense1`, `prefix/dense2`, … through `dims`
 * (input, hidden widths, output): `hiddenGain` on the hidden layers, 1 on the output.
 */
function denseStack(
  layers: Layers,
  prefix: string,
  dims: readonly number[],
  hiddenGain: number,
): ParamSpec[] {
  const specs: ParamSpec[] = [];
  for (let l = 0; l + 1 < dims.length; l++) {
    const [fanIn, units] = [dims[l], dims[l + 1]];
    const gain = l + 2 < dims.length ? hiddenGain : 1;
    specs.push(
      layers.kernel(`${prefix}/dense${l + 1}/kernel`, [fanIn, units], "dense", fanIn, gain),
    );
    specs.push(layers.bias(`${prefix}/dense${l + 1}/bias`, units, fanIn));
  }
  return specs;
}

/** A {@linkcode denseStack}'s forward pass: `act` after every layer but the last. */
function runDenseStack(
  tf: Tfjs,
  ops: Ops,
  p: readonly Tensor[],
  specs: readonly ParamSpec[],
  x: Tensor,
  act: (t: Tensor) => Tensor,
): Tensor {
  const layers = specs.length / 2;
  let h = x;
  for (let l = 0; l < layers; l++) {
    const k = 2 * l;
    h = tf.add(ops.dense(h, weight(tf, p[k], specs[k])), weight(tf, p[k + 1], specs[k + 1]));
    if (l + 1 < layers) h = act(h);
  }
  return h;
}

function mlp(
  layers: Layers,
  sampleDim: number,
  latentDim: number,
  widths: readonly number[],
  pack: number,
): GanArchitecture {
  if (widths.length < 1 || widths.length > 8) {
    throw new RangeError(`mlp needs 1 to 8 hidden widths, got [${widths.join(", ")}]`);
  }
  checkWidths(widths, widths.length, "mlp");
  // Generator: latent → widths[0] → … → sample; the critic runs the widths in reverse:
  // sample → widths[last] → … → widths[0] → 1.
  const generator = denseStack(layers, "gen", [latentDim, ...widths, sampleDim], RELU_GAIN);
  const critic = denseStack(
    layers,
    "critic",
    [pack * sampleDim, ...[...widths].reverse(), 1],
    LRELU_GAIN,
  );
  const image = sampleDim === 784;
  return {
    arch: "mlp",
    latentDim,
    sampleDim,
    pack,
    parameterization: layers.parameterization,
    generator,
    critic,
    generate(tf, ops, p, z) {
      const out = runDenseStack(tf, ops, p, generator, z, (t) => tf.relu(t));
      return (image ? tf.tanh(out) : out) as Tensor2D;
    },
    criticize(tf, ops, p, x) {
      const rows = x.shape[0] as number;
      if (rows % pack !== 0) {
        throw new RangeError(`a critic packing ${pack} samples got a batch of ${rows}`);
      }
      const xp = pack === 1 ? x : tf.reshape(x, [rows / pack, pack * sampleDim]);
      return runDenseStack(tf, ops, p, critic, xp, (t) => ops.lrelu(t)) as Tensor2D;
    },
  };
}

function dcgan(layers: Layers, latentDim: number, widths: readonly number[]): GanArchitecture {
  checkWidths(widths, 2, "dcgan");
  const [c1, c2] = widths;
  const generator = [
    layers.kernel("gen/dense1/kernel", [latentDim, 49 * c2], "dense", latentDim, RELU_GAIN),
    layers.bias("gen/dense1/bias", 49 * c2, latentDim),
    layers.kernel("gen/conv1/kernel", [3, 3, c2, 4 * c1], "conv", 9 * c2, RELU_GAIN),
    layers.bias("gen/conv1/bias", 4 * c1, 9 * c2),
    layers.kernel("gen/conv2/kernel", [3, 3, c1, 4], "conv", 9 * c1, 1),
    layers.bias("gen/conv2/bias", 4, 9 * c1),
  ];
  const critic = [
    layers.kernel("critic/conv1/kernel", [3, 3, 4, c1], "conv", 36, LRELU_GAIN),
    layers.bias("critic/conv1/bias", c1, 36),
    layers.kernel("critic/conv2/kernel", [3, 3, 4 * c1, c2], "conv", 36 * c1, LRELU_GAIN),
    layers.bias("critic/conv2/bias", c2, 36 * c1),
    layers.kernel("critic/dense/kernel", [49 * c2, 1], "dense", 49 * c2, 1),
    layers.bias("critic/dense/bias", 1, 49 * c2),
  ];
  return {
    arch: "dcgan",
    latentDim,
    sampleDim: 784,
    pack: 1,
    parameterization: layers.parameterization,
    generator,
    critic,
    generate(tf, ops, p, z) {
      const g = generator;
      const b = z.shape[0];
      const h0 = tf.relu(tf.add(ops.dense(z, weight(tf, p[0], g[0])), weight(tf, p[1], g[1])));
      const h1 = ops.shuffle(
        tf.add(
          ops.conv(tf.reshape(h0, [b, 7, 7, c2]), weight(tf, p[2], g[2])),
          weight(tf, p[3], g[3]),
        ),
      );
      const h2 = ops.shuffle(
        tf.add(ops.conv(tf.relu(h1), weight(tf, p[4], g[4])), weight(tf, p[5], g[5])),
      );
      return tf.reshape(tf.tanh(h2), [b, 784]);
    },
    criticize(tf, ops, p, x) {
      const c = critic;
      const b = x.shape[0];
      const x0 = ops.unshuffle(tf.reshape(x, [b, 28, 28, 1]));
      const h1 = ops.lrelu(tf.add(ops.conv(x0, weight(tf, p[0], c[0])), weight(tf, p[1], c[1])));
      const h2 = ops.lrelu(
        tf.add(
          ops.conv(ops.unshuffle(h1 as Tensor4D), weight(tf, p[2], c[2])),
          weight(tf, p[3], c[3]),
        ),
      );
      return tf.add(
        ops.dense(tf.reshape(h2, [b, 49 * c2]), weight(tf, p[4], c[4])),
        weight(tf, p[5], c[5]),
      ) as Tensor2D;
    },
  };
}

/**
 * The generator/critic pair `arch` for samples of length `sampleDim`.
 *
 * @param options Architecture, sample and latent sizes, widths.
 * @returns The pair.
 * @throws {UnknownNameError} An unknown `arch`.
 * @throws {RangeError} `dcgan` for samples other than 28×28 images, or bad sizes.
 *
 * @example The MNIST MLP pair
 * ```ts
 * import { ganArchitecture } from "./mod.ts";
 * const a = ganArchitecture({ arch: "mlp", sampleDim: 784, latentDim: 64 });
 * if (a.generator[0].name !== "gen/dense1/kernel") throw new Error();
 * if (a.generator[0].shape.join() !== "64,128" || a.critic.length !== 6) throw new Error();
 * ```
 */
export function ganArchitecture(options: ArchitectureOptions): GanArchitecture {
  const { arch, sampleDim, latentDim, pack = 1, parameterization = "equalized" } = options;
  if (!(PARAMETERIZATIONS as readonly string[]).includes(parameterization)) {
    throw new UnknownNameError("parameterization", parameterization, PARAMETERIZATIONS);
  }
  const layers = new Layers(parameterization as Parameterization);
  if (!Number.isInteger(pack) || pack < 1 || pack > 16) {
    throw new RangeError(`pack must be an integer in 1..16, got ${pack}`);
  }
  if (pack !== 1 && arch !== "mlp") {
    throw new RangeError(`pack ${pack} needs the mlp pair; '${arch}' scores one sample at a time`);
  }
  if (!Number.isInteger(latentDim) || latentDim < 1 || latentDim > 4096) {
    throw new RangeError(`latentDim must be an integer in 1..4096, got ${latentDim}`);
  }
  if (!Number.isInteger(sampleDim) || sampleDim < 1) {
    throw new RangeError(`sampleDim must be a positive integer, got ${sampleDim}`);
  }
  switch (arch) {
    case "mlp":
      return mlp(
        layers,
        sampleDim,
        latentDim,
        options.widths ?? (sampleDim === 784 ? [128, 256] : [64, 64]),
        pack,
      );
    case "dcgan":
      if (sampleDim !== 784) {
        throw new RangeError(`arch 'dcgan' needs 28×28 images (sampleDim 784), got ${sampleDim}`);
      }
      return dcgan(layers, latentDim, options.widths ?? [16, 32]);
    default:
      throw new UnknownNameError("GAN architecture", arch, GAN_ARCHS);
  }
}

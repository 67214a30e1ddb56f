/**
 * Generator checkpoints as TF.js layers models (`model.json` + `weights.bin`,
 * loadable by plain TF.js): {@linkcode generatorAsLayersModel} builds a
 * `tf.sequential` equivalent to the raw-variable generator at a point, with
 * each kernel's He constant folded into its weights; the `dcgan` pair's
 * depth-to-space steps become `conv2dTranspose` layers with a fixed 0/1
 * kernel (exact: each output is one input times 1). The model takes
 * `[N, latentDim]` and returns `[N, sampleDim]` (MNIST: flattened 28×28 in
 * [−1, 1]).
 *
 * @module
 */
import type { LayersModel, Sequential, Tensor } from "../tfjs/types.ts";
import { loadLayersModel, saveLayersModel } from "../tfjs/io.ts";
import type { Tfjs } from "./_ops.ts";
import { ganLayers } from "./model.ts";
import type { GanArchitecture } from "./networks.ts";

/**
 * Weights of generator parameter `i` at `x`, scale folded in (times
 * `outputScale` for the last layer's kernel and bias), as a tensor.
 */
function weightTensor(
  tf: Tfjs,
  arch: GanArchitecture,
  x: Float32Array,
  i: number,
  outputScale: number,
): Tensor {
  const spec = arch.generator[i];
  const span = ganLayers(arch)[i];
  const v = x.slice(span.offset, span.offset + span.length);
  const scale = i >= arch.generator.length - 2 ? spec.scale * outputScale : spec.scale;
  if (scale !== 1) {
    for (let j = 0; j < v.length; j++) {
      v[j] = Math.fround(v[j] * scale);
    }
  }
  return tf.tensor(v, spec.shape as number[]);
}

/** The fixed kernel `[2, 2, C, 4C]` of depth-to-space by 2 as a transposed convolution. */
function shuffleKernel(tf: Tfjs, c: number): Tensor {
  const k = new Float32Array(4 * c * 4 * c);
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 2; j++) {
      for (let ch = 0; ch < c; ch++) {
        k[((i * 2 + j) * c + ch) * 4 * c + (i * 2 + j) * c + ch] = 1;
      }
    }
  }
  return tf.tensor(k, [2, 2, c, 4 * c]);
}

/**
 * The generator of `arch` at the flat point `x` (only its generator part is
 * read) as a TF.js layers model.
 *
 * @param tf The tfjs module.
 * @param arch The pair.
 * @param x The flat parameter vector (generator first).
 * @param outputScale Multiplies the generator's output (a mixture's
 *   `dataScale`, folded into the last layer); only an `mlp` with a linear
 *   output takes one other than 1.
 * @returns A new model; the caller disposes it.
 * @throws {RangeError} `x` shorter than the generator's part, or an
 *   `outputScale` the pair cannot take.
 *
 * @example The layers model computes the generator
 * ```ts
 * import { initBackend } from "@qoda/ring/tfjs";
 * import { ganArchitecture, GanModel, generatorAsLayersModel, initialParams } from "./mod.ts";
 * const { tf } = await initBackend("cpu");
 * const arch = ganArchitecture({ arch: "mlp", sampleDim: 2, latentDim: 2 });
 * const x = initialParams(arch, 3);
 * const raw = new GanModel(tf, arch);
 * raw.load(x);
 * const z = new Float32Array([0.5, -1, 2, 0.25]);
 * const a = raw.generate(z, 2);
 * const m = generatorAsLayersModel(tf, arch, x);
 * const b = (m.predict(tf.tensor2d(z, [2, 2])) as ReturnType<typeof tf.tensor2d>).dataSync();
 * if (a.some((v, i) => Math.abs(v - b[i]) > 1e-5)) throw new Error(`${a} vs ${b}`);
 * m.dispose();
 * raw.dispose();
 * ```
 */
export function generatorAsLayersModel(
  tf: Tfjs,
  arch: GanArchitecture,
  x: Float32Array,
  outputScale = 1,
): Sequential {
  const genDim = arch.generator.reduce((s, p) => s + p.size, 0);
  if (x.length < genDim) {
    throw new RangeError(`parameter vector has length ${x.length}, the generator needs ${genDim}`);
  }
  const linearOut = arch.arch === "mlp" && arch.sampleDim !== 784;
  if (!(outputScale > 0 && Number.isFinite(outputScale)) || (!linearOut && outputScale !== 1)) {
    throw new RangeError(
      `outputScale must be ${
        linearOut ? "a positive number" : "1 for a tanh output"
      }, got ${outputScale}`,
    );
  }
  const g = arch.generator;
  const weights = g.map((_, i) => weightTensor(tf, arch, x, i, outputScale));
  const L = tf.layers;
  let model: Sequential;
  const extra: Tensor[] = [];
  if (arch.arch === "mlp") {
    // One dense layer per kernel/bias pair: ReLU on the hidden ones, the output tanh or linear.
    const layers = g.length / 2;
    model = tf.sequential({
      name: "generator",
      layers: Array.from({ length: layers }, (_, l) =>
        L.dense({
          ...(l === 0 ? { inputShape: [arch.latentDim] } : {}),
          units: g[2 * l].shape[1],
          activation: l < layers - 1 ? "relu" : arch.sampleDim === 784 ? "tanh" : "linear",
          name: `dense${l + 1}`,
        })),
    });
    model.setWeights(weights);
  } else {
    const c2 = g[2].shape[2], c1 = g[2].shape[3] / 4;
    model = tf.sequential({
      name: "generator",
      layers: [
        L.dense({
          inputShape: [arch.latentDim],
          units: 49 * c2,
          activation: "relu",
          name: "dense1",
        }),
        L.reshape({ targetShape: [7, 7, c2], name: "reshape" }),
        L.conv2d({
          filters: 4 * c1,
          kernelSize: 3,
          padding: "same",
          activation: "relu",
          name: "conv1",
        }),
        L.conv2dTranspose({
          filters: c1,
          kernelSize: 2,
          strides: 2,
          padding: "valid",
          useBias: false,
          name: "depth_to_space1",
        }),
        L.conv2d({ filters: 4, kernelSize: 3, padding: "same", activation: "tanh", name: "conv2" }),
        L.conv2dTranspose({
          filters: 1,
          kernelSize: 2,
          strides: 2,
          padding: "valid",
          useBias: false,
          name: "depth_to_space2",
        }),
        L.flatten({ name: "flatten" }),
      ],
    });
    extra.push(shuffleKernel(tf, c1), shuffleKernel(tf, 1));
    model.setWeights([
      weights[0],
      weights[1],
      weights[2],
      weights[3],
      extra[0],
      weights[4],
      weights[5],
      extra[1],
    ]);
  }
  tf.dispose([...weights, ...extra]);
  return model;
}

/**
 * Saves the generator at `x` as a TF.js layers model in folder `dir`
 * (`model.json` + `weights.bin`, written atomically).
 *
 * @param tf The tfjs module.
 * @param arch The pair.
 * @param x The flat parameter vector.
 * @param dir The folder (created if missing).
 * @param outputScale Multiplies the generator's output (see
 *   {@linkcode generatorAsLayersModel}).
 */
export async function saveGenerator(
  tf: Tfjs,
  arch: GanArchitecture,
  x: Float32Array,
  dir: string,
  outputScale = 1,
): Promise<void> {
  const model = generatorAsLayersModel(tf, arch, x, outputScale);
  try {
    await saveLayersModel(model, dir);
  } finally {
    model.dispose();
  }
}

/**
 * Loads a generator saved by {@linkcode saveGenerator}.
 *
 * @param tf The tfjs module.
 * @param dir The folder.
 * @returns The model (`[N, latentDim]` → `[N, sampleDim]`); the caller disposes it.
 * @throws {ModelFileError} Missing or corrupt files.
 */
export function loadGenerator(tf: Tfjs, dir: string): Promise<LayersModel> {
  return loadLayersModel(tf, dir);
}

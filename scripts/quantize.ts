/**
 * `deno task quantize`: post-training quantization of a TF.js layers model with GPFQ or
 * round-to-nearest, at one or more bit widths, reporting the model's quality for each.
 *
 * Models:
 * - `mnist-mlp`, `mnist-cnn`: the built-in classifiers (`models/weights/`, trained by
 *   `scripts/train_mnist_models.ts`). Calibration draws from the 8,000 training digits, the
 *   metric is accuracy on the 2,000 held-out digits (`splitTrainTest` seed 0).
 * - a folder holding `model.json` (or `checkpoint/model.json`, as a WGAN run of `deno task
 *   train` writes, or `generator/model.json`):
 *   a classifier of `[N, 784]` digits into 10 classes is scored as above; any other model (a
 *   GAN generator) is calibrated on standard-normal inputs of its input shape and scored by
 *   `mse`, the mean squared difference between the quantized and the float outputs on 256
 *   fixed standard-normal inputs (seed 12345); its float metric is 0. No sample-quality
 *   measure is used for generators.
 *
 * Run `deno task quantize --help` for the flags.
 *
 * @module
 */
import {
  type Command,
  type FlagTable,
  HELP_FLAG,
  helpText,
  parseFlags,
  runCli,
  UsageError,
} from "./_cli.ts";
import { Progress } from "./_progress.ts";
import type * as tfjs from "@tensorflow/tfjs";
import {
  BACKENDS,
  describeBackend,
  initBackend,
  type Tfjs,
} from "../models/tfjs/backend/backend.ts";
import { MAX_BITS, MIN_BITS } from "../models/tfjs/gpfq/alphabet.ts";
import {
  DEFAULT_SCALAR,
  exportQuantizedModel,
  type Form,
  FORMS,
  type LayerPrecision,
  type Method,
  METHODS,
  quantizeLayersModel,
} from "../models/tfjs/gpfq/layers.ts";
import { Rng } from "../runtime/rng.ts";
import { loadLayersModel, MODEL_JSON } from "../models/tfjs/io.ts";
import { isPretrainedName, loadPretrained, PRETRAINED } from "../models/pretrained.ts";
import {
  type Dataset,
  loadMnist,
  MNIST_CLASSES,
  MNIST_PIXELS,
  splitTrainTest,
} from "../models/mnist_data.ts";

export { UsageError };

/** Everything a quantize run is configured with. */
export interface QuantizeConfig {
  /** A built-in name or a folder. */
  model: string;
  /** Bit widths, in order. */
  bits: number[];
  /** Methods, in order. */
  methods: Method[];
  /** Alphabet scalar C (undefined: the per-bits default). */
  scalar: number | undefined;
  /** Calibration samples per layer. */
  samples: number;
  /** Conv2D: fraction of patch positions kept per image. */
  patchFraction: number;
  /** GPFQ form. */
  form: Form;
  /** Bias correction for GPFQ. */
  biasCorrection: boolean;
  /** Mixed precision: bits or "float" per layer name. */
  layerPrecision: Record<string, LayerPrecision>;
  /** Seed of calibration draws. */
  seed: number;
  /** tfjs backend. */
  backend: string;
  /** Export folder. */
  out: string | undefined;
  /** One JSON object per line instead of a table. */
  json: boolean;
}

/** The flags of `deno task quantize`. */
export const QUANTIZE_FLAGS = {
  model: {
    type: "string",
    value: `${PRETRAINED.join("|")}|DIR`,
    required: true,
    help: "built-in model, or a folder with model.json, checkpoint/model.json (a WGAN run) or " +
      "generator/model.json",
  },
  bits: {
    type: "int",
    list: true,
    min: MIN_BITS,
    max: MAX_BITS,
    value: "b[,b…]",
    default: [4],
    help: `bit widths ${MIN_BITS}..${MAX_BITS}`,
  },
  method: {
    type: "string",
    list: true,
    choices: METHODS,
    value: "m[,m…]",
    default: ["gpfq", "rtn"],
    help: `methods: ${METHODS.join(", ")}`,
  },
  scalar: {
    type: "number",
    above: 0,
    value: "C",
    defaultHelp: String(DEFAULT_SCALAR),
    help: "alphabet scalar: δ = C·mean_i max|W_i|/2^(b−1)",
  },
  samples: { type: "int", min: 1, default: 1024, help: "GPFQ calibration samples per layer" },
  "patch-fraction": {
    type: "number",
    above: 0,
    max: 1,
    value: "f",
    default: 0.25,
    help: "conv layers: fraction of patches per image used",
  },
  form: { type: "string", choices: FORMS, default: "gram", help: "GPFQ computation" },
  "no-bias-correction": { type: "boolean", help: "GPFQ without the bias correction" },
  "layer-bits": {
    type: "string",
    list: true,
    value: "L=b|float,…",
    check: (item) => {
      const eq = item.indexOf("=");
      if (eq <= 0) return "expected NAME=BITS or NAME=float";
      const v = item.slice(eq + 1), n = Number(v);
      return v === "float" || (Number.isInteger(n) && n >= MIN_BITS && n <= MAX_BITS)
        ? undefined
        : `bits must be integers in ${MIN_BITS}..${MAX_BITS} or float`;
    },
    help: "mixed precision: bits or float for named layers (e.g. logits=8,conv1=float)",
  },
  seed: { type: "int", min: 0, default: 0, help: "seed of the calibration draws" },
  backend: { type: "string", choices: BACKENDS, default: "auto", help: "tfjs backend" },
  out: {
    type: "string",
    value: "DIR",
    help: "export the quantized model(s) as TF.js models with uint8 weights (DIR, or " +
      "DIR/<method>-<bits>bit when several)",
  },
  json: { type: "boolean", help: "one JSON object per line (model, method, bits, metric, …)" },
  ...HELP_FLAG,
} as const satisfies FlagTable;

/** The `--help` text. */
export function usage(): string {
  return helpText({
    usage: "deno task quantize --model NAME|DIR [flags]",
    about: [
      "Post-training weight quantization (GPFQ or round-to-nearest onto ±kδ, k = 0..2^(b−1)) of",
      "the Dense and Conv2D kernels of a TF.js layers model; prints the model's quality for each",
      "method and bit width. Classifiers of MNIST digits: accuracy on the 2,000 held-out digits;",
      "other models (GAN generators): mse of the outputs against the float model on fixed",
      "standard-normal inputs.",
    ].join("\n"),
    flags: QUANTIZE_FLAGS,
  });
}

/**
 * Parses the command line (strict: unknown flags and positional arguments are errors).
 *
 * @param args The arguments.
 * @returns The configuration.
 * @throws {UsageError} Naming the flag and the value, and the valid choices.
 */
export function parseQuantizeArgs(args: string[]): QuantizeConfig {
  const { values: v } = parseFlags(args, QUANTIZE_FLAGS);
  const layerPrecision: Record<string, LayerPrecision> = {};
  for (const item of v["layer-bits"] ?? []) {
    const eq = item.indexOf("=");
    const value = item.slice(eq + 1);
    layerPrecision[item.slice(0, eq)] = value === "float" ? "float" : Number(value);
  }
  return {
    model: v.model,
    bits: v.bits,
    methods: v.method as Method[],
    scalar: v.scalar,
    samples: v.samples,
    patchFraction: v["patch-fraction"],
    form: v.form as Form,
    biasCorrection: !v["no-bias-correction"],
    layerPrecision,
    seed: v.seed,
    backend: v.backend,
    out: v.out,
    json: v.json,
  };
}

/** How a model is scored. */
interface Evaluator {
  /** `"accuracy"` (fraction) or `"mse"`. */
  name: "accuracy" | "mse";
  /** Calibration inputs. */
  calibration: (count: number, rng: Rng) => tfjs.Tensor;
  /** The metric of a model. */
  score: (model: tfjs.LayersModel) => number;
  /** Frees what the evaluator holds. */
  dispose: () => void;
}

/** Resolves `--model` to a folder holding model.json (for folders) and loads it. */
async function loadModel(tf: Tfjs, spec: string): Promise<tfjs.LayersModel> {
  if (isPretrainedName(spec)) return await loadPretrained(tf, spec);
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(spec);
  } catch {
    throw new Error(
      `--model '${spec}' is neither a built-in model (${PRETRAINED.join(", ")}) nor an ` +
        "existing folder",
    );
  }
  if (!stat.isDirectory) throw new Error(`--model '${spec}' is a file; give its folder`);
  for (const dir of [spec, `${spec}/checkpoint`, `${spec}/generator`]) {
    try {
      await Deno.stat(`${dir}/${MODEL_JSON}`);
      return await loadLayersModel(tf, dir);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  throw new Error(
    `--model '${spec}': no ${MODEL_JSON} in the folder nor in its checkpoint/ or generator/ subfolder`,
  );
}

function isDigitClassifier(model: tfjs.LayersModel): boolean {
  const inShape = model.inputs[0]?.shape ?? [];
  const outShape = (model.outputs[0]?.shape ?? []) as (number | null)[];
  return model.inputs.length === 1 && inShape.length === 2 && inShape[1] === MNIST_PIXELS &&
    outShape.length === 2 && outShape[1] === MNIST_CLASSES;
}

function randomImages(tf: Tfjs, data: Dataset, count: number, rng: Rng): tfjs.Tensor {
  const out = new Float32Array(count * MNIST_PIXELS);
  for (let i = 0; i < count; i++) {
    const src = Math.floor(rng.nextFloat() * data.count);
    out.set(data.images.subarray(src * MNIST_PIXELS, (src + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
  }
  return tf.tensor2d(out, [count, MNIST_PIXELS]);
}

async function makeEvaluator(tf: Tfjs, model: tfjs.LayersModel): Promise<Evaluator> {
  if (isDigitClassifier(model)) {
    const { train, test } = splitTrainTest(await loadMnist(), { testSize: 2000, seed: 0 });
    const x = tf.tensor2d(test.images, [test.count, MNIST_PIXELS]);
    return {
      name: "accuracy",
      calibration: (count, rng) => randomImages(tf, train, count, rng),
      score: (m) => {
        const pred = tf.tidy(() => (m.predict(x) as tfjs.Tensor).argMax(1));
        const labels = pred.dataSync();
        pred.dispose();
        let hit = 0;
        for (let i = 0; i < test.count; i++) if (labels[i] === test.labels[i]) hit++;
        return hit / test.count;
      },
      dispose: () => x.dispose(),
    };
  }
  if (model.inputs.length !== 1) {
    throw new Error(`model '${model.name}' has ${model.inputs.length} inputs; one is supported`);
  }
  const inShape = model.inputs[0].shape.slice(1);
  if (inShape.some((d) => d === null)) {
    throw new Error(`model input shape [${model.inputs[0].shape}] has unknown dimensions`);
  }
  const dims = inShape as number[];
  const normal = (count: number, rng: Rng) => {
    const size = count * dims.reduce((a, b) => a * b, 1);
    const v = new Float32Array(size);
    for (let i = 0; i < size; i++) v[i] = rng.normal();
    return tf.tensor(v, [count, ...dims]);
  };
  const z = normal(256, new Rng(12345));
  const reference = model.predict(z) as tfjs.Tensor;
  return {
    name: "mse",
    calibration: normal,
    score: (m) =>
      tf.tidy(() => tf.mean(tf.squaredDifference(m.predict(z) as tfjs.Tensor, reference)))
        .dataSync()[0],
    dispose: () => {
      z.dispose();
      reference.dispose();
    },
  };
}

/** One result line. */
export interface QuantizeRecord {
  /** `--model` as given. */
  model: string;
  /** Method. */
  method: Method;
  /** Bits. */
  bits: number;
  /** `"accuracy"` (fraction of the held-out digits) or `"mse"`. */
  metric_name: string;
  /** The quantized model's metric. */
  metric: number;
  /** The float model's metric. */
  float_metric: number;
  /** Seconds to quantize (calibration included, evaluation excluded). */
  seconds: number;
  /** Alphabet scalar C. */
  scalar: number;
  /** GPFQ calibration samples per layer (0 for rtn). */
  samples: number;
  /** GPFQ form. */
  form: string;
  /** Whether GPFQ corrected the biases. */
  bias_correction: boolean;
  /** Per layer: name, precision, δ, levels used, calibration rows. */
  layers: {
    name: string;
    precision: LayerPrecision;
    delta: number;
    levels: number;
    rows: number;
  }[];
  /** Export folder, when exported. */
  out?: string;
  /** tfjs backend. */
  backend: string;
}

/**
 * Runs every method × bit width and returns the records (printing them as it goes).
 *
 * @param cfg The parsed command line.
 * @param print Where lines go (by default stdout, above a progress line when it is a terminal).
 * @returns One record per method and bit width.
 */
export async function quantizeCommand(
  cfg: QuantizeConfig,
  print?: (line: string) => void,
): Promise<QuantizeRecord[]> {
  // One line redrawn in place on a terminal (when printing to stdout); the result lines are
  // the plain output.
  const progress = new Progress({
    total: cfg.bits.length * cfg.methods.length,
    unit: "model",
    quiet: print !== undefined,
  });
  print ??= (line) => progress.log(line);
  const backend = await initBackend(cfg.backend);
  const tf = backend.tf;
  if (!cfg.json) print(describeBackend(backend));
  const model = await loadModel(tf, cfg.model);
  const evaluator = await makeEvaluator(tf, model);
  const records: QuantizeRecord[] = [];
  try {
    const floatMetric = evaluator.score(model);
    const fmt = (x: number) =>
      evaluator.name === "accuracy" ? `${(100 * x).toFixed(2)}%` : x.toExponential(3);
    if (!cfg.json) print(`${cfg.model}: float ${evaluator.name} ${fmt(floatMetric)}`);
    const several = cfg.methods.length * cfg.bits.length > 1;
    let done = 0;
    for (const bits of cfg.bits) {
      for (const method of cfg.methods) {
        progress.tick(done++, `${method} ${bits}-bit`);
        const result = await quantizeLayersModel(tf, model, {
          method,
          bits,
          calibration: evaluator.calibration,
          samples: cfg.samples,
          patchFraction: cfg.patchFraction,
          scalar: cfg.scalar ?? DEFAULT_SCALAR,
          form: cfg.form,
          biasCorrection: cfg.biasCorrection,
          layerPrecision: cfg.layerPrecision,
          seed: cfg.seed,
        });
        try {
          const metric = evaluator.score(result.model);
          let out: string | undefined;
          if (cfg.out !== undefined) {
            out = several ? `${cfg.out}/${method}-${bits}bit` : cfg.out;
            await exportQuantizedModel(result, out);
          }
          const rec: QuantizeRecord = {
            model: cfg.model,
            method,
            bits,
            metric_name: evaluator.name,
            metric,
            float_metric: floatMetric,
            seconds: result.seconds,
            scalar: result.options.scalar,
            samples: result.options.samples,
            form: method === "gpfq" ? result.options.form : "-",
            bias_correction: result.options.biasCorrection,
            layers: result.layers.map((l) => ({
              name: l.name,
              precision: l.precision,
              delta: l.delta,
              levels: l.levelsUsed,
              rows: l.rows,
            })),
            ...(out !== undefined ? { out } : {}),
            backend: backend.name,
          };
          records.push(rec);
          if (cfg.json) {
            print(JSON.stringify(rec));
          } else {
            const diff = evaluator.name === "accuracy"
              ? ` (${(100 * (metric - floatMetric)).toFixed(2)} points vs float)`
              : "";
            print(
              `${method.padEnd(4)} ${String(bits).padStart(2)}-bit: ${evaluator.name} ` +
                `${fmt(metric)}${diff}, quantized in ${result.seconds.toFixed(2)} s` +
                (out ? `, exported to ${out}` : ""),
            );
          }
        } finally {
          result.model.dispose();
        }
      }
    }
  } finally {
    progress.done();
    evaluator.dispose();
    model.dispose();
  }
  return records;
}

/** The quantize command. */
export const QUANTIZE_COMMAND: Command<QuantizeConfig> = {
  name: "deno task quantize",
  help: usage,
  parse: parseQuantizeArgs,
  run: async (cfg) => void await quantizeCommand(cfg),
};

/**
 * The command: returns the exit code (0 success, 1 runtime error, 2 bad command line).
 *
 * @param args Command-line arguments.
 * @returns The exit code.
 */
export function main(args: string[]): Promise<number> {
  return runCli(args, QUANTIZE_COMMAND);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}

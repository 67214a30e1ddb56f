/**
 * The MNIST classifier as a problem module (see `ProblemModule` in
 * `actors/problem.ts`): what `deno task train --problem mnist` trains with
 * `train()`, on in-process workers or worker processes.
 *
 * - parameters: the model's variables laid end to end, one layer span per
 *   variable with its name and shape (`dense1/kernel` [784, 128], …), so the
 *   layer-wise quantizer gives kernels, biases and convolutions their own
 *   levels;
 * - X_1: the model's seeded initial weights;
 * - worker k of K: its own shard of the training digits (shard k of K, shuffled by the
 *   job's seed), its mini-batches drawn with the runtime's rng for that worker; with FQT
 *   its backward-signal rounding draws from a stream forked from that rng (forked first,
 *   so the batches are the same with and without FQT);
 * - evaluate: test accuracy and loss on the held-out digits (`quality` = test accuracy,
 *   higher is better) and the loss on a fixed sample of the training digits.
 *
 * @module
 */
import { initBackend, type Tfjs } from "../tfjs/backend/backend.ts";
import { floatOps, FqtOps, type LinearOps } from "../tfjs/fqt/layers.ts";
import { FQT_SCHEMES, type FqtScheme } from "../tfjs/fqt/signal.ts";
import type { LayerSpan } from "../../runtime/collective/allreduce.ts";
import { Rng, type RngState } from "../../runtime/rng.ts";
import type { ProblemInit, ProblemWorker, TrainProblem } from "../../actors/problem.ts";
import {
  type Classifier,
  crossEntropy,
  evaluate,
  lossAndGrads,
  predictLogits,
} from "../classifier.ts";
import {
  Batcher,
  type BatcherState,
  type Dataset,
  loadMnist,
  shard,
  splitTrainTest,
  subset,
} from "../mnist_data.ts";
import { createMlp } from "../mnist_mlp.ts";
import { createCnn } from "../mnist_cnn.ts";

/** The architectures. */
export const MNIST_MODELS = ["mlp", "cnn"] as const;

/** Options of the MNIST problem (the job's `problemOptions`). */
export interface MnistProblemOptions {
  /** 784-128-10 MLP or the small CNN. @default {"mlp"} */
  model?: typeof MNIST_MODELS[number];
  /** Mini-batch size per worker. @default {64} */
  batch?: number;
  /** Digits held out for testing (of the 10,000). @default {2000} */
  testSize?: number;
  /** Training digits (a fixed sample) whose loss `evaluate` reports. @default {2000} */
  trainEvalSize?: number;
  /** Fully quantized training: the backward-signal quantizer (absent: off). */
  fqt?: FqtScheme;
  /** Bits of the FQT backward signal. @default {8} */
  fqtBits?: number;
  /** tfjs backend. @default {"auto"} */
  backend?: string;
}

/** The MNIST problem, plus what the command line reports. */
export interface MnistProblem extends TrainProblem {
  /** The classifier (its variables hold the last point loaded). */
  readonly model: Classifier;
  /** Training digits (all shards together). */
  readonly trainCount: number;
  /** Held-out digits. */
  readonly testCount: number;
  /** Training digits of each worker of `size`. */
  shardSizes(size: number): number[];
}

/** A worker's state in a commit. */
interface MnistWorkerState {
  batcher: BatcherState;
  fqt: { rng: RngState; input: [number, number]; weight: [number, number] } | null;
}

/**
 * Builds the MNIST problem on `tf` (a backend already chosen).
 *
 * @example Two workers' gradients at X_1, on the cpu backend
 * ```ts
 * import { initBackend } from "../tfjs/backend/backend.ts";
 * import { mnistProblem } from "./problem.ts";
 * import { Rng } from "../../runtime/rng.ts";
 * const { tf } = await initBackend("cpu");
 * const p = await mnistProblem(tf, { seed: 0, batch: 8, testSize: 200 });
 * const g = new Float32Array(p.dim);
 * p.worker(1, 2, new Rng(3)).operator(p.initial(), g);
 * if (p.layers.length !== 4 || p.layers[0].name !== "dense1/kernel") throw new Error();
 * if (!g.some((x) => x !== 0)) throw new Error("a gradient");
 * const m = await p.evaluate(p.initial());
 * if (!(m.quality === m.test_accuracy && m.test_accuracy < 0.5)) throw new Error();
 * p.dispose?.();
 * ```
 */
export async function mnistProblem(
  tf: Tfjs,
  options: MnistProblemOptions & { seed: number; name?: string },
): Promise<MnistProblem> {
  const {
    seed,
    name = "mnist",
    model: arch = "mlp",
    batch = 64,
    testSize = 2000,
    trainEvalSize = 2000,
    fqt,
    fqtBits = 8,
  } = options;
  if (!(MNIST_MODELS as readonly string[]).includes(arch)) {
    throw new RangeError(`mnist: model must be one of ${MNIST_MODELS.join(", ")}, got '${arch}'`);
  }
  if (fqt !== undefined && !(FQT_SCHEMES as readonly string[]).includes(fqt)) {
    throw new RangeError(`mnist: fqt must be one of ${FQT_SCHEMES.join(", ")}, got '${fqt}'`);
  }
  if (fqt !== undefined) new FqtOps(tf, { scheme: fqt, bits: fqtBits }); // checks the bits now
  const { train, test } = splitTrainTest(await loadMnist(), { testSize, seed });
  const trainEval = subset(
    train,
    Array.from({ length: Math.min(trainEvalSize, train.count) }, (_, i) => i),
  );
  const shards = new Map<number, Dataset[]>();
  const shardsOf = (size: number) => {
    let s = shards.get(size);
    if (!s) shards.set(size, s = shard(train, size, seed + 1));
    return s;
  };

  // The model's linear ops: float, or the FQT ops of the worker computing a gradient (in-process
  // workers share this problem, each with its own rounding stream).
  const float = floatOps(tf);
  let current: LinearOps = float;
  const ops: LinearOps = {
    dense: (...a) => current.dense(...a),
    conv2d: (...a) => current.conv2d(...a),
  };
  const model = arch === "cnn" ? createCnn(tf, { seed, ops }) : createMlp(tf, { seed, ops });
  const layers: LayerSpan[] = [];
  let dim = 0;
  for (const p of model.params) {
    const length = p.shape.reduce((a, b) => a * b, 1);
    layers.push({ name: p.name, shape: p.shape, offset: dim, length });
    dim += length;
  }
  const x1 = new Float32Array(dim);
  for (const [i, p] of model.params.entries()) {
    x1.set(p.variable.dataSync() as Float32Array, layers[i].offset);
  }
  const load = (x: Float32Array) => {
    if (x.length !== dim) throw new RangeError(`mnist: a point of length ${x.length}, not ${dim}`);
    tf.tidy(() => {
      for (const [i, p] of model.params.entries()) {
        const l = layers[i];
        p.variable.assign(
          tf.tensor(x.subarray(l.offset, l.offset + l.length), p.variable.shape, "float32"),
        );
      }
    });
  };

  return {
    name,
    dim,
    layers,
    model,
    trainCount: train.count,
    testCount: test.count,
    lowerIsBetter: false,
    shardSizes: (size) => shardsOf(size).map((s) => s.count),
    initial: () => x1.slice(),
    evaluate(x: Float32Array) {
      load(x);
      current = float;
      const t = evaluate(tf, model, test);
      const trainLoss = crossEntropy(predictLogits(tf, model, trainEval), trainEval.labels);
      return {
        quality: t.accuracy,
        test_accuracy: t.accuracy,
        test_loss: t.loss,
        train_loss: trainLoss,
      };
    },
    worker(rank: number, size: number, rng: Rng): ProblemWorker {
      const mine = shardsOf(size)[rank];
      if (batch > mine.count) {
        throw new RangeError(
          `mnist: batch ${batch} exceeds the ${mine.count} training digits of worker ${rank} ` +
            `of ${size}; lower the batch, the workers or the test size`,
        );
      }
      let fqtRng = rng.fork(); // forked first: the batches do not depend on FQT being on
      const batcher = new Batcher(mine, batch, rng);
      const makeFqt = () =>
        fqt === undefined ? null : new FqtOps(tf, { scheme: fqt, bits: fqtBits, rng: fqtRng });
      let fq = makeFqt();
      let lossSum = 0, lossCount = 0;
      return {
        operator(x: Float32Array, out: Float32Array) {
          load(x);
          const { images, labels } = batcher.next();
          current = fq ?? float;
          let r;
          try {
            r = lossAndGrads(tf, model, images, labels);
          } finally {
            current = float;
          }
          for (const [i, g] of r.grads.entries()) out.set(g, layers[i].offset);
          lossSum += r.loss;
          lossCount++;
        },
        // Mean batch loss since the last call (the supervisor asks at each evaluation).
        scalars() {
          const s: Record<string, number> = { loss: lossCount ? lossSum / lossCount : NaN };
          lossSum = 0;
          lossCount = 0;
          if (fq) {
            const e = fq.epsQ();
            s.fqt_eps_input = e.input;
            s.fqt_eps_weight = e.weight;
          }
          return s;
        },
        state(): MnistWorkerState {
          return {
            batcher: batcher.state(),
            fqt: fq
              ? {
                rng: fqtRng.state(),
                input: [fq.stats.input.sqError, fq.stats.input.sqNorm],
                weight: [fq.stats.weight.sqError, fq.stats.weight.sqNorm],
              }
              : null,
          };
        },
        restore(state: unknown) {
          const s = state as MnistWorkerState;
          batcher.restore(s.batcher);
          if (s.fqt && fqt !== undefined) {
            fqtRng = Rng.fromState(s.fqt.rng);
            fq = makeFqt()!;
            [fq.stats.input.sqError, fq.stats.input.sqNorm] = s.fqt.input;
            [fq.stats.weight.sqError, fq.stats.weight.sqNorm] = s.fqt.weight;
          }
        },
      };
    },
    dispose: () => model.dispose(),
  };
}

/**
 * The module entry the runtime calls: initialises the job's tfjs backend
 * (`options.backend`, default `auto`) and builds the problem with the job's
 * seed (the split, the shards, the initial weights).
 */
export async function createProblem(init: ProblemInit): Promise<MnistProblem> {
  const { backend = "auto", ...options } = init.options as MnistProblemOptions;
  const { tf } = await initBackend(backend);
  return await mnistProblem(tf, { ...options, seed: init.seed, name: init.name });
}

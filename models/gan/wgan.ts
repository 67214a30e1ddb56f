/**
 * The WGAN as a {@linkcode TrainProblem}: one flat vector of all parameters
 * (generator first, then critic), and per worker the simultaneous VI
 * operator V = (∇_G loss_G, ∇_D loss_D) (see `loss.ts`) on the worker's own
 * seeded data and noise.
 *
 * Data per worker: MNIST — the training split (10,000 digits minus a
 * held-out test set, seeded) is cut into `size` disjoint shards with
 * `shard`; worker `rank` draws its batches uniformly with replacement from
 * its shard. Mixtures — each worker draws fresh points from its own stream.
 * Latent vectors z ~ N(0, I) and the penalty's ε ~ U[0, 1) come from a
 * second stream of the worker.
 *
 * **Training with QODA** (`new Qoda(x0, { lr })`, default exponents 0.5, one
 * process, measured on 2 cores): base learning rate 10 for every dataset
 * and architecture ({@linkcode recommendedLr}).
 *
 * - MNIST, λ = 10, batch 64: FID (500 samples against the 2,000 held-out
 *   digits; 500 real training digits score 2.1) falls from 362 to 182 in
 *   1,500 steps (mlp) and from 345 to 118 in 400 steps (dcgan), label
 *   entropy 0.64 → 1.4–1.6.
 *   lr 3 trains too; 30 and above stall.
 * - gaussians8, λ = 1: the generator first spreads over the ring, then
 *   gathers on the modes: high-quality share 0 → 0.4–2.4% after 1,000
 *   steps → 9–11% after 3,000 (first mode covered; seeds 0 and 1) → 23%
 *   with 5 of 8 modes covered after 10,000 (seed 0). With λ = 10 the pair
 *   oscillates (the whole sample cloud swings around) at lr ≥ 1 and barely
 *   moves at lr 0.3, hence λ = 1 by default for the mixtures.
 * - gaussians25, λ = 1, lr 10: the samples spread over the grid's square
 *   within 1,000 steps, but no mode is covered after 4,000 (high-quality
 *   share about 2%); the small pair needs far longer runs here.
 *
 * **Training with `qoda-adagrad`** (QODA with per-coordinate step sizes;
 * the command line's default for gaussians8, see
 * {@linkcode trainingDefaults}): MNIST with the `dcgan` pair, λ = 10, batch
 * 32 per worker, lr 0.1, evaluated at a moving average of the parameters
 * (decay 0.999): FID 345 → 69 after 180 steps → 34 after 1,800 (2 workers,
 * layer-wise 4-bit; lr 0.2 trains alike). The mixtures: λ = 0.1, batch 128
 * (gaussians8) or 256 (gaussians25) per worker, lr 0.3, gaussians25 in
 * standardized coordinates (`dataScale`).
 *
 * **MNIST and gaussians25 with `qoda-rms`** (their command-line default):
 * the non-saturating loss (`loss: "ns"`) without a penalty, in the standard
 * parameterisation (`parameterization: "standard"`: kernels stored as used,
 * PyTorch's initialisation). MNIST: the `dcgan` pair, batch 32 per worker,
 * lr 0.002, averaged with decay 0.999. gaussians25: a critic that scores
 * two samples together (`pack: 2`, PacGAN), three hidden layers of 64,
 * batch 128 per worker, lr 0.003, averaged with decay 0.995. Figures of
 * 2-worker runs are in `docs/demos/wgan.md`.
 *
 * @module
 */
import type { Sequential } from "../tfjs/types.ts";
import type { LayerSpan } from "../../runtime/collective/allreduce.ts";
import { UnknownNameError } from "../../runtime/errors.ts";
import type { OptimizerName } from "../../runtime/optim/types.ts";
import { Rng, type RngState } from "../../runtime/rng.ts";
import type { ProblemWorker, TrainProblem } from "../../actors/problem.ts";
import { type Dataset, loadMnist, MNIST_PIXELS, shard, splitTrainTest } from "../mnist_data.ts";
import type { Tfjs } from "./_ops.ts";
import { generatorAsLayersModel, saveGenerator } from "./checkpoint.ts";
import {
  GAN_DATASETS,
  type GanDataset,
  type Mixture,
  mixture,
  type MixtureName,
  sampleMixture,
  toSigned,
} from "./datasets.ts";
import { GAN_LOSSES, type GanLoss, wganOperator, type WganScalars } from "./loss.ts";
import { GanModel, initialParams } from "./model.ts";
import { createMnistScorer, type MnistScorer } from "./mnist_scorer.ts";
import {
  GAN_ARCHS,
  type GanArch,
  type GanArchitecture,
  ganArchitecture,
  type Parameterization,
} from "./networks.ts";
import { type RasterImage, sampleGrid, scatterImage } from "./png.ts";
import { mixtureQuality } from "./quality.ts";

/** Options of {@linkcode createWganProblem}. */
export interface WganOptions {
  /** `mnist`, `gaussians8` or `gaussians25`. */
  dataset: string;
  /** `mlp` or `dcgan` (MNIST only). @default {"mlp"} */
  arch?: string;
  /** Batch size of each worker's operator sample. @default {64} */
  batch?: number;
  /** Length of z. @default {64 for MNIST, 2 for the mixtures} */
  latentDim?: number;
  /** Hidden widths (mlp) or channels (dcgan); see `ganArchitecture`. */
  widths?: number[];
  /**
   * Gradient-penalty weight λ (ignored when `clip` is set). @default {10 for
   * MNIST, 1 for the mixtures (with λ = 10 QODA's single step size makes the
   * 2-D critic/generator pair oscillate; see the module doc)}
   */
  gp?: number;
  /**
   * The players' losses: `"wgan"` (WGAN-GP) or `"ns"` (the non-saturating
   * GAN); see `loss.ts`. @default {"wgan"}
   */
  loss?: string;
  /**
   * `mlp`: samples per critic input (PacGAN's packing; see
   * `ArchitectureOptions.pack`). `batch` must be a multiple. @default {1}
   */
  pack?: number;
  /**
   * How the networks store and initialise their kernels: `"equalized"` (in
   * units of their He constant, N(0, 1), biases 0) or `"standard"` (as
   * used, uniform in ±1/√fan_in, as PyTorch); see
   * `ArchitectureOptions.parameterization`. @default {"equalized"}
   */
  parameterization?: string;
  /**
   * Weight clipping instead of the gradient penalty: `project` clamps every
   * critic parameter (as stored: under the equalized parameterisation,
   * kernels in units of their He constant) to [−clip, clip].
   * @default {undefined (gradient penalty)}
   */
  clip?: number;
  /**
   * The mixtures: the networks work in coordinates divided by this. Every
   * real point the critic sees is divided by it, and every sample the
   * problem generates (evaluations, `samples.png`, the checkpoint) is the
   * generator's output multiplied by it, so quality is always measured in
   * the mixture's own units. MNIST takes 1 only.
   * @default {the mixture's standard deviation (`Mixture.std`, ≈ 2.83) for
   * gaussians25, as WGAN-GP's toy code does; 1 for gaussians8 and MNIST}
   */
  dataScale?: number;
  /** Seed of the initial point, the data split and every worker's streams. @default {0} */
  seed?: number;
  /** Samples `evaluate` generates. @default {2500 for the mixtures, 1000 for MNIST} */
  evalSamples?: number;
  /** Seed of `evaluate`'s fixed latent vectors. @default {12345} */
  evalSeed?: number;
  /** MNIST: digits held out (the FID reference). @default {2000} */
  testSize?: number;
  /**
   * MNIST: seed of the train/test split. The pretrained classifier was
   * trained on the training digits of seed 0 (`scripts/train_mnist_models.ts`),
   * so keep 0 for a reference set it has never seen. @default {0}
   */
  splitSeed?: number;
  /**
   * MNIST: how `evaluate` scores samples. @default {a scorer on the project's
   * pretrained `mnist-cnn` (see `createMnistScorer`), built on first use}
   */
  scorer?: MnistScorer;
}

/** The WGAN problem, with what checkpoints, images and reports need. */
export interface WganProblem extends TrainProblem {
  /** The dataset. */
  readonly dataset: GanDataset;
  /** The generator/critic pair. */
  readonly arch: GanArchitecture;
  /** The mixture (for the 2-D datasets). */
  readonly mixture?: Mixture;
  /** Length of the generator's part of the flat vector (the critic's starts here). */
  readonly genDim: number;
  /** A QODA base learning rate that trains this problem ({@linkcode recommendedLr}). */
  readonly defaultLr: number;
  /** The options in effect, defaults filled in (no scorer). */
  readonly config: Readonly<
    Required<Omit<WganOptions, "clip" | "scorer">> & { clip: number | null }
  >;
  /** Layer spans (generator first). */
  readonly layers: readonly LayerSpan[];
  /**
   * `n` samples of the generator at `x` (MNIST: `n × 784` in [−1, 1];
   * mixtures: `n × 2`), latent vectors from `seed`.
   */
  generate(x: Float32Array, n: number, seed?: number): Float32Array;
  /**
   * The image for `samples.png`: an 8×8 grid of digits (MNIST) or a scatter
   * of `evalSamples` points over the mixture's modes.
   */
  sampleImage(x: Float32Array): RasterImage;
  /** The generator at `x` as a TF.js layers model (the checkpoint); the caller disposes it. */
  generatorModel(x: Float32Array): Sequential;
  /**
   * Saves the generator at `x` as a TF.js layers model in folder `dir`
   * (`model.json` + `weights.bin`; `loadGenerator` or plain TF.js reads it).
   */
  saveGenerator(x: Float32Array, dir: string): Promise<void>;
  /** What `quality` measures, for reports: `"modes_covered"` or `"fid"`. */
  readonly qualityName: string;
  /** Worker `rank` of `size`: its own shard or stream, its own noise (see the module doc). */
  worker(rank: number, size: number, rng: Rng): ProblemWorker;
  /** Quality figures at `x` (see {@linkcode createWganProblem}); always a promise. */
  evaluate(x: Float32Array): Promise<Record<string, number>>;
  /** Frees the variables and the scorer the problem built. */
  dispose(): void;
}

/**
 * A base learning rate that trains the WGAN with the default λ, for
 * `optimizer`:
 *
 * - `qoda` (`new Qoda(x0, { lr })`, exponents 0.5), measured with one and
 *   two workers: 10 for every dataset and both architectures. The useful
 *   range is narrow on the mixtures (3–10; 30 oscillates), wider on MNIST
 *   (3–10; 30 and above stall). Also the value used for `qgenx` and `sgd`,
 *   which have no measured rate of their own here.
 * - `adam` and `oadam`: {@linkcode GAN_ADAM_LR}, with the moment decays of
 *   {@linkcode trainingDefaults}.
 * - `qoda-adagrad` (per-coordinate steps): {@linkcode MIXTURE_ADAGRAD_LR}
 *   on the mixtures, {@linkcode MNIST_ADAGRAD_LR} on MNIST (see
 *   {@linkcode trainingDefaults}).
 * - `qoda-rms`: {@linkcode MIXTURE_RMS_LR} on the mixtures,
 *   {@linkcode MNIST_RMS_LR} for MNIST's `dcgan` pair (both in the standard
 *   parameterisation), {@linkcode MNIST_MLP_RMS_LR} for its `mlp` pair (in
 *   the equalized one).
 *
 * @param dataset `mnist`, `gaussians8` or `gaussians25`.
 * @param arch `mlp` or `dcgan`.
 * @param optimizer The optimiser's name. @default {"qoda"}
 * @returns The learning rate.
 *
 * @example
 * ```ts
 * import { recommendedLr } from "./mod.ts";
 * if (recommendedLr("gaussians8", "mlp") !== 10) throw new Error();
 * if (recommendedLr("gaussians8", "mlp", "qoda-adagrad") >= 1) throw new Error();
 * ```
 */
export function recommendedLr(dataset: string, arch = "mlp", optimizer = "qoda"): number {
  if (!(GAN_DATASETS as readonly string[]).includes(dataset)) {
    throw new UnknownNameError("dataset", dataset, GAN_DATASETS);
  }
  if (!(GAN_ARCHS as readonly string[]).includes(arch)) {
    throw new UnknownNameError("GAN architecture", arch, GAN_ARCHS);
  }
  if (optimizer === "qoda-adagrad") {
    return dataset === "mnist" ? MNIST_ADAGRAD_LR : MIXTURE_ADAGRAD_LR;
  }
  if (optimizer === "qoda-rms") {
    if (dataset !== "mnist") return MIXTURE_RMS_LR;
    return arch === "mlp" ? MNIST_MLP_RMS_LR : MNIST_RMS_LR;
  }
  if (optimizer === "adam" || optimizer === "oadam") return GAN_ADAM_LR;
  return 10;
}

/**
 * The learning rate of `adam` and `oadam` on the WGAN (MNIST's demo problem:
 * FID 25.6 and 26.0 after 1,200 steps at β = (0, 0.99)).
 */
export const GAN_ADAM_LR = 1e-3;

/**
 * Adam's moment decays on the WGAN, β = (0, 0.99), as GAN trainers set them:
 * on MNIST's demo problem Adam's own (0.9, 0.999) had collapsed to a few
 * modes after 300 steps (FID 371, against 66 with these).
 */
export const GAN_ADAM_BETAS: readonly [beta1: number, beta2: number] = [0, 0.99];

/** The base learning rate of `qoda-adagrad` on the 2-D mixtures. */
export const MIXTURE_ADAGRAD_LR = 0.3;

/**
 * The base learning rate of `qoda-rms` on the 2-D mixtures (non-saturating,
 * packed, standard parameterisation: a rate in the units of the weights).
 */
export const MIXTURE_RMS_LR = 0.003;

/**
 * The base learning rate of `qoda-rms` on MNIST (non-saturating, standard
 * parameterisation: a rate in the units of the weights).
 */
export const MNIST_RMS_LR = 0.002;

/**
 * The base learning rate of `qoda-rms` for MNIST's `mlp` pair
 * (non-saturating, equalized parameterisation: the standard one did not
 * train this pair at lr 2e-4 to 2e-3).
 */
export const MNIST_MLP_RMS_LR = 0.005;

/** The base learning rate of `qoda-adagrad` on MNIST (both architectures). */
export const MNIST_ADAGRAD_LR = 0.1;

/** What `deno task train` uses for a dataset when the command line leaves it out. */
export interface WganTrainingDefaults {
  /** The optimiser. */
  optimizer: OptimizerName;
  /** Its base learning rate ({@linkcode recommendedLr}). */
  lr: number;
  /** Iterations. */
  steps: number;
  /** Samples per worker per step. */
  batch: number;
  /** Gradient-penalty weight λ. */
  gp: number;
  /** Decay of the parameters' moving average that is evaluated and shipped (0: none). */
  average: number;
  /** The generator/critic pair. */
  arch: GanArch;
  /** The players' losses. */
  loss: GanLoss;
  /** Samples per critic input (PacGAN's packing; 1: none). */
  pack: number;
  /** How the networks store and initialise their kernels. */
  parameterization: Parameterization;
  /** Hidden widths, where the dataset has its own (else the pair's default). */
  widths?: number[];
  /** `adam` and `oadam`: the first-moment decay ({@linkcode GAN_ADAM_BETAS}). */
  beta1?: number;
  /** `adam` and `oadam`: the second-moment decay ({@linkcode GAN_ADAM_BETAS}). */
  beta2?: number;
}

/**
 * The training settings of a dataset, for the optimiser and architecture
 * given on the command line (or none: the dataset's own).
 *
 * gaussians8's own optimiser is `qoda-adagrad` (QODA with per-coordinate
 * step sizes), MNIST's and gaussians25's is `qoda-rms` (the same rule over
 * a window of recent variations), all with the simultaneous VI operator
 * (one generator and one critic step per iteration):
 *
 * - MNIST (`qoda-rms`): the `dcgan` pair in the standard parameterisation
 *   (kernels stored as used, PyTorch's initialisation), the non-saturating
 *   loss without a penalty, lr {@linkcode MNIST_RMS_LR}, batch 32 per
 *   worker, {@linkcode MNIST_STEPS} steps, and the generator evaluated and
 *   shipped as a moving average with decay 0.999 (`average`). With
 *   `arch: "mlp"`: batch 64, the equalized parameterisation, lr
 *   {@linkcode MNIST_MLP_RMS_LR}.
 * - MNIST with `qoda-adagrad` (its defaults until 2026-12-07): the `dcgan`
 *   pair, lr {@linkcode MNIST_ADAGRAD_LR}, WGAN-GP with λ = 10, batch 32
 *   (64 for `mlp`), {@linkcode MNIST_ADAGRAD_STEPS} steps, average 0.999.
 * - The mixtures with `qoda-adagrad`: lr {@linkcode MIXTURE_ADAGRAD_LR},
 *   λ = 0.1 as in the WGAN-GP paper's toy experiments, the `mlp` pair,
 *   average 0.999, and {@linkcode MIXTURE_STEPS} steps at a batch per
 *   worker of 128 for gaussians8 (two workers make the paper's batch of 256
 *   per step; 256 each gave the same quality per step at 1.3× the time) and
 *   256 for gaussians25 (128 covered fewer modes at equal steps).
 * - The mixtures with `qoda-rms` (gaussians25's own): lr
 *   {@linkcode MIXTURE_RMS_LR}, the non-saturating loss (`"ns"`) with a
 *   critic packing 2 samples and no penalty, hidden widths 64, 64, 64 in
 *   the standard parameterisation (kernels stored as used, PyTorch's
 *   initialisation), batch 128 per worker, average 0.995,
 *   {@linkcode PACKED_STEPS} steps.
 * - `adam` and `oadam`: the dataset's own problem and steps, as above (so a
 *   comparison changes the optimiser alone), at lr {@linkcode GAN_ADAM_LR}
 *   with β = {@linkcode GAN_ADAM_BETAS}.
 *
 * Plain QODA's one step size for all coordinates trains these pairs only
 * slowly (see the module doc); with `optimizer: "qoda"`, `"qgenx"` or
 * `"sgd"` a dataset keeps QODA's settings: the `mlp` pair, lr 10, batch 64,
 * λ = 10 (MNIST) or 1 (mixtures), 1,500 steps, no average. (Q-GenX did not
 * train MNIST's demo problem at any lr from 0.01 to 10.)
 *
 * @param dataset `mnist`, `gaussians8` or `gaussians25`.
 * @param optimizer The optimiser asked for; omit for the dataset's default.
 * @param arch The architecture asked for; omit for the dataset's default.
 * @returns The settings.
 * @throws {UnknownNameError} An unknown dataset.
 *
 * @example
 * ```ts
 * import { trainingDefaults } from "./mod.ts";
 * const d = trainingDefaults("gaussians8");
 * if (d.optimizer !== "qoda-adagrad" || d.gp !== 0.1 || d.arch !== "mlp") throw new Error();
 * if (trainingDefaults("gaussians8", "qoda").lr !== 10) throw new Error();
 * const m = trainingDefaults("mnist");
 * if (m.arch !== "dcgan" || m.batch !== 32 || m.average !== 0.999) throw new Error();
 * if (m.optimizer !== "qoda-rms" || m.loss !== "ns" || m.gp !== 0) throw new Error();
 * if (trainingDefaults("mnist", "qoda-adagrad").gp !== 10) throw new Error();
 * if (trainingDefaults("mnist", undefined, "mlp").batch !== 64) throw new Error();
 * const g = trainingDefaults("gaussians25");
 * if (g.optimizer !== "qoda-rms" || g.loss !== "ns" || g.pack !== 2) throw new Error();
 * if (g.parameterization !== "standard" || d.parameterization !== "equalized") throw new Error();
 * ```
 */
export function trainingDefaults(
  dataset: string,
  optimizer?: string,
  arch?: string,
): WganTrainingDefaults {
  if (!(GAN_DATASETS as readonly string[]).includes(dataset)) {
    throw new UnknownNameError("dataset", dataset, GAN_DATASETS);
  }
  const mnist = dataset === "mnist";
  const plain = { loss: "wgan", pack: 1, parameterization: "equalized" } as const;
  if ((optimizer === undefined && dataset !== "gaussians8") || optimizer === "qoda-rms") {
    if (mnist) {
      const pair = (arch ?? "dcgan") as GanArch;
      return {
        optimizer: "qoda-rms",
        lr: recommendedLr("mnist", pair, "qoda-rms"),
        steps: MNIST_STEPS,
        batch: pair === "dcgan" ? 32 : 64,
        gp: 0,
        average: 0.999,
        arch: pair,
        loss: "ns",
        pack: 1,
        parameterization: pair === "dcgan" ? "standard" : "equalized",
      };
    }
    return {
      optimizer: "qoda-rms",
      lr: MIXTURE_RMS_LR,
      steps: PACKED_STEPS,
      batch: 128,
      gp: 0,
      average: 0.995,
      arch: (arch ?? "mlp") as GanArch,
      loss: "ns",
      pack: 2,
      parameterization: "standard",
      widths: [64, 64, 64],
    };
  }
  if (optimizer === undefined || optimizer === "qoda-adagrad") {
    const pair = (arch ?? (mnist ? "dcgan" : "mlp")) as GanArch;
    return mnist
      ? {
        optimizer: "qoda-adagrad",
        lr: MNIST_ADAGRAD_LR,
        steps: MNIST_ADAGRAD_STEPS,
        batch: pair === "dcgan" ? 32 : 64,
        gp: 10,
        average: 0.999,
        arch: pair,
        ...plain,
      }
      : {
        optimizer: "qoda-adagrad",
        lr: MIXTURE_ADAGRAD_LR,
        steps: MIXTURE_STEPS[dataset as MixtureName],
        batch: dataset === "gaussians8" ? 128 : 256,
        gp: 0.1,
        average: 0.999,
        arch: pair,
        ...plain,
      };
  }
  const name = optimizer as OptimizerName;
  if (name === "adam" || name === "oadam") {
    const own = trainingDefaults(dataset, undefined, arch);
    const [beta1, beta2] = GAN_ADAM_BETAS;
    return { ...own, optimizer: name, lr: GAN_ADAM_LR, beta1, beta2 };
  }
  return {
    optimizer: name,
    lr: recommendedLr(dataset, "mlp", name),
    steps: 1500,
    batch: 64,
    gp: mnist ? 10 : 1,
    average: 0,
    arch: (arch ?? "mlp") as GanArch,
    ...plain,
  };
}

/** Iterations of an MNIST run with {@linkcode trainingDefaults} (`qoda-rms`, MNIST's own). */
export const MNIST_STEPS = 2400;

/** Iterations of an MNIST run with `qoda-adagrad` (MNIST's default until 2026-12-07). */
export const MNIST_ADAGRAD_STEPS = 1500;

/**
 * Iterations of a mixture run with {@linkcode trainingDefaults}: each fits
 * in 5 minutes on 2 cores (gaussians8 241–288 s, gaussians25 295 s).
 */
export const MIXTURE_STEPS: Readonly<Record<MixtureName, number>> = {
  gaussians8: 18_000,
  gaussians25: 16_000,
};

/**
 * Iterations of a mixture run with `qoda-rms` (gaussians25's own
 * optimiser): the non-saturating loss with a packed critic at batch 128.
 */
export const PACKED_STEPS = 15_000;

interface WorkerState {
  data: RngState;
  noise: RngState;
}

function isRngState(s: unknown): s is RngState {
  const r = s as RngState | null;
  return typeof r === "object" && r !== null && Array.isArray(r.s);
}

function checkCount(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new RangeError(`${name} must be an integer in 1..${max}, got ${v}`);
  }
}

/**
 * Builds the WGAN problem. Initialise the tfjs backend first (`initBackend`);
 * the problem owns one set of variables, shared by its in-process workers
 * and `evaluate` (every call loads its own point, synchronously).
 *
 * `evaluate` returns, for the mixtures, `quality` = `modes_covered` (higher
 * is better) plus `modes`, `high_quality` (share) and `mean_distance` (to
 * the nearest mode; see `quality.ts`); for MNIST `quality` = `fid` (lower is
 * better) plus `label_entropy`. Both use a fixed latent seed.
 *
 * @param tf The tfjs module.
 * @param options Dataset, architecture and the rest; see {@linkcode WganOptions}.
 * @returns The problem; `dispose()` it when done.
 * @throws {UnknownNameError} Unknown dataset or architecture.
 * @throws {RangeError} Bad sizes, λ or clip.
 *
 * @example One worker's operator sample on the ring of eight
 * ```ts
 * import { Rng } from "@qoda/ring";
 * import { initBackend } from "@qoda/ring/tfjs";
 * import { createWganProblem } from "./mod.ts";
 * const { tf } = await initBackend("cpu");
 * const p = await createWganProblem(tf, { dataset: "gaussians8", batch: 16, evalSamples: 200 });
 * const x = p.initial(), v = new Float32Array(p.dim);
 * p.worker(0, 2, new Rng(3)).operator(x, v);
 * if (!v.some((g) => g !== 0) || p.layers[0].name !== "gen/dense1/kernel") throw new Error();
 * const m = await p.evaluate(x);
 * if (!(m.quality >= 0 && m.quality <= 8)) throw new Error();
 * p.dispose();
 * ```
 */
export async function createWganProblem(tf: Tfjs, options: WganOptions): Promise<WganProblem> {
  const { dataset, arch: archName = "mlp" } = options;
  if (!(GAN_DATASETS as readonly string[]).includes(dataset)) {
    throw new UnknownNameError("dataset", dataset, GAN_DATASETS);
  }
  const isMnist = dataset === "mnist";
  const {
    batch = 64,
    latentDim = isMnist ? 64 : 2,
    gp = isMnist ? 10 : 1,
    loss = "wgan",
    pack = 1,
    clip,
    seed = 0,
    evalSamples = isMnist ? 1000 : 2500,
    evalSeed = 12345,
    testSize = 2000,
    splitSeed = 0,
  } = options;
  const mix = isMnist ? undefined : mixture(dataset);
  const dataScale = options.dataScale ?? (dataset === "gaussians25" ? mix!.std : 1);
  if (!(dataScale > 0 && Number.isFinite(dataScale)) || (isMnist && dataScale !== 1)) {
    throw new RangeError(
      `dataScale must be ${isMnist ? "1 for mnist" : "a positive number"}, got ${dataScale}`,
    );
  }
  checkCount("batch", batch, 8192);
  checkCount("evalSamples", evalSamples, 100_000);
  if (!(gp >= 0 && Number.isFinite(gp))) throw new RangeError(`gp (λ) must be ≥ 0, got ${gp}`);
  if (clip !== undefined && !(clip > 0 && Number.isFinite(clip))) {
    throw new RangeError(`clip must be positive, got ${clip}`);
  }
  if (!(GAN_LOSSES as readonly string[]).includes(loss)) {
    throw new UnknownNameError("GAN loss", loss, GAN_LOSSES);
  }
  const lambda = clip === undefined ? gp : 0;
  const sampleDim = isMnist ? MNIST_PIXELS : 2;
  const arch = ganArchitecture({
    arch: archName,
    sampleDim,
    latentDim,
    pack,
    ...(options.parameterization ? { parameterization: options.parameterization } : {}),
    ...(options.widths ? { widths: options.widths } : {}),
  });
  if (batch % pack !== 0) {
    throw new RangeError(`batch ${batch} is not a multiple of pack ${pack}`);
  }

  let train: Dataset | undefined, test: Dataset | undefined;
  if (isMnist) ({ train, test } = splitTrainTest(await loadMnist(), { testSize, seed: splitSeed }));

  const model = new GanModel(tf, arch);
  const x0 = initialParams(arch, seed);
  const genDim = model.genDim;
  const clipCritic = (x: Float32Array) => {
    if (clip === undefined) return;
    for (let i = genDim; i < x.length; i++) x[i] = Math.min(clip, Math.max(-clip, x[i]));
  };
  clipCritic(x0);

  const latent = (n: number, s: number) => {
    const r = new Rng(s);
    const z = new Float32Array(n * latentDim);
    for (let i = 0; i < z.length; i++) z[i] = r.normal();
    return z;
  };
  const evalZ = latent(evalSamples, evalSeed);
  const shards = new Map<number, Dataset[]>();
  let scorer = options.scorer;
  const name = `wgan-${dataset}-${arch.arch}`;

  const generate = (x: Float32Array, n: number, s = evalSeed): Float32Array => {
    checkCount("n", n, 1_000_000);
    model.load(x);
    const out = model.generate(n === evalSamples && s === evalSeed ? evalZ : latent(n, s), n);
    if (dataScale !== 1) { for (let i = 0; i < out.length; i++) out[i] *= dataScale; }
    return out;
  };

  return {
    name,
    dataset: dataset as GanDataset,
    arch,
    ...(mix ? { mixture: mix } : {}),
    dim: model.dim,
    genDim,
    layers: model.layers,
    lowerIsBetter: isMnist,
    defaultLr: recommendedLr(dataset, arch.arch),
    config: {
      dataset,
      arch: arch.arch,
      batch,
      latentDim,
      widths: arch.arch === "mlp"
        ? arch.generator.filter((p) => p.type === "dense").slice(0, -1).map((p) => p.shape[1])
        : [arch.generator[4].shape[2], arch.generator[2].shape[2]],
      gp: lambda,
      loss,
      pack,
      parameterization: arch.parameterization,
      clip: clip ?? null,
      dataScale,
      seed,
      evalSamples,
      evalSeed,
      testSize,
      splitSeed,
    },
    initial: () => x0.slice(),
    ...(clip === undefined ? {} : { project: clipCritic }),
    generate,
    sampleImage(x: Float32Array): RasterImage {
      if (mix) {
        const extent = 1.5 * mix.centers.reduce((m, c) => Math.max(m, Math.abs(c)), 0);
        return scatterImage(generate(x, evalSamples), { centers: mix.centers, extent });
      }
      return sampleGrid(generate(x, 64), { columns: 8, size: 28, range: [-1, 1] });
    },
    generatorModel: (x: Float32Array) => generatorAsLayersModel(tf, arch, x, dataScale),
    saveGenerator: (x: Float32Array, dir: string) => saveGenerator(tf, arch, x, dir, dataScale),
    qualityName: isMnist ? "fid" : "modes_covered",
    async evaluate(x: Float32Array): Promise<Record<string, number>> {
      if (mix) {
        const q = mixtureQuality(generate(x, evalSamples), mix);
        return {
          quality: q.modesCovered,
          modes_covered: q.modesCovered,
          modes: q.modes,
          high_quality: q.highQuality,
          mean_distance: q.meanDistance,
        };
      }
      scorer ??= await createMnistScorer(tf, { reference: test! });
      const samples = generate(x, evalSamples);
      const { fid, labelEntropy } = scorer.score(samples);
      return { quality: fid, fid, label_entropy: labelEntropy };
    },
    worker(rank: number, size: number, rng: Rng): ProblemWorker {
      if (!Number.isInteger(size) || size < 1) {
        throw new RangeError(`size must be a positive integer, got ${size}`);
      }
      if (!Number.isInteger(rank) || rank < 0 || rank >= size) {
        throw new RangeError(`rank must be an integer in 0..${size - 1}, got ${rank}`);
      }
      // The runtime's stream for this rank: its first fork draws data, its second
      // latent vectors and ε.
      let dataRng = rng.fork(), noiseRng = rng.fork();
      let images: Float32Array | undefined, count = 0;
      if (train) {
        let parts = shards.get(size);
        if (!parts) shards.set(size, parts = shard(train, size, seed));
        images = toSigned(parts[rank].images);
        count = parts[rank].count;
      }
      const real = new Float32Array(batch * sampleDim);
      const z = new Float32Array(batch * latentDim);
      const eps = new Float32Array(batch);
      let last: WganScalars | undefined;
      return {
        operator(x: Float32Array, out: Float32Array): void {
          if (images) {
            for (let i = 0; i < batch; i++) {
              const k = Math.min(count - 1, Math.floor(dataRng.nextFloat() * count));
              real.set(images.subarray(k * sampleDim, (k + 1) * sampleDim), i * sampleDim);
            }
          } else {
            sampleMixture(mix!, batch, dataRng, real);
            if (dataScale !== 1) { for (let i = 0; i < real.length; i++) real[i] /= dataScale; }
          }
          for (let i = 0; i < z.length; i++) z[i] = noiseRng.normal();
          for (let i = 0; i < batch; i++) eps[i] = noiseRng.nextFloat();
          model.load(x);
          last = wganOperator(model, { real, z, eps }, lambda, out, loss as GanLoss);
        },
        scalars: () => last ? { ...last } : {},
        state: (): WorkerState => ({ data: dataRng.state(), noise: noiseRng.state() }),
        restore(state: unknown): void {
          const s = state as WorkerState | null;
          if (!s || !isRngState(s.data) || !isRngState(s.noise)) {
            throw new TypeError("WGAN worker state needs { data, noise } Rng states");
          }
          dataRng = Rng.fromState(s.data);
          noiseRng = Rng.fromState(s.noise);
        },
      };
    },
    dispose(): void {
      model.dispose();
      if (!options.scorer) scorer?.dispose();
    },
  };
}

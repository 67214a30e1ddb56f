/**
 * `deno task train` (the default problem, `--problem wgan`): a WGAN trained
 * with QODA over the ring by local worker processes (or remote ones), with a
 * progress line, periodic quality evaluations, and a run folder:
 * `metrics.jsonl`, `config.json`, `checkpoint/` (the generator as a TF.js
 * layers model), `samples.png` and `report.html`.
 *
 * @module
 */
import {
  checkQuantFlags,
  checkRuntimeFlags,
  COLLECTIVE_FLAG,
  collectiveRan,
  type Command,
  type FlagTable,
  type FlagValues,
  HELP_FLAG,
  helpText,
  parseFlags,
  runCli,
  RUNTIME_FLAGS,
  supervisorOptions,
  UsageError,
} from "./_cli.ts";
import { checkOutFlag, float32Bytes, RunFolder, wireBitsPerCoord } from "./_run_folder.ts";
import { Progress } from "./_progress.ts";
import { OPTIMIZER_NAMES } from "../runtime/optim/mod.ts";
import { SCHEMES } from "../runtime/quant/types.ts";
import { CODERS } from "../runtime/coding/codec.ts";
import { type JobConfig, jobConfig } from "../actors/job.ts";
import { problemModule } from "../models/registry.ts";
import { supervise } from "../actors/launch.ts";
import type {
  StepSummary,
  SupervisedEval,
  SupervisedResult,
  TrainingSupervisor,
} from "../actors/supervisor.ts";
import { GAN_DATASETS } from "../models/gan/datasets.ts";
import { GAN_ARCHS, PARAMETERIZATIONS } from "../models/gan/networks.ts";
import { GAN_LOSSES } from "../models/gan/loss.ts";
import {
  GAN_ADAM_BETAS,
  GAN_ADAM_LR,
  MIXTURE_ADAGRAD_LR,
  MIXTURE_RMS_LR,
  MIXTURE_STEPS,
  MNIST_ADAGRAD_LR,
  MNIST_ADAGRAD_STEPS,
  MNIST_MLP_RMS_LR,
  MNIST_RMS_LR,
  MNIST_STEPS,
  PACKED_STEPS,
  recommendedLr,
  trainingDefaults,
  type WganProblem,
} from "../models/gan/wgan.ts";
import { encodePng } from "../models/gan/png.ts";
import {
  readable,
  renderReport,
  type ReportRecord,
  type ReportSummary,
  type SettingValue,
} from "../models/gan/report.ts";
import { BACKENDS } from "../models/tfjs/backend/backend.ts";

/** The flags of `deno task train` (the WGAN). */
export const GAN_FLAGS = {
  problem: {
    type: "string",
    choices: ["wgan"],
    default: "wgan",
    help: "the WGAN (bilinear|quadratic|linear|kelly and mnist have their own flags: " +
      "deno task train --problem P --help)",
  },
  dataset: { type: "string", choices: GAN_DATASETS, default: "mnist", help: "data set" },
  arch: {
    type: "string",
    choices: GAN_ARCHS,
    defaultHelp: "dcgan for mnist (mlp with --optimizer qoda, qgenx or sgd), mlp for the mixtures",
    help: "generator and critic (dcgan is for mnist)",
  },
  workers: { type: "int", min: 1, default: 2, help: "worker processes" },
  optimizer: {
    type: "string",
    choices: OPTIMIZER_NAMES,
    defaultHelp: "qoda-rms (QODA's per-coordinate step sizes over a window of recent " +
      "variations) for mnist and gaussians25, qoda-adagrad (over all of them) for gaussians8",
    help: "optimiser",
  },
  quant: { type: "string", choices: SCHEMES, default: "layerwise", help: "quantizer" },
  bits: { type: "int", min: 1, max: 16, default: 4, help: "quantizer bits" },
  bucket: { type: "int", min: 1, default: 1024, help: "quantizer bucket size" },
  ...COLLECTIVE_FLAG,
  coder: { type: "string", choices: CODERS, default: "fixed", help: "coder of the messages" },
  steps: {
    type: "int",
    min: 1,
    defaultHelp: `${MNIST_STEPS} for mnist (about 2.5 minutes on 2 cores; ${MNIST_ADAGRAD_STEPS} ` +
      `with qoda-adagrad); with qoda-adagrad ${MIXTURE_STEPS.gaussians8} for gaussians8, ${MIXTURE_STEPS.gaussians25} for gaussians25, ` +
      `with qoda-rms ${PACKED_STEPS} for the mixtures (under 5 minutes each); adam and oadam: ` +
      "the dataset's own; 1500 with qoda, qgenx or sgd",
    help: "iterations",
  },
  lr: {
    type: "number",
    above: 0,
    defaultHelp: `qoda-adagrad: ${MNIST_ADAGRAD_LR} for mnist, ${MIXTURE_ADAGRAD_LR} for the ` +
      `mixtures; qoda-rms: ${MNIST_RMS_LR} for mnist (${MNIST_MLP_RMS_LR} for its mlp), ` +
      `${MIXTURE_RMS_LR} for the mixtures; ${GAN_ADAM_LR} for adam and oadam; ` +
      `${recommendedLr("mnist")} for qoda (useful range 3–10), qgenx and sgd`,
    help: "base learning rate",
  },
  "lr-gamma": {
    type: "number",
    above: 0,
    defaultHelp: "--lr",
    help: "QODA: base of the extrapolation step γ",
  },
  "lr-eta": {
    type: "number",
    above: 0,
    defaultHelp: "--lr",
    help: "QODA: base of the dual-averaging weight η",
  },
  beta1: {
    type: "number",
    min: 0,
    max: 0.9999,
    defaultHelp: `${GAN_ADAM_BETAS[0]}, as GAN trainers use Adam (its own default is 0.9)`,
    help: "adam, oadam: first-moment decay (WGAN-GP uses 0.5)",
  },
  beta2: {
    type: "number",
    min: 0,
    max: 0.99999,
    defaultHelp: `${GAN_ADAM_BETAS[1]} (Adam's own default is 0.999)`,
    help: "adam, oadam: second-moment decay (WGAN-GP uses 0.9)",
  },
  batch: {
    type: "int",
    min: 1,
    defaultHelp: "qoda-adagrad: 32 for the mnist dcgan, 128 for gaussians8, 256 for gaussians25; " +
      "qoda-rms: 32 for the mnist dcgan, 128 for the mixtures; adam and oadam: the dataset's own; " +
      "else 64",
    help: "samples per worker per step",
  },
  widths: {
    type: "int",
    list: true,
    min: 1,
    max: 4096,
    value: "A,B[,…]",
    defaultHelp: "128,256 for the mnist mlp, 64,64 for the mixtures' mlp (64,64,64 with " +
      "qoda-rms), 16,32 for the dcgan",
    help: "mlp: the generator's hidden widths, one per hidden layer (1 to 8; the critic uses " +
      "them reversed); dcgan: its two channel counts",
  },
  "latent-dim": {
    type: "int",
    min: 1,
    defaultHelp: "64 for mnist, 2 for the mixtures",
    help: "length of z",
  },
  "data-scale": {
    type: "number",
    above: 0,
    value: "X",
    defaultHelp: "the mixture's standard deviation (2.83) for gaussians25, 1 otherwise",
    help: "mixtures: the networks see coordinates divided by X, samples are the generator's " +
      "outputs times X (quality is measured in the data's own units)",
  },
  gp: {
    type: "number",
    min: 0,
    defaultHelp: "0 with qoda-rms; 10 for mnist, 0.1 for the mixtures with qoda-adagrad; 10 " +
      "(mnist) or 1 (mixtures) with another optimiser",
    help: "gradient-penalty weight λ",
  },
  loss: {
    type: "string",
    choices: GAN_LOSSES,
    defaultHelp: "ns with qoda-rms, wgan otherwise",
    help: "the players' losses: wgan (WGAN-GP) or ns (the non-saturating GAN, a logit critic)",
  },
  pack: {
    type: "int",
    min: 1,
    max: 16,
    defaultHelp: "2 with qoda-rms on the mixtures, 1 otherwise",
    help: "mlp: samples the critic scores together (PacGAN's packing; --batch must be a multiple)",
  },
  parameterization: {
    type: "string",
    choices: PARAMETERIZATIONS,
    defaultHelp: "standard with qoda-rms (but for the mnist mlp), equalized otherwise",
    help: "how the networks store and initialise their kernels: equalized (in units of their He " +
      "constant, N(0, 1), biases 0) or standard (as used, uniform in ±1/√fan_in, as PyTorch)",
  },
  clip: {
    type: "number",
    above: 0,
    value: "C",
    help: "weight clipping at ±C instead of the gradient penalty",
  },
  average: {
    type: "number",
    min: 0,
    value: "DECAY",
    defaultHelp: "0.999 with qoda-adagrad and with qoda-rms on mnist, 0.995 with qoda-rms on the " +
      "mixtures, 0 with another optimiser",
    help: "evaluate, checkpoint and return a moving average of the parameters with this decay " +
      "per step (the averaged generator; 0: the last iterate)",
  },
  "eval-every": {
    type: "int",
    min: 1,
    defaultHelp: "steps/10",
    help: "evaluate quality every N steps",
  },
  "eval-samples": {
    type: "int",
    min: 1,
    defaultHelp: "1000 mnist, 2500 mixtures",
    help: "samples per evaluation",
  },
  target: {
    type: "number",
    value: "Q",
    help: "quality target: time_to_target_s is the first evaluation that reaches it (mnist: " +
      "Fréchet distance ≤ Q; mixtures: modes covered ≥ Q)",
  },
  backend: { type: "string", choices: BACKENDS, default: "auto", help: "tfjs backend" },
  seed: { type: "int", min: 0, default: 0, help: "seed of everything" },
  out: {
    type: "string",
    value: "DIR",
    defaultHelp: "runs/<timestamp>",
    help: "run folder; checkpoint/ holds the latest generator, refreshed at every evaluation",
  },
  "no-artifacts": { type: "boolean", help: "write no run folder (benchmarks)" },
  "commit-every": {
    type: "int",
    min: 0,
    default: 0,
    help: "commit every N steps into the run folder (0: by the clock only, see --commit-seconds)",
  },
  "commit-seconds": {
    type: "number",
    min: 0,
    default: 60,
    help: "also commit into the run folder once this many seconds passed since the last " +
      "commit (0: never); a Ctrl-C commits too, so a run can always --resume",
  },
  resume: { type: "string", value: "DIR", help: "continue bit-exactly from DIR/commit.json" },
  ...RUNTIME_FLAGS,
  json: {
    type: "boolean",
    group: "output",
    help: "print a final JSON line (dataset, steps, quality, modes_covered and high_quality " +
      "for the mixtures, time_to_target_s, bytes_sent, step_ms, …)",
  },
  quiet: { type: "boolean", group: "output", help: "no progress output" },
  help: { ...HELP_FLAG.help, group: "output" },
} as const satisfies FlagTable;

/** The `--help` text. */
export function ganHelp(): string {
  return helpText({
    usage: [
      "deno task train [flags]            (the WGAN demo; --problem wgan is the default)",
      "deno task train --problem bilinear|quadratic|linear|kelly [flags]   (monotone games)",
      "deno task train --problem mnist [flags]   (the MNIST classifier demo)",
    ],
    about:
      "Trains a Wasserstein GAN data-parallel: every worker process computes the VI operator\n" +
      "(∇_G loss_G, ∇_D loss_D) on its own data shard and noise, the operator samples are\n" +
      "quantized and all-reduced over the TCP ring, and QODA updates every replica; a supervisor\n" +
      "in this process owns the step sizes, the layer-wise level tables, commits and\n" +
      "evaluations, and restarts a worker that dies. Writes a run folder (metrics.jsonl,\n" +
      "config.json, checkpoint/, samples.png, report.html).",
    flags: GAN_FLAGS,
  });
}

/** Parsed flags. */
interface GanCli {
  flags: FlagValues<typeof GAN_FLAGS>;
  job: JobConfig;
  workers: number;
  evalEvery: number;
  target: number | null;
  json: boolean;
  quiet: boolean;
}

/**
 * Parses the WGAN command line.
 * @throws {UsageError} Naming the bad flag and value.
 */
export function parseGanArgs(args: string[]): GanCli {
  const { values: a, given } = parseFlags(args, GAN_FLAGS);
  checkRuntimeFlags(a, given);
  if (a.runtime !== "process") {
    throw new UsageError("--runtime: the WGAN runs on worker processes: --runtime process");
  }
  // The dataset's settings for the optimiser and pair asked for (or the dataset's own).
  const d = trainingDefaults(a.dataset, a.optimizer, a.arch);
  if (d.arch === "dcgan" && a.dataset !== "mnist") {
    throw new UsageError("--arch dcgan is for --dataset mnist");
  }
  checkQuantFlags(a.quant, a.bits, a.bucket);
  if (a["no-artifacts"] && (a["commit-every"] > 0 || a.out !== undefined)) {
    throw new UsageError("--no-artifacts cannot be combined with --out or --commit-every");
  }
  checkOutFlag(a.out);
  for (const k of ["beta1", "beta2"] as const) {
    if (a[k] !== undefined && d.optimizer !== "adam" && d.optimizer !== "oadam") {
      throw new UsageError(`--${k} is for --optimizer adam or oadam, not ${d.optimizer}`);
    }
  }
  if (a.average !== undefined && a.average >= 1) {
    throw new UsageError(`--average: a decay in [0, 1) (0: no average), got ${a.average}`);
  }
  const steps = a.steps ?? d.steps;
  const problemOptions: Record<string, unknown> = {
    dataset: a.dataset,
    arch: d.arch,
    batch: a.batch ?? d.batch,
    backend: a.backend,
    gp: a.gp ?? d.gp,
    loss: a.loss ?? d.loss,
    pack: a.pack ?? d.pack,
    parameterization: a.parameterization ?? d.parameterization,
  };
  if (problemOptions.pack !== 1 && d.arch !== "mlp") {
    throw new UsageError(`--pack: the ${d.arch} pair scores one sample at a time; use --arch mlp`);
  }
  if ((problemOptions.batch as number) % (problemOptions.pack as number) !== 0) {
    throw new UsageError(
      `--batch ${problemOptions.batch} is not a multiple of --pack ${problemOptions.pack}`,
    );
  }
  if (d.widths && a.widths === undefined) problemOptions.widths = d.widths;
  if (a.widths !== undefined) {
    const arch = d.arch;
    const ok = arch === "mlp"
      ? a.widths.length >= 1 && a.widths.length <= 8
      : a.widths.length === 2;
    if (!ok) {
      throw new UsageError(
        `--widths: expected ${
          arch === "mlp" ? "1 to 8 widths (mlp)" : "two channel counts (dcgan)"
        }, ` +
          `got '${a.widths.join(",")}'`,
      );
    }
    problemOptions.widths = a.widths;
  }
  if (a["latent-dim"] !== undefined) problemOptions.latentDim = a["latent-dim"];
  if (a["data-scale"] !== undefined) {
    if (a.dataset === "mnist" && a["data-scale"] !== 1) {
      throw new UsageError("--data-scale is for the mixtures (--dataset gaussians8|gaussians25)");
    }
    problemOptions.dataScale = a["data-scale"];
  }
  if (a.clip !== undefined) problemOptions.clip = a.clip;
  if (a["eval-samples"] !== undefined) problemOptions.evalSamples = a["eval-samples"];
  const job: JobConfig = jobConfig({
    problem: "wgan",
    module: problemModule("wgan"),
    problemOptions,
    optimizer: d.optimizer,
    lr: a.lr ?? d.lr,
    lrGamma: a["lr-gamma"],
    lrEta: a["lr-eta"],
    beta1: a.beta1 ?? d.beta1,
    beta2: a.beta2 ?? d.beta2,
    quant: a.quant,
    bits: a.bits,
    bucket: a.bucket,
    collective: a.collective,
    coder: a.coder,
    steps,
    seed: a.seed,
    average: a.average ?? d.average,
  });
  return {
    flags: a,
    job,
    workers: a.workers,
    evalEvery: a["eval-every"] ?? Math.max(1, Math.floor(steps / 10)),
    target: a.target ?? null,
    json: a.json,
    quiet: a.quiet,
  };
}

/** Mean of the defined values (0 when none). */
function mean(values: (number | undefined)[]): number {
  const v = values.filter((x): x is number => x !== undefined);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0;
}

/** Per-step sums between two evaluations. */
function emptyWindow() {
  return {
    steps: 0,
    ms: 0,
    bytes: 0,
    bits: 0,
    compute: 0,
    quantize: 0,
    comm: 0,
    opt: 0,
    control: 0,
  };
}

/** The job's settings as the report shows them (rounded, with units; no results). */
function ganSettings(cfg: GanCli, p: WganProblem): Record<string, SettingValue | undefined> {
  const { job } = cfg;
  const c = p.config;
  const adapt = job.adapt;
  return {
    problem: "WGAN",
    dataset: c.dataset,
    architecture: `${c.arch} (hidden widths ${c.widths.join(", ")})`,
    parameters: p.dim,
    workers: cfg.workers,
    optimizer: job.optimizer,
    "learning rate": job.lr,
    "learning rate γ": job.lrGamma,
    "learning rate η": job.lrEta,
    "Adam β1": job.beta1,
    "Adam β2": job.beta2,
    "evaluated at": job.average
      ? `a moving average of the parameters (decay ${job.average})`
      : "the last iterate",
    quantizer: job.quant === "none" ? "none (float32)" : `${job.quant}, ${job.bits} bits`,
    bucket: job.quant === "none" ? undefined : { value: job.bucket, unit: "coordinates" },
    collective: job.quant === "none" ? "ring all-reduce" : job.collective,
    coder: job.quant === "none" ? undefined : job.coder,
    "level re-solves": job.quant !== "layerwise"
      ? undefined
      : adapt === false
      ? "never"
      : `steps ${(adapt.warmup ?? []).map(readable).join(", ")}${
        adapt.every ? `, then every ${readable(adapt.every)}` : ""
      }`,
    steps: job.steps,
    batch: { value: c.batch, unit: "samples per worker" },
    "latent dimension": c.latentDim,
    "data scale": c.dataScale === 1 ? undefined : Number(c.dataScale.toPrecision(4)),
    parameterization: c.parameterization,
    loss: c.loss === "ns" ? "non-saturating (ns)" : "Wasserstein (wgan)",
    critic: `${
      c.clip !== null
        ? `weight clipping at ±${c.clip}`
        : c.gp
        ? `gradient penalty λ = ${c.gp}`
        : "no penalty"
    }${c.pack > 1 ? `, scores ${c.pack} samples packed together` : ""}`,
    "evaluate every": { value: cfg.evalEvery, unit: "steps" },
    "evaluation samples": c.evalSamples,
    "quality target": cfg.target,
    "replica checksums every": job.checksumEvery
      ? { value: job.checksumEvery, unit: "steps" }
      : "never",
    "collective timeout": { value: job.timeoutMs, unit: "ms" },
    "commit every": cfg.flags["commit-every"]
      ? { value: cfg.flags["commit-every"], unit: "steps" }
      : undefined,
    backend: job.problemOptions.backend as string,
    seed: job.seed,
  };
}

/** Runs a parsed WGAN command line; returns the exit code. */
async function runGan(cfg: GanCli): Promise<number> {
  const { job, flags } = cfg;
  const progress = new Progress({
    total: job.steps,
    quiet: cfg.quiet,
    fromFirstTick: true,
  });
  const say = (line: string) => progress.log(line);
  const t0 = performance.now();
  const records: ReportRecord[] = [];
  let problem: WganProblem | null = null;
  let dim = 0;
  let sup: TrainingSupervisor | null = null;
  let window = emptyWindow();
  let lastStepAt = performance.now();
  let totalBytes = 0;
  // Bytes sent up to each step (an evaluation arrives some steps after the one it evaluates).
  const bytesAt = new Map<number, number>([[0, 0]]);
  let lastEval: SupervisedEval | null = null;
  let timeToTarget: number | null = null;
  let saving: Promise<void> = Promise.resolve();
  let lastLevels: SupervisedEval["levels"] = null;
  let lastStep = 0;
  const reached = (q: number) =>
    cfg.target !== null && (problem?.lowerIsBetter ? q <= cfg.target : q >= cfg.target);

  const folder = flags["no-artifacts"]
    ? null
    : await RunFolder.create({ out: flags.out, resumeFrom: flags.resume });
  try {
    const config = { job, workers: cfg.workers, evalEvery: cfg.evalEvery, target: cfg.target };
    await folder?.writeConfig(config);
    const quantLabel = job.quant === "none" ? "float32" : `${job.quant} ${job.bits}-bit`;
    say(
      `wgan ${job.problemOptions.dataset} (${job.problemOptions.arch}): ${cfg.workers} worker processes, ` +
        `${job.optimizer}, ${quantLabel} via ${job.quant === "none" ? "ring" : job.collective}, ` +
        `${job.steps} steps, lr ${job.lr}${folder ? `, run folder ${folder.dir}` : ""}`,
    );
    const onStep = (s: StepSummary) => {
      const now = performance.now();
      window.steps++;
      window.ms += now - lastStepAt;
      lastStepAt = now;
      lastStep = s.step;
      window.bytes += s.bytesSent;
      totalBytes += s.bytesSent;
      bytesAt.set(s.step, totalBytes);
      window.bits += wireBitsPerCoord(s, cfg.workers, dim, job.collective, job.quant);
      window.compute += s.computeMs;
      window.quantize += s.quantizeMs;
      window.comm += s.communicateMs;
      window.opt += s.optimizerMs;
      window.control += s.controlMs;
      const e = lastEval as SupervisedEval | null;
      const figures = e ? [`quality ${readable(e.metrics.quality)}`] : [];
      if (e?.scalars.loss_g !== undefined && e.scalars.loss_d !== undefined) {
        figures.push(`loss_g ${e.scalars.loss_g.toFixed(2)} loss_d ${e.scalars.loss_d.toFixed(2)}`);
      }
      figures.push(`${(window.bits / window.steps).toFixed(2)} bits/coord`);
      progress.tick(s.step, figures.join("  "));
    };
    const onEval = (e: SupervisedEval) => {
      lastEval = e;
      lastLevels = e.levels;
      const n = Math.max(1, window.steps);
      // Step 0 is the starting point: no losses, traffic or timings yet.
      const trained = e.step > 0 && window.steps > 0;
      const rec: ReportRecord = {
        step: e.step,
        seconds: (e.receivedAt - t0) / 1000,
        quality: e.metrics.quality,
        ...(trained
          ? {
            loss_g: e.scalars.loss_g ?? NaN,
            loss_d: e.scalars.loss_d ?? NaN,
            bits_per_coord: window.bits / n,
            eps: e.eps,
            timings: {
              compute_ms: window.compute / n,
              quantize_ms: window.quantize / n,
              communicate_ms: window.comm / n,
              optimizer_ms: window.opt / n,
            },
          }
          : {}),
      };
      const full = {
        ...rec,
        ...e.metrics,
        ...(trained ? { control_ms: window.control / n, step_ms: window.ms / n } : {}),
        bytes_sent: bytesAt.get(e.step) ?? totalBytes,
      };
      records.push(rec);
      for (const k of bytesAt.keys()) if (k < e.step) bytesAt.delete(k);
      if (timeToTarget === null && reached(e.metrics.quality)) timeToTarget = rec.seconds;
      if (trained) window = emptyWindow();
      // The latest generator, refreshed at every evaluation (one write at a time).
      if (trained && folder && problem) {
        const p = problem, x = e.params, dir = folder.path("checkpoint");
        saving = saving.then(() => p.saveGenerator(x, dir)).catch((err) =>
          console.error(`checkpoint at step ${e.step} failed: ${err.message}`)
        );
      }
      folder?.appendMetrics(full);
      const extra = Object.entries(e.metrics).filter(([k]) => k !== "quality")
        .map(([k, v]) => `${k} ${v.toFixed(3)}`).join(" ");
      const at = `step ${String(e.step).padStart(String(job.steps).length)}`;
      if (!trained) say(`${at}  quality ${e.metrics.quality.toFixed(3)} (${extra}) at the start`);
      else {
        say(
          `${at}  ${(1000 / (full.step_ms || 1)).toFixed(2)} steps/s  ` +
            `loss_g ${(rec.loss_g ?? NaN).toFixed(3)} loss_d ${(rec.loss_d ?? NaN).toFixed(3)}  ` +
            `quality ${e.metrics.quality.toFixed(3)} (${extra})  ` +
            `${(rec.bits_per_coord ?? 0).toFixed(2)} bits/coord`,
        );
      }
    };
    /** Writes report.html: at the end, or with what there is when the run ends early. */
    const writeReport = async (
      folder: RunFolder,
      p: WganProblem,
      summary: ReportSummary,
      recs: ReportRecord[],
      png?: Uint8Array,
    ): Promise<void> => {
      await Deno.writeTextFile(
        folder.path("report"),
        renderReport({
          title: `WGAN ${job.problemOptions.dataset}: ${job.optimizer}, ${
            job.quant === "none" ? "float32" : `${job.quant} ${job.bits}-bit`
          }, ${cfg.workers} workers`,
          subtitle: `Run folder ${folder.dir} · written ${
            new Date().toISOString().replace(/\.\d+Z$/, "Z").replace("T", " ")
          }`,
          settings: ganSettings(cfg, p),
          summary,
          records: recs,
          levels: lastLevels,
          quality: p.lowerIsBetter
            ? {
              name: "Fréchet distance",
              lowerIsBetter: true,
              description:
                `Fréchet distance between ${readable(p.config.evalSamples)} generated digits and ` +
                `the ${readable(p.config.testSize)} held-out digits, in the features of the ` +
                "project's MNIST classifier.",
            }
            : {
              name: "modes covered",
              lowerIsBetter: false,
              description: `Modes of the mixture covered by ${
                readable(p.config.evalSamples)
              } samples.`,
            },
          samplesPng: png,
          samplesCaption: !png
            ? undefined
            : p.lowerIsBetter
            ? "64 generated digits (fixed latent seed)"
            : `${readable(p.config.evalSamples)} generated points over the mixture's modes`,
        }),
      );
    };
    let result: SupervisedResult;
    try {
      result = await supervise({
        job,
        ...supervisorOptions(flags, cfg.workers),
        evalEvery: cfg.evalEvery,
        commitEvery: flags["commit-every"],
        commitEverySeconds: folder ? flags["commit-seconds"] : 0,
        commitDir: folder?.dir,
        resumeFrom: flags.resume,
        log: (l) => {
          if (!/ joined from | started worker process /.test(l)) progress.log(l, { stderr: true });
        },
        onStep,
        onEval,
        onRecovery: (ev) =>
          say(
            `recovery: epoch ${ev.epoch} failed (${ev.reason}); resuming after step ${ev.resumeStep} with ${ev.size} workers`,
          ),
      }, (address) => {
        if (flags["remote-workers"]) {
          say(`waiting for ${cfg.workers} workers: deno task worker --join ${address}`);
        }
      }, (s) => {
        sup = s;
        s.problem().then((p) => {
          problem = p as WganProblem;
          dim = p.dim;
        });
      });
    } catch (e) {
      progress.done();
      // Interrupted or failed: the report still shows what ran (config.json was written at the start).
      if (folder && problem) {
        await writeReport(folder, problem, {
          steps: lastStep,
          seconds: (performance.now() - t0) / 1000,
          workers: cfg.workers,
          bytesSent: totalBytes,
          endedEarly: (e as Error).message,
        }, records).catch(() => {});
        say(`wrote ${folder.dir}/report.html (the run ended early)`);
      }
      throw e;
    }
    progress.done();
    problem ??= await sup!.problem() as WganProblem;
    const seconds = (performance.now() - t0) / 1000;
    const ran = collectiveRan(job.collective, result.collective_used);
    const final: ReportRecord = {
      step: result.steps,
      seconds,
      loss_g: (lastEval as SupervisedEval | null)?.scalars.loss_g ?? NaN,
      loss_d: (lastEval as SupervisedEval | null)?.scalars.loss_d ?? NaN,
      quality: result.metrics.quality,
      bits_per_coord: window.steps
        ? window.bits / window.steps
        : records.at(-1)?.bits_per_coord ?? 0,
      eps: (lastEval as SupervisedEval | null)?.eps ?? {},
      timings: {
        compute_ms: result.compute_ms,
        quantize_ms: result.quantize_ms,
        communicate_ms: result.communicate_ms,
        optimizer_ms: result.optimizer_ms,
      },
    };
    records.push(final);
    if (timeToTarget === null && reached(result.metrics.quality)) timeToTarget = seconds;
    const summary: Record<string, unknown> = {
      dataset: job.problemOptions.dataset,
      arch: job.problemOptions.arch,
      optimizer: job.optimizer,
      quant: job.quant,
      bits: job.quant === "none" ? 32 : job.bits,
      collective: job.collective,
      collective_used: result.collective_used,
      transport: result.transport,
      workers: result.workers,
      steps: result.steps,
      quality: result.metrics.quality,
      ...result.metrics,
      target: cfg.target,
      time_to_target_s: timeToTarget,
      evals: records.filter((r) => r.quality !== undefined).map((r) => ({
        step: r.step,
        seconds: r.seconds,
        quality: r.quality,
      })),
      bits_per_coord: mean(records.map((r) => r.bits_per_coord)),
      bytes_sent: result.bytes_sent,
      collectives: result.collectives,
      skipped: result.skipped,
      replicas_agree: result.replicas_agree,
      recoveries: result.recoveries.length,
      step_ms: result.step_ms,
      compute_ms: result.compute_ms,
      quantize_ms: result.quantize_ms,
      communicate_ms: result.communicate_ms,
      optimizer_ms: result.optimizer_ms,
      control_ms: result.control_ms,
      control_critical_ms: result.control_critical_ms,
      control_overhead: result.control_overhead,
      seconds,
    };
    // What `auto` chose is part of what decided the arithmetic: config.json says it.
    await folder?.writeConfig({
      ...config,
      collective_used: result.collective_used,
      transport: result.transport,
    });
    if (folder) {
      const p = problem!;
      folder.appendMetrics({
        ...final,
        ...result.metrics,
        final: true,
        bytes_sent: result.bytes_sent,
      });
      await saving;
      await p.saveGenerator(result.params, folder.path("checkpoint"));
      const img = p.sampleImage(result.params);
      const png = await encodePng(img.pixels, img.width, img.height);
      await Deno.writeFile(folder.path("samples"), png);
      // The report's last record: the losses and ε_Q of an evaluation before the last step
      // are not drawn again at it; its step-time split is that of the steps since then.
      const evaluatedLast = (lastEval as SupervisedEval | null)?.step === result.steps;
      const { loss_g: _g, loss_d: _d, eps: _e, ...bare } = final;
      const lastRecord: ReportRecord = {
        ...(evaluatedLast ? final : bare),
        ...(window.steps
          ? {
            timings: {
              compute_ms: window.compute / window.steps,
              quantize_ms: window.quantize / window.steps,
              communicate_ms: window.comm / window.steps,
              optimizer_ms: window.opt / window.steps,
            },
          }
          : {}),
      };
      await writeReport(
        folder,
        p,
        {
          steps: result.steps,
          seconds,
          workers: result.workers,
          stepMs: result.step_ms,
          bytesSent: result.bytes_sent,
          bitsPerCoord: summary.bits_per_coord as number,
          collective: ran,
          uncompressed: job.quant === "none",
          float32Bytes: float32Bytes(result.collectives, result.workers, p.dim),
          replicasAgree: result.replicas_agree,
          checksumEvery: job.checksumEvery,
          ...(cfg.target === null ? {} : { target: { value: cfg.target, seconds: timeToTarget } }),
        },
        [...records.slice(0, -1), lastRecord],
        png,
      );
      say(`wrote ${folder.dir}/{metrics.jsonl,config.json,checkpoint/,samples.png,report.html}`);
    }
    say(
      `done: quality ${result.metrics.quality.toFixed(3)} after ${result.steps} steps in ${
        seconds.toFixed(1)
      } s, ` +
        `${(result.bytes_sent / 1e6).toFixed(1)} MB sent, ${result.step_ms.toFixed(1)} ms/step ` +
        `(supervisor round trip ${(100 * result.control_overhead).toFixed(2)}% of it), ` +
        `collective ${ran}, ` +
        `replicas agree: ${result.replicas_agree}` +
        (result.skipped ? `, ${result.skipped} steps skipped (non-finite values)` : ""),
    );
    if (cfg.json) console.log(JSON.stringify(summary));
    return 0;
  } finally {
    progress.done();
  }
}

/** The WGAN command. */
export const GAN_COMMAND: Command<GanCli> = {
  name: "deno task train",
  help: ganHelp,
  parse: parseGanArgs,
  run: runGan,
};

/**
 * Runs the WGAN CLI.
 * @param args Command-line arguments.
 * @returns The exit code.
 */
export function main(args: string[]): Promise<number> {
  return runCli(args, GAN_COMMAND);
}

if (import.meta.main) Deno.exit(await main(Deno.args));

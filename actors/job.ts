/**
 * A training job as plain JSON: what the supervisor sends every worker in
 * its assignment, so that every replica builds the same problem, optimiser
 * and quantizer. Also the per-rank seeds and the FNV-1a checksum the ranks
 * compare.
 *
 * @module
 */
import { LayerwiseQuantizer } from "../runtime/quant/layerwise.ts";
import type { LevelSchedule } from "../runtime/quant/levels.ts";
import { createQuantizer } from "../runtime/quant/registry.ts";
import type { Quantizer } from "../runtime/quant/types.ts";
import type { CoderName } from "../runtime/coding/codec.ts";
import {
  createOptimizer,
  type Optimizer,
  type OptimizerName,
  ParamAverage,
} from "../runtime/optim/mod.ts";
import type { ProblemModule, TrainProblem } from "./problem.ts";

/** Everything that decides a run's arithmetic. */
export interface JobConfig {
  /** The problem's name, for logs and results (e.g. `"bilinear"`, `"wgan"`). */
  problem: string;
  /**
   * Specifier of the module that builds the problem (a {@linkcode ProblemModule}):
   * an absolute `file:` or `https:` URL, or a path, so that every worker process
   * and host can import it.
   */
  module: string;
  /** The problem's own options (dim, noise, dataset, architecture, …). */
  problemOptions: Record<string, unknown>;
  /** qoda | qgenx | sgd | adam */
  optimizer: OptimizerName;
  /** Base learning rate (QODA: of γ and η unless set apart). */
  lr: number;
  /** QODA: base of γ (learning-rate separation). */
  lrGamma?: number;
  /** QODA: base of η. */
  lrEta?: number;
  /** Adam and optimistic Adam: first-moment decay β1. @default {0.9} */
  beta1?: number;
  /** Adam and optimistic Adam: second-moment decay β2. @default {0.999} */
  beta2?: number;
  /** Quantizer scheme of the exchanged vectors ("none": float32). */
  quant: string;
  /** Quantizer bits. */
  bits: number;
  /** Quantizer bucket size. */
  bucket: number;
  /** How quantized vectors are reduced: one of {@linkcode COLLECTIVES}. */
  collective: Collective;
  /** Coder of the quantized messages (`fixed`, `gamma`, `omega`). @default {"fixed"} */
  coder?: CoderName;
  /** Iterations. */
  steps: number;
  /** Seed of everything. */
  seed: number;
  /** Layer-wise level re-solve schedule (the supervisor runs it). */
  adapt: LevelSchedule | false;
  /** Compare replica checksums every this many steps (0: never). */
  checksumEvery: number;
  /** Per-collective deadline, ms. */
  timeoutMs: number;
  /**
   * Decay of the parameters' moving average (a `ParamAverage`, updated after
   * every step): evaluations, checkpoints and the result are taken at the
   * average instead of the last iterate. 0 or absent: no average.
   */
  average?: number;
}

/**
 * The compressed collectives a job may use: `allgather` (each rank's message
 * decoded once, QODA's setting), `ring` (CGX: partial sums re-quantized at
 * every hop), `integer` (shared scales, integer codes added at every hop:
 * the all-gather's variance at close to the ring's bytes), `auto` (the
 * default: the run's first collectives time float32, `integer` and
 * `allgather`, and every rank keeps the fastest, float32 unless another
 * saves 10% and 0.5 ms per call: see `CollectiveTrials`).
 */
export const COLLECTIVES = ["allgather", "ring", "integer", "auto"] as const;

/** One of {@linkcode COLLECTIVES}. */
export type Collective = typeof COLLECTIVES[number];

/** The help line of a `--collective` flag. */
export const COLLECTIVE_HELP: string =
  "allgather: each message decoded once; ring: CGX, partial sums " +
  "re-quantized; integer: shared scales, integer codes summed on the way; auto: the fastest of " +
  "float32, integer and allgather, timed on the run's first collectives (float32 unless another " +
  "saves 10% and 0.5 ms per call)";

/** The settings a job may leave out, and their defaults (see {@linkcode jobConfig}). */
export const JOB_DEFAULTS: Omit<JobConfig, "problem" | "module"> = {
  problemOptions: {},
  optimizer: "qoda",
  lr: 1,
  quant: "layerwise",
  bits: 4,
  bucket: 1024,
  collective: "auto",
  steps: 1000,
  seed: 0,
  adapt: { warmup: [20, 100, 500], every: 2000 },
  checksumEvery: 50,
  timeoutMs: 60_000,
};

/**
 * A whole job from the settings given: the rest from {@linkcode JOB_DEFAULTS}.
 * The one place job defaults live, for `train()`, the command lines and tests.
 *
 * @example
 * ```ts
 * import { jobConfig } from "./job.ts";
 * const job = jobConfig({ problem: "mine", module: "file:///tmp/mine.ts", steps: 10 });
 * if (job.steps !== 10 || job.optimizer !== "qoda" || job.bits !== 4) throw new Error();
 * ```
 */
export function jobConfig(
  settings: Partial<JobConfig> & Pick<JobConfig, "problem" | "module">,
): JobConfig {
  const given = Object.entries(settings).filter(([, v]) => v !== undefined);
  const job = { ...structuredClone(JOB_DEFAULTS), ...Object.fromEntries(given) } as JobConfig;
  const avg = job.average;
  if (avg !== undefined && !(typeof avg === "number" && avg >= 0 && avg < 1)) {
    throw new RangeError(`average must be a decay in [0, 1) (0: none), got ${avg}`);
  }
  return job;
}

/**
 * Builds the job's problem: imports `job.module` and calls its
 * `createProblem` with the job's name, options and seed.
 */
export async function createProblem(job: JobConfig): Promise<TrainProblem> {
  const url = moduleUrl(job.module);
  let mod: Partial<ProblemModule>;
  try {
    mod = await import(url);
  } catch (e) {
    throw new TypeError(`cannot import the problem module ${url}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (typeof mod.createProblem !== "function") {
    throw new TypeError(`the problem module ${url} does not export a createProblem function`);
  }
  return await mod.createProblem({
    name: job.problem,
    options: job.problemOptions,
    seed: job.seed,
  });
}

/** An absolute URL for a module specifier (a path resolves against the working directory). */
export function moduleUrl(specifier: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(specifier)) return specifier;
  const cwd = Deno.cwd().replaceAll("\\", "/");
  return new URL(specifier, `file://${cwd.startsWith("/") ? "" : "/"}${cwd}/`).href;
}

/**
 * The quantizer of one rank (null for "none"). The layer-wise quantizer
 * gathers statistics but never re-solves on its own: the supervisor merges
 * every rank's statistics and broadcasts the table. The row-wise schemes
 * (`psq`, `bhq`) take each layer's row length from the layer (see
 * `layerQuantizer`, which the worker applies per layer).
 */
export function createJobQuantizer(job: JobConfig): Quantizer | null {
  if (job.quant === "none") return null;
  if (job.quant === "layerwise") {
    return new LayerwiseQuantizer({
      bits: job.bits,
      bucketSize: job.bucket,
      adapt: job.adapt === false ? false : { warmup: [], every: 0 },
    });
  }
  return createQuantizer({ scheme: job.quant, bits: job.bits, bucketSize: job.bucket });
}

/** A fresh optimiser replica at `x0`. */
export function createJobOptimizer(job: JobConfig, x0: Float32Array): Optimizer {
  return createOptimizer(job.optimizer, x0, {
    lr: job.lr,
    lrGamma: job.lrGamma,
    lrEta: job.lrEta,
    beta1: job.beta1,
    beta2: job.beta2,
  });
}

/** The job's moving average of `dim` parameters, empty (null when the job keeps none). */
export function createJobAverage(job: JobConfig, dim: number): ParamAverage | null {
  return job.average ? new ParamAverage(dim, job.average) : null;
}

/** FNV-1a (32-bit) of a vector's bytes, as 8 hex digits. */
export function fnv1a(v: Float32Array): string {
  const b = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

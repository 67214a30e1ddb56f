/**
 * A training job as plain JSON: what the supervisor sends every worker in
 * its assignment, so that every replica builds the same problem, optimiser
 * and quantizer. Also the per-rank seeds and the FNV-1a checksum the ranks
 * compare.
 *
 * @module
 */
import { GAME_NAMES } from "../../models/games.ts";
import { UnknownNameError } from "../errors.ts";
import { LayerwiseQuantizer } from "../quant/layerwise.ts";
import type { LevelSchedule } from "../quant/levels.ts";
import { createQuantizer } from "../quant/registry.ts";
import type { Quantizer } from "../quant/types.ts";
import { createOptimizer, type Optimizer, type OptimizerName } from "../optim/mod.ts";
import type { TrainProblem } from "./problem.ts";

/** Everything that decides a run's arithmetic. */
export interface JobConfig {
  /** bilinear | quadratic | linear | kelly | wgan */
  problem: string;
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
  /** Quantizer scheme of the exchanged vectors ("none": float32). */
  quant: string;
  /** Quantizer bits. */
  bits: number;
  /** Quantizer bucket size. */
  bucket: number;
  /** `allgather` (each message decoded once) or `ring` (CGX re-quantizing). */
  collective: "allgather" | "ring";
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
}

/** Problems the runtime can build. */
export const PROBLEM_NAMES = [...GAME_NAMES, "wgan"] as const;

/**
 * Builds the job's problem. Games are built here; the WGAN (which loads
 * tfjs) is imported only when asked for.
 */
export async function createProblem(job: JobConfig): Promise<TrainProblem> {
  if ((GAME_NAMES as readonly string[]).includes(job.problem)) {
    const { gameProblem } = await import("../../models/game_problem.ts");
    return gameProblem({ problem: job.problem, seed: job.seed, ...job.problemOptions });
  }
  if (job.problem === "wgan") {
    const { createWganJobProblem } = await import("./wgan_job.ts");
    return await createWganJobProblem(job);
  }
  throw new UnknownNameError("problem", job.problem, PROBLEM_NAMES);
}

/**
 * The quantizer of one rank (null for "none"). The layer-wise quantizer
 * gathers statistics but never re-solves on its own: the supervisor merges
 * every rank's statistics and broadcasts the table.
 */
export function createJobQuantizer(job: JobConfig, problem: TrainProblem): Quantizer | null {
  if (job.quant === "none") return null;
  if (job.quant === "layerwise") {
    return new LayerwiseQuantizer({
      bits: job.bits,
      bucketSize: job.bucket,
      adapt: job.adapt === false ? false : { warmup: [], every: 0 },
    });
  }
  const rowLength = problem.layers.length === 1 ? problem.dim : undefined;
  return createQuantizer({ scheme: job.quant, bits: job.bits, bucketSize: job.bucket, rowLength });
}

/** A fresh optimiser replica at `x0`. */
export function createJobOptimizer(job: JobConfig, x0: Float32Array): Optimizer {
  return createOptimizer(job.optimizer, x0, {
    lr: job.lr,
    lrGamma: job.lrGamma,
    lrEta: job.lrEta,
  });
}

/**
 * The seed of rank `rank`'s private streams: its first `fork()` is the
 * problem's own (oracle noise), the rest its stochastic rounding.
 */
export function rankSeed(seed: number, rank: number): number {
  return seed * 1_000_003 + 17 + rank;
}

/** FNV-1a (32-bit) of a vector's bytes, as 8 hex digits. */
export function fnv1a(v: Float32Array): string {
  const b = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

/**
 * What the distributed runtime trains: a flat parameter vector, its layer
 * layout (for per-layer quantizers) and, per worker, a stochastic operator
 * (a gradient for minimisation, the VI operator for games and GANs).
 *
 * The runtime (in-process workers over a memory ring, or one process per
 * worker over TCP with a supervisor) only sees this interface and never names
 * a problem: a job names the module that builds it (a {@linkcode ProblemModule}),
 * which every worker process, the supervisor and its evaluator import, as
 * Deno workers load theirs. The monotone games and the WGAN of `models/`
 * implement it, and so can a user's own module.
 *
 * @module
 */
import type { LayerSpan } from "../runtime/collective/allreduce.ts";
import type { Rng } from "../runtime/rng.ts";

/** One worker's view of a problem: its own data shard or noise stream. */
export interface ProblemWorker {
  /**
   * Writes this worker's operator sample V_k(x) into `out` (zero-filled, the
   * length of `x`). Must not keep either array. Synchronous: tfjs work uses
   * `dataSync()` on the wasm and cpu backends.
   */
  operator(x: Float32Array, out: Float32Array): void;
  /** Scalars of the last `operator` call (e.g. `{ loss_g, loss_d }`); may be empty. */
  scalars(): Record<string, number>;
  /** The worker's random state (batches, noise), as plain JSON data. */
  state(): unknown;
  /** Restores what `state()` returned (resume from a commit). */
  restore(state: unknown): void;
  /** Frees what the worker holds (tensors). */
  dispose?(): void;
}

/** A problem the runtime can train data-parallel. */
export interface TrainProblem {
  /** Name for logs and results, e.g. `"bilinear"` or `"wgan-mnist"`. */
  readonly name: string;
  /** Length of the flat parameter vector. */
  readonly dim: number;
  /** Layers of the flat vector, in order, covering it (types for layer-wise quantization). */
  readonly layers: readonly LayerSpan[];
  /** The starting point X_1; the same on every rank for the same seed. */
  initial(): Float32Array;
  /**
   * Worker `rank` of `size`. `rng` is the worker's own stream, handed over by
   * the runtime (seeded from the job's seed and the rank): every draw of data
   * or noise comes from it, so the runtime alone decides the seed scheme.
   */
  worker(rank: number, size: number, rng: Rng): ProblemWorker;
  /**
   * Quality figures at `x` (computed on rank 0 or the supervisor). Must
   * include `quality` (higher is better unless `lowerIsBetter`).
   */
  evaluate(x: Float32Array): Record<string, number> | Promise<Record<string, number>>;
  /** True when a smaller `quality` is better (distances, Fréchet distance). */
  readonly lowerIsBetter: boolean;
  /** Optional projection onto the feasible set, applied after each step. */
  project?(x: Float32Array): void;
  /** Frees shared resources. */
  dispose?(): void;
}

/** What a problem module's {@linkcode ProblemModule.createProblem} receives. */
export interface ProblemInit {
  /** The job's problem name (one module may build several problems). */
  name: string;
  /** The job's problem options, as plain JSON. */
  options: Record<string, unknown>;
  /** The job's seed: {@linkcode TrainProblem.initial} must depend on nothing else. */
  seed: number;
}

/**
 * A module that builds a problem: what `JobConfig.module` names. Worker
 * processes, the supervisor and its evaluator each import it and build their
 * own instance from the same {@linkcode ProblemInit}.
 */
export interface ProblemModule {
  /** Builds the problem. */
  createProblem(init: ProblemInit): TrainProblem | Promise<TrainProblem>;
}

/**
 * Solving a monotone game data-parallel: K workers, each with its own replica
 * of the optimiser, its own stochastic oracle (own noise stream) and its own
 * quantizer, exchanging their operator samples through the (compressed) ring
 * all-reduce every iteration.
 *
 * The workers run in one process over an in-memory ring (the collective, the
 * quantization and the bytes are real; only the transport is not TCP). The
 * process-per-worker runtime with a supervisor is issue 4's actor layer.
 *
 * @module
 */
import { allreduce } from "../runtime/collective/allreduce.ts";
import { RingContext } from "../runtime/collective/context.ts";
import { createGame, type Game, noisyOracle } from "./games.ts";
import { distance } from "./game_problem.ts";
import { fnv1a } from "../actors/job.ts";
import {
  createOptimizer,
  type Optimizer,
  type OptimizerState,
  restoreOptimizer,
} from "../runtime/optim/mod.ts";
import { LayerwiseQuantizer, type LayerwiseSnapshot } from "../runtime/quant/layerwise.ts";
import { readCommit, writeCommit } from "../actors/commit.ts";
import type { RngState } from "../runtime/rng.ts";
import { createQuantizer } from "../runtime/quant/registry.ts";
import type { Quantizer } from "../runtime/quant/types.ts";
import { rankSeed, Rng } from "../runtime/rng.ts";
import { memoryRing } from "../runtime/transport/memory.ts";

/** Options of {@linkcode runGame}. */
export interface GameRunOptions {
  /** bilinear | quadratic | linear | kelly */
  problem: string;
  /** Number of workers. @default {4} */
  workers?: number;
  /** qoda | qgenx | sgd | adam @default {"qoda"} */
  optimizer?: string;
  /** Quantizer scheme for the exchanged operator samples. @default {"none"} */
  quant?: string;
  /** Quantizer bits. @default {4} */
  bits?: number;
  /** Quantizer bucket size. @default {1024} */
  bucket?: number;
  /** `ring` (CGX re-quantizing) or `allgather` (each message decoded once). @default {"allgather"} */
  collective?: "ring" | "allgather";
  /** Iterations. @default {2000} */
  steps?: number;
  /** Base learning rate. @default {0.5} */
  lr?: number;
  /** Absolute noise σ_abs of each worker's oracle. @default {0} */
  sigmaAbs?: number;
  /** Relative noise σ_rel of each worker's oracle. @default {0} */
  sigmaRel?: number;
  /** Problem dimension, where the problem allows it. */
  dim?: number;
  /** Seed of everything. @default {0} */
  seed?: number;
  /** Called every `evalEvery` steps with the running figures. */
  onEval?: (e: GameEval) => void;
  /** @default {steps / 10} */
  evalEvery?: number;
  /** Write a commit every this many steps (0: never). @default {0} */
  commitEvery?: number;
  /** Where commits go (`DIR/commit.json`); required with `commitEvery`. */
  commitDir?: string;
  /** Resume from `DIR/commit.json` (same configuration required). */
  resumeFrom?: string;
}

/** What a commit holds: enough to continue bit-exactly. */
interface GameCommit {
  format: 1;
  config: Record<string, unknown>;
  step: number;
  bytesSent: number;
  collectives: number;
  skipped: number;
  replicas: {
    opt: OptimizerState;
    rng: RngState;
    oracleRng: RngState;
    quant: LayerwiseSnapshot | null;
  }[];
}

/** Figures at one evaluation. */
export interface GameEval {
  step: number;
  /** ‖z − z*‖. */
  dist: number;
  /** The game's gap at z (radius: the initial distance). */
  gap: number;
  /** Payload bytes sent by all workers so far. */
  bytesSent: number;
  /** Collective operations issued per worker so far. */
  collectives: number;
}

/** The result of {@linkcode runGame}. */
export interface GameRunResult {
  problem: string;
  optimizer: string;
  quant: string;
  bits: number;
  collective: string;
  workers: number;
  steps: number;
  /** ‖z0 − z*‖. */
  dist0: number;
  /** ‖z_T − z*‖. */
  dist: number;
  /** Gap at z_T (radius dist0). */
  gap: number;
  /** Collectives per worker over the run. */
  collectives: number;
  /** Payload bytes sent by all workers. */
  bytes_sent: number;
  /** Steps skipped because an oracle returned NaN/Inf. */
  skipped: number;
  /** True when every replica ended with bit-identical parameters. */
  replicas_agree: boolean;
  /** FNV-1a of the final parameters' bytes (equal runs have equal checksums). */
  checksum: string;
  seconds: number;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * Runs the game to the end and returns its figures.
 *
 * @example QODA on the bilinear game, 2 workers, 4-bit layer-wise messages
 * ```ts
 * import { runGame } from "./game_runner.ts";
 * const r = await runGame({ problem: "bilinear", workers: 2, quant: "layerwise", steps: 300 });
 * if (!(r.dist < r.dist0) || r.collectives !== 300 || !r.replicas_agree) throw new Error();
 * ```
 */
export async function runGame(options: GameRunOptions): Promise<GameRunResult> {
  const {
    problem,
    workers = 4,
    optimizer = "qoda",
    quant = "none",
    bits = 4,
    bucket = 1024,
    collective = "allgather",
    steps = 2000,
    lr = 0.5,
    sigmaAbs = 0,
    sigmaRel = 0,
    seed = 0,
  } = options;
  const evalEvery = options.evalEvery ?? Math.max(1, Math.floor(steps / 10));
  const t0 = performance.now();
  const game: Game = createGame(problem, { seed, dim: options.dim });
  const root = new Rng(seed);
  const z0 = game.initial(root.fork());
  const dist0 = distance(z0, game.solution);
  const config = {
    problem,
    workers,
    optimizer,
    quant,
    bits,
    bucket,
    collective,
    lr,
    sigmaAbs,
    sigmaRel,
    dim: options.dim ?? null,
    seed,
  };
  const commitEvery = options.commitEvery ?? 0;
  if (commitEvery > 0 && !options.commitDir) throw new RangeError("commitEvery needs a commitDir");
  let resumed: GameCommit | undefined;
  if (options.resumeFrom) {
    resumed = await readCommit(options.resumeFrom) as GameCommit;
    if (resumed?.format !== 1 || !Array.isArray(resumed.replicas)) {
      throw new RangeError(`${options.resumeFrom}/commit.json is not a game commit`);
    }
    const diff = Object.entries(config).filter(([k, v]) => resumed!.config[k] !== v);
    if (diff.length) {
      throw new RangeError(
        `cannot resume: the commit was made with ${
          diff.map(([k]) => `${k} ${JSON.stringify(resumed!.config[k])}`).join(", ")
        }, this run has ${diff.map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(", ")}`,
      );
    }
  }
  const ctxs = memoryRing(workers).map((l, rank) => new RingContext({ rank, size: workers, ...l }));
  let bytesSent = resumed?.bytesSent ?? 0;
  let collectives = resumed?.collectives ?? 0; // all-reduce calls of worker 0, counted where made
  const layer = { name: `${problem}/z`, type: "dense", offset: 0, length: game.dim };
  const replicas = ctxs.map((ctx, rank) => {
    const q: Quantizer | null = quant === "none"
      ? null
      : createQuantizer({ scheme: quant, bits, bucketSize: bucket, rowLength: game.dim });
    let rng = new Rng(rankSeed(seed, rank));
    let oracleRng = rng.fork();
    let opt: Optimizer = createOptimizer(optimizer, z0.slice(), { lr });
    const saved = resumed?.replicas[rank];
    if (saved) {
      opt = restoreOptimizer(saved.opt);
      rng = Rng.fromState(saved.rng);
      oracleRng = Rng.fromState(saved.oracleRng);
      if (saved.quant && q instanceof LayerwiseQuantizer) q.restore(saved.quant);
    }
    const oracle = noisyOracle(game, { sigmaAbs, sigmaRel, rng: oracleRng });
    const project = game.project?.bind(game);
    return {
      opt,
      q,
      rngState: () => rng.state(),
      oracleRngState: () => oracleRng.state(),
      oracle: (x: Float32Array, out: Float32Array) => {
        oracle(x, out);
      },
      collective: async (v: Float32Array) => {
        const st = await allreduce(ctx, v, {
          op: "mean",
          layout: [layer],
          compression: q ? { mode: collective, rng, quantizerFor: () => q } : undefined,
        });
        bytesSent += st.bytesSent;
        if (rank === 0) collectives++;
      },
      project,
    };
  });

  let skipped = resumed?.skipped ?? 0;
  try {
    for (let step = (resumed?.step ?? 0) + 1; step <= steps; step++) {
      const infos = await Promise.all(replicas.map((r) => r.opt.step(r.oracle, r.collective)));
      if (infos.some((i) => (i as { nonFinite?: boolean }).nonFinite)) skipped++;
      for (const r of replicas) {
        r.project?.(r.opt.params);
        // Each worker re-solves its layer-wise levels from its own statistics on the
        // quantizer's schedule (frames carry their levels, so workers may differ).
        if (r.q instanceof LayerwiseQuantizer) r.q.maybeAdapt(step);
      }
      if (commitEvery > 0 && step % commitEvery === 0) {
        const commit: GameCommit = {
          format: 1,
          config,
          step,
          bytesSent,
          collectives,
          skipped,
          replicas: replicas.map((r) => ({
            opt: r.opt.state(),
            rng: r.rngState(),
            oracleRng: r.oracleRngState(),
            quant: r.q instanceof LayerwiseQuantizer ? r.q.snapshot() : null,
          })),
        };
        await writeCommit(options.commitDir!, commit);
      }
      if (options.onEval && (step % evalEvery === 0 || step === steps)) {
        const z = replicas[0].opt.params;
        options.onEval({
          step,
          dist: distance(z, game.solution),
          gap: game.gap(z, dist0),
          bytesSent,
          collectives,
        });
      }
    }
  } finally {
    ctxs.forEach((c) => c.close());
  }
  const z = replicas[0].opt.params;
  return {
    problem,
    optimizer,
    quant,
    bits: quant === "none" ? 32 : bits,
    collective,
    workers,
    steps,
    dist0,
    dist: distance(z, game.solution),
    gap: game.gap(z, dist0),
    collectives,
    bytes_sent: bytesSent,
    skipped,
    replicas_agree: replicas.every((r) => sameBits(r.opt.params, z)),
    checksum: fnv1a(z),
    seconds: (performance.now() - t0) / 1000,
  };
}

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
import { allreduce } from "../collective/allreduce.ts";
import { RingContext } from "../collective/context.ts";
import { createGame, type Game, noisyOracle } from "../../models/games.ts";
import { createOptimizer, type Optimizer } from "../optim/mod.ts";
import { createQuantizer } from "../quant/registry.ts";
import type { Quantizer } from "../quant/types.ts";
import { Rng } from "../rng.ts";
import { memoryRing } from "../transport/memory.ts";

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
  seconds: number;
}

function distance(z: Float32Array, s: Float64Array): number {
  let d = 0;
  for (let i = 0; i < z.length; i++) d += (z[i] - s[i]) ** 2;
  return Math.sqrt(d);
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
  const ctxs = memoryRing(workers).map((l, rank) => new RingContext({ rank, size: workers, ...l }));
  let bytesSent = 0;
  let collectives = 0; // all-reduce calls made by worker 0, counted where they happen
  const layer = { name: `${problem}/z`, type: "dense", offset: 0, length: game.dim };
  const replicas = ctxs.map((ctx, rank) => {
    const q: Quantizer | null = quant === "none"
      ? null
      : createQuantizer({ scheme: quant, bits, bucketSize: bucket, rowLength: game.dim });
    const rng = new Rng(seed * 1_000_003 + 17 + rank);
    const oracle = noisyOracle(game, { sigmaAbs, sigmaRel, rng: rng.fork() });
    const opt: Optimizer = createOptimizer(optimizer, z0.slice(), { lr });
    const project = game.project?.bind(game);
    return {
      opt,
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

  let skipped = 0;
  try {
    for (let step = 1; step <= steps; step++) {
      const infos = await Promise.all(replicas.map((r) => r.opt.step(r.oracle, r.collective)));
      if (infos.some((i) => (i as { nonFinite?: boolean }).nonFinite)) skipped++;
      for (const r of replicas) r.project?.(r.opt.params);
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
    seconds: (performance.now() - t0) / 1000,
  };
}

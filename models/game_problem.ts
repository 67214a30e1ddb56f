/**
 * The monotone games of `games.ts` as a {@linkcode TrainProblem}: one flat
 * vector z, one layer, and per worker a noisy oracle with its own stream.
 *
 * @module
 */
import { Rng, type RngState } from "../runtime/rng.ts";
import type { ProblemInit, ProblemWorker, TrainProblem } from "../actors/problem.ts";
import { createGame, type Game, noisyOracle } from "./games.ts";

/** Options of {@linkcode gameProblem}. */
export interface GameProblemOptions {
  /** bilinear | quadratic | linear | kelly */
  problem: string;
  /** Problem dimension, where the problem allows it. */
  dim?: number;
  /** Seed of the game, the start point and every worker's noise. @default {0} */
  seed?: number;
  /** Absolute oracle noise σ_abs. @default {0} */
  sigmaAbs?: number;
  /** Relative oracle noise σ_rel. @default {0} */
  sigmaRel?: number;
  /**
   * Fault injection for tests: worker `rank` returns NaN in its `call`-th
   * oracle call (1-based, counted per worker process life).
   */
  nanAt?: { rank: number; call: number };
}

/** A game as a problem, plus what its metrics need. */
export interface GameProblem extends TrainProblem {
  /** The game. */
  readonly game: Game;
  /** ‖z_1 − z*‖, the radius of the gap. */
  readonly dist0: number;
}

/** ‖z − s‖, the distance to a solution. */
export function distance(z: Float32Array, s: Float64Array): number {
  let d = 0;
  for (let i = 0; i < z.length; i++) d += (z[i] - s[i]) ** 2;
  return Math.sqrt(d);
}

/**
 * Builds the game problem. `evaluate` returns `quality` = `dist` = ‖z − z*‖
 * and the game's `gap` (radius `dist0`); smaller is better.
 *
 * @example
 * ```ts
 * import { gameProblem } from "./game_problem.ts";
 * import { Rng } from "../runtime/rng.ts";
 * const p = gameProblem({ problem: "bilinear", dim: 8 });
 * const w = p.worker(0, 2, new Rng(5));
 * const x = p.initial(), v = new Float32Array(p.dim);
 * w.operator(x, v);
 * const m = await p.evaluate(x);
 * if (m.quality !== p.dist0 || !(m.gap > 0)) throw new Error();
 * ```
 */
export function gameProblem(options: GameProblemOptions): GameProblem {
  const { problem, seed = 0, sigmaAbs = 0, sigmaRel = 0, nanAt } = options;
  const game = createGame(problem, { seed, dim: options.dim });
  const z0 = game.initial(new Rng(seed).fork());
  const dist0 = distance(z0, game.solution);
  return {
    name: problem,
    game,
    dist0,
    dim: game.dim,
    layers: [{ name: `${problem}/z`, type: "dense", offset: 0, length: game.dim }],
    lowerIsBetter: true,
    initial: () => z0.slice(),
    project: game.project?.bind(game),
    evaluate(x: Float32Array) {
      const dist = distance(x, game.solution);
      return { quality: dist, dist, gap: game.gap(x, dist0) };
    },
    worker(rank: number, _size: number, workerRng: Rng): ProblemWorker {
      let rng = workerRng;
      let oracle = noisyOracle(game, { sigmaAbs, sigmaRel, rng });
      let calls = 0;
      return {
        operator(x: Float32Array, out: Float32Array) {
          calls++;
          oracle(x, out);
          if (nanAt && nanAt.rank === rank && nanAt.call === calls) out[0] = NaN;
        },
        scalars: () => ({}),
        state: () => rng.state(),
        restore(state: unknown) {
          rng = Rng.fromState(state as RngState);
          oracle = noisyOracle(game, { sigmaAbs, sigmaRel, rng });
        },
      };
    },
  };
}

/**
 * The module entry the runtime calls (see `ProblemModule`): the job's name is
 * the game, its options the rest of {@linkcode GameProblemOptions}.
 *
 * @example
 * ```ts
 * import { createProblem } from "./game_problem.ts";
 * const p = createProblem({ name: "quadratic", options: { dim: 4 }, seed: 1 });
 * if (p.dim !== 4 || !p.lowerIsBetter) throw new Error();
 * ```
 */
export function createProblem(init: ProblemInit): GameProblem {
  return gameProblem({ ...init.options, problem: init.name, seed: init.seed });
}

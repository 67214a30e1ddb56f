// The bilinear game with a layer layout that cannot work: its last layer
// declares a shape [2, 3] (6 values) for the 1 value it holds. A quantizer
// that reads shapes (psq, bhq) refuses that layer the same way on every
// attempt, so a run with it fails deterministically at its first step.
import { gameProblem } from "../../models/game_problem.ts";
import type { ProblemInit, TrainProblem } from "../../mod.ts";

export function createProblem(init: ProblemInit): TrainProblem {
  const p = gameProblem({ ...init.options, problem: "bilinear", seed: init.seed });
  const dim = p.dim;
  return {
    ...p,
    name: "bad-layer",
    layers: [
      { name: "bilinear/z", type: "dense", offset: 0, length: dim - 1 },
      { name: "bilinear/scale", shape: [2, 3], offset: dim - 1, length: 1 },
    ],
  };
}

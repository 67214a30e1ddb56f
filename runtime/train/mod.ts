/**
 * Training: the problem interface, the process runtime (supervisor and worker actors, the
 * control plane, the supervisor's QODA step schedule, jobs, commits) and the compressed
 * all-gather average of per-worker gradients used by the MNIST classifier demo.
 *
 * @example Average two workers' 4-bit layer-wise gradients
 * ```ts
 * import { compressedAllGatherMean } from "./mod.ts";
 * import { createQuantizer } from "../quant/registry.ts";
 * import { Rng } from "../rng.ts";
 * const rng = new Rng(1);
 * const layers = [{ name: "dense/kernel", shape: [64, 32] }];
 * const grads = [0, 1].map(() => [new Float32Array(2048).map(() => rng.normal())]);
 * const q = createQuantizer({ scheme: "layerwise", bits: 4 });
 * const { mean, stats } = compressedAllGatherMean(grads, layers, q, [rng.fork(), rng.fork()]);
 * if (mean[0].length !== 2048 || stats.bitsPerCoord > 4.5) throw new Error();
 * ```
 *
 * @module
 */
export * from "./allgather.ts";
export * from "./problem.ts";
export * from "./job.ts";
export * from "./schedule.ts";
export * from "./control.ts";
export * from "./commit.ts";
export * from "./launch.ts";
export * from "./game_runner.ts";

/**
 * The WGAN of issue 5: generator/critic pairs (an MLP pair and a small
 * DCGAN-style pair for 28×28 MNIST, a small MLP pair for the 2-D Gaussian
 * mixtures), the WGAN-GP operator as a `TrainProblem` for the distributed
 * runtime, quality figures (modes covered and high-quality share for the
 * mixtures; FID on the project's MNIST classifier and label entropy for
 * MNIST), generator checkpoints as TF.js layers models, `samples.png` and
 * the self-contained `report.html`.
 *
 * @example Two workers and QODA on the ring of eight Gaussians
 * ```ts
 * import { Qoda, Rng } from "@qoda/ring";
 * import { initBackend } from "@qoda/ring/tfjs";
 * import { createWganProblem } from "./mod.ts";
 *
 * const { tf } = await initBackend("auto");
 * const problem = await createWganProblem(tf, { dataset: "gaussians8", batch: 32, evalSamples: 500 });
 * const workers = [0, 1].map((r) => problem.worker(r, 2, new Rng(100 + r))); // own streams
 * const opt = new Qoda(problem.initial(), { lr: problem.defaultLr });
 * const v = new Float32Array(problem.dim);
 * const oracle = (x: Float32Array, out: Float32Array) => {
 *   for (const w of workers) {
 *     v.fill(0);
 *     w.operator(x, v);
 *     for (let i = 0; i < out.length; i++) out[i] += v[i] / workers.length;
 *   }
 * };
 * for (let t = 0; t < 5; t++) await opt.step(oracle, async () => {}); // one process: no exchange
 * const { quality, high_quality } = await problem.evaluate(opt.params);
 * if (!(quality >= 0 && high_quality >= 0)) throw new Error();
 * problem.dispose();
 * ```
 *
 * @module
 */
export * from "./datasets.ts";
export * from "./networks.ts";
export * from "./model.ts";
export * from "./loss.ts";
export * from "./wgan.ts";
export * from "./quality.ts";
export * from "./fid.ts";
export * from "./mnist_scorer.ts";
export * from "./checkpoint.ts";
export * from "./png.ts";
export * from "./report.ts";
export type { Ops } from "./_ops.ts";
export type {
  LayersModel,
  Scalar,
  Sequential,
  Tensor,
  Tensor2D,
  Tensor4D,
  Tfjs,
  Variable,
} from "../tfjs/types.ts";
export type { Dataset } from "../mnist_data.ts";
export type { ProblemWorker, TrainProblem } from "../../actors/mod.ts";
export type { LayerSpan } from "../../runtime/collective/mod.ts";
export type { LayerInfo, LevelTable } from "../../runtime/quant/mod.ts";
export type { Rng, RngState } from "../../runtime/rng.ts";

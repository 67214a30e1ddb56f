/**
 * Sample-quality figures that need no network, over plain arrays:
 *
 * - for the 2-D mixtures, **modes covered** and the **share of high-quality
 *   samples** (as in VEEGAN and PacGAN): a sample is high-quality when it
 *   lies within 3σ (Euclidean distance) of its nearest mode; a mode is
 *   covered when at least `minShare` of all samples are high-quality samples
 *   of that mode. The default `minShare` is 0.2/modes, a fifth of a mode's
 *   fair share (2.5% for 8 modes, 0.8% for 25, i.e. PacGAN's 20 of 2,500);
 *   also the mean distance from a sample to its nearest mode, a continuous
 *   figure that moves before any mode is covered;
 * - for MNIST, the **entropy of the predicted labels**: the classifier's
 *   class probabilities averaged over the samples, and the entropy (nats)
 *   of that marginal; log 10 ≈ 2.303 when every digit is equally frequent,
 *   0 when the generator produces one digit only.
 *
 * The Fréchet distance is in `fid.ts`.
 *
 * @module
 */
import type { Mixture } from "./datasets.ts";

/** Options of {@linkcode mixtureQuality}. */
export interface MixtureQualityOptions {
  /** A sample is high-quality within `radius·σ` of a mode. @default {3} */
  radius?: number;
  /** A mode is covered when it holds at least this share of all samples. @default {0.2 / modes} */
  minShare?: number;
}

/** What {@linkcode mixtureQuality} measured. */
export interface MixtureQuality {
  /** Modes with at least `minShare` of the samples within `radius·σ`. */
  modesCovered: number;
  /** Number of modes of the mixture. */
  modes: number;
  /** Share of samples within `radius·σ` of some mode, in [0, 1]. */
  highQuality: number;
  /** Mean Euclidean distance from a sample to its nearest mode (a continuous figure; 0 is best). */
  meanDistance: number;
  /** High-quality samples per mode. */
  counts: Uint32Array;
}

/**
 * Modes covered and share of high-quality samples of `samples` (`n × 2`,
 * row-major) for mixture `m`.
 *
 * @param samples Generated points, `n × 2`.
 * @param m The mixture they should match.
 * @param options Radius (in σ) and the share that covers a mode.
 * @returns The figures.
 * @throws {RangeError} An odd-length or empty sample array, or bad options.
 *
 * @example All samples on one mode cover one mode
 * ```ts
 * import { mixture, mixtureQuality } from "./mod.ts";
 * const m = mixture("gaussians8");
 * const q = mixtureQuality(new Float32Array([2, 0, 2.01, 0, 1.99, 0.01]), m);
 * if (q.modesCovered !== 1 || q.highQuality !== 1) throw new Error();
 * ```
 */
export function mixtureQuality(
  samples: Float32Array | Float64Array,
  m: Mixture,
  options?: MixtureQualityOptions,
): MixtureQuality {
  const { radius = 3, minShare = 0.2 / m.modes } = options ?? {};
  if (samples.length === 0 || samples.length % 2 !== 0) {
    throw new RangeError(
      `samples must hold n × 2 coordinates with n ≥ 1, got ${samples.length} values`,
    );
  }
  if (!(radius > 0)) throw new RangeError(`radius must be positive, got ${radius}`);
  if (!(minShare > 0 && minShare <= 1)) {
    throw new RangeError(`minShare must be in (0, 1], got ${minShare}`);
  }
  const n = samples.length / 2;
  const limit = (radius * m.sigma) ** 2;
  const counts = new Uint32Array(m.modes);
  let good = 0, dist = 0;
  for (let i = 0; i < n; i++) {
    const x = samples[2 * i], y = samples[2 * i + 1];
    let best = Infinity, at = -1;
    for (let k = 0; k < m.modes; k++) {
      const d = (x - m.centers[2 * k]) ** 2 + (y - m.centers[2 * k + 1]) ** 2;
      if (d < best) {
        best = d;
        at = k;
      }
    }
    dist += Math.sqrt(best);
    if (best <= limit) {
      counts[at]++;
      good++;
    }
  }
  const need = minShare * n;
  let covered = 0;
  for (let k = 0; k < m.modes; k++) if (counts[k] > 0 && counts[k] >= need) covered++;
  return {
    modesCovered: covered,
    modes: m.modes,
    highQuality: good / n,
    meanDistance: dist / n,
    counts,
  };
}

/**
 * Entropy (nats) of the marginal predicted label distribution: the mean of
 * the rows of `probs` (`n × classes`, each row a probability vector), then
 * −Σ p log p.
 *
 * @param probs Class probabilities, row-major.
 * @param classes Number of classes.
 * @returns The entropy, in [0, log classes].
 * @throws {RangeError} A length that is not a positive multiple of `classes`.
 *
 * @example Balanced digits give log 10
 * ```ts
 * import { labelEntropy } from "./mod.ts";
 * const p = new Float32Array(100);
 * for (let i = 0; i < 10; i++) p[11 * i] = 1; // sample i is digit i
 * if (Math.abs(labelEntropy(p, 10) - Math.log(10)) > 1e-12) throw new Error();
 * ```
 */
export function labelEntropy(probs: Float32Array | Float64Array, classes: number): number {
  if (!Number.isInteger(classes) || classes < 1) {
    throw new RangeError(`classes must be a positive integer, got ${classes}`);
  }
  if (probs.length === 0 || probs.length % classes !== 0) {
    throw new RangeError(
      `probs must hold n × ${classes} values with n ≥ 1, got ${probs.length} values`,
    );
  }
  const n = probs.length / classes;
  const mean = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < classes; c++) mean[c] += probs[i * classes + c];
  }
  let total = 0;
  for (let c = 0; c < classes; c++) total += mean[c];
  let h = 0;
  for (let c = 0; c < classes; c++) {
    const p = mean[c] / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return h;
}

/**
 * The WGAN's data: MNIST digits scaled to [−1, 1], and two 2-D Gaussian
 * mixtures drawn from a seeded stream.
 *
 * - `gaussians8`: 8 modes evenly spaced on a circle of radius 2 centred at
 *   the origin (mode k at angle 2πk/8), standard deviation σ = 0.02 per
 *   coordinate.
 * - `gaussians25`: 25 modes on the 5×5 grid {−4, −2, 0, 2, 4}² (spacing 2,
 *   centred at the origin), σ = 0.05 per coordinate.
 *
 * Both pick the mode uniformly at random for every sample.
 *
 * @module
 */
import { UnknownNameError } from "../../runtime/errors.ts";
import type { Rng } from "../../runtime/rng.ts";

/** The datasets of the WGAN. */
export const GAN_DATASETS = ["mnist", "gaussians8", "gaussians25"] as const;
/** One of {@linkcode GAN_DATASETS}. */
export type GanDataset = typeof GAN_DATASETS[number];

/** Names of the 2-D mixtures. */
export const MIXTURE_NAMES = ["gaussians8", "gaussians25"] as const;
/** One of {@linkcode MIXTURE_NAMES}. */
export type MixtureName = typeof MIXTURE_NAMES[number];

/** A 2-D mixture of equally weighted isotropic Gaussians. */
export interface Mixture {
  /** `gaussians8` or `gaussians25`. */
  readonly name: string;
  /** Mode centres, `modes × 2` row-major. */
  readonly centers: Float64Array;
  /** Number of modes. */
  readonly modes: number;
  /** Standard deviation of each coordinate around its mode. */
  readonly sigma: number;
  /**
   * Standard deviation of a coordinate of the whole mixture (the modes'
   * spread and σ together, over both coordinates): √2 ≈ 1.414 for
   * `gaussians8`, √8 ≈ 2.828 for `gaussians25`, the constants WGAN-GP's toy
   * code divides its data by.
   */
  readonly std: number;
}

/** The mixture with its {@linkcode Mixture.std} filled in. */
function withStd(name: string, centers: Float64Array, sigma: number): Mixture {
  const modes = centers.length / 2;
  let sum = 0, sq = 0;
  for (const c of centers) {
    sum += c;
    sq += c * c;
  }
  const mean = sum / centers.length;
  return {
    name,
    centers,
    modes,
    sigma,
    std: Math.sqrt(sq / centers.length - mean * mean + sigma * sigma),
  };
}

/**
 * The mixture named `name` (see the module doc for the values).
 *
 * @param name `gaussians8` or `gaussians25`.
 * @returns The mixture.
 * @throws {UnknownNameError} Any other name.
 *
 * @example The ring of eight
 * ```ts
 * import { mixture } from "./mod.ts";
 * const m = mixture("gaussians8");
 * if (m.modes !== 8 || m.sigma !== 0.02 || Math.hypot(m.centers[2], m.centers[3]) !== 2) {
 *   throw new Error();
 * }
 * ```
 */
export function mixture(name: string): Mixture {
  if (name === "gaussians8") {
    const centers = new Float64Array(16);
    for (let k = 0; k < 8; k++) {
      const a = (2 * Math.PI * k) / 8;
      // Exact axis points for k = 0, 2, 4, 6 (cos/sin of multiples of π/2 are not exact).
      centers[2 * k] = k % 2 === 0 ? [2, 0, -2, 0][k / 2] : 2 * Math.cos(a);
      centers[2 * k + 1] = k % 2 === 0 ? [0, 2, 0, -2][k / 2] : 2 * Math.sin(a);
    }
    return withStd(name, centers, 0.02);
  }
  if (name === "gaussians25") {
    const centers = new Float64Array(50);
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 5; j++) {
        centers[2 * (5 * i + j)] = 2 * i - 4;
        centers[2 * (5 * i + j) + 1] = 2 * j - 4;
      }
    }
    return withStd(name, centers, 0.05);
  }
  throw new UnknownNameError("mixture", name, MIXTURE_NAMES);
}

/**
 * Draws `n` points of mixture `m` from `rng` (mode uniform, then Gaussian
 * noise) into `out` (`n × 2` row-major).
 *
 * @param m The mixture.
 * @param n Number of points.
 * @param rng Source of randomness (advanced).
 * @param out Destination of length ≥ 2n; a new array when omitted.
 * @returns `out`.
 *
 * @example
 * ```ts
 * import { Rng } from "@qoda/ring";
 * import { mixture, sampleMixture } from "./mod.ts";
 * const pts = sampleMixture(mixture("gaussians25"), 100, new Rng(1));
 * if (pts.length !== 200 || pts.some((v) => Math.abs(v) > 5)) throw new Error();
 * ```
 */
export function sampleMixture(m: Mixture, n: number, rng: Rng, out?: Float32Array): Float32Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a count, got ${n}`);
  const dst = out ?? new Float32Array(2 * n);
  if (dst.length < 2 * n) {
    throw new RangeError(`out holds ${dst.length} values, ${2 * n} needed for ${n} points`);
  }
  for (let i = 0; i < n; i++) {
    const k = Math.min(m.modes - 1, Math.floor(rng.nextFloat() * m.modes));
    dst[2 * i] = m.centers[2 * k] + m.sigma * rng.normal();
    dst[2 * i + 1] = m.centers[2 * k + 1] + m.sigma * rng.normal();
  }
  return dst;
}

/**
 * MNIST pixels in [0, 1] mapped to [−1, 1] (2p − 1), the range of the
 * generator's tanh output.
 *
 * @param pixels Pixels in [0, 1].
 * @returns A new array of 2p − 1.
 *
 * @example
 * ```ts
 * import { toSigned } from "./mod.ts";
 * if (toSigned(new Float32Array([0, 0.5, 1])).join() !== "-1,0,1") throw new Error();
 * ```
 */
export function toSigned(pixels: Float32Array): Float32Array {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = 2 * pixels[i] - 1;
  return out;
}

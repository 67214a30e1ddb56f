/**
 * Level adaptation for the layer-wise quantizer: from the empirical
 * distribution of normalized coordinates u = |x|/‖bucket‖ ∈ [0, 1] of one
 * layer type, find the levels 0 = ℓ0 < ℓ1 < … < ℓs = 1 that minimise the
 * expected variance of stochastic rounding,
 *
 *   V(ℓ) = Σ_j ∫_{ℓj}^{ℓj+1} (ℓj+1 − r)(r − ℓj) f(r) dr,
 *
 * by closed-form coordinate descent one level at a time, as ALQ does:
 * V is convex in each ℓj, and its minimiser between a = ℓj−1 and b = ℓj+1 is
 *
 *   F(ℓj) = F(b) − ∫_a^b (r − a) f(r) dr / (b − a).
 *
 * The density is a histogram (piecewise uniform), so F and the first moment
 * are piecewise linear/quadratic and F⁻¹ is exact.
 *
 * @module
 */

import { Rng } from "../rng.ts";

/** Default histogram resolution over [0, 1]. */
export const DEFAULT_HISTOGRAM_BINS = 4096;

/**
 * The empirical distribution of normalized coordinates of one layer type.
 *
 * @example
 * ```ts
 * import { LevelHistogram } from "@qoda/ring/quant";
 * const h = new LevelHistogram(16);
 * h.add(0.1); h.add(0.9);
 * if (h.total !== 2) throw new Error("two samples");
 * ```
 */
export class LevelHistogram {
  /** Sample mass per bin; bin b covers [b/bins, (b+1)/bins). */
  readonly counts: Float64Array;

  /**
   * Creates an empty histogram.
   *
   * @param bins Number of bins over [0, 1].
   */
  constructor(bins: number = DEFAULT_HISTOGRAM_BINS) {
    this.counts = new Float64Array(bins);
  }

  /** Total sample mass. */
  get total(): number {
    let t = 0;
    for (let i = 0; i < this.counts.length; i++) t += this.counts[i];
    return t;
  }

  /** Adds one sample u ∈ [0, 1]. */
  add(u: number): void {
    const n = this.counts.length;
    const b = u * n;
    this.counts[b < n ? b | 0 : n - 1]++;
  }

  /** Forgets every sample. */
  reset(): void {
    this.counts.fill(0);
  }
}

/** Prefix sums of a histogram: F(x) (mass below x) and M(x) = ∫_0^x r f(r) dr. */
class Cdf {
  readonly n: number;
  readonly c: Float64Array; // mass of bin b
  readonly C: Float64Array; // mass below bin b (length n+1)
  readonly M: Float64Array; // first moment below bin b (length n+1)

  constructor(counts: Float64Array) {
    const n = counts.length;
    this.n = n;
    this.c = counts;
    this.C = new Float64Array(n + 1);
    this.M = new Float64Array(n + 1);
    for (let b = 0; b < n; b++) {
      this.C[b + 1] = this.C[b] + counts[b];
      // ∫ over the bin of r · (c_b·n) dr = c_b · (2b + 1) / (2n)
      this.M[b + 1] = this.M[b] + counts[b] * (2 * b + 1) / (2 * n);
    }
  }

  F(x: number): number {
    const n = this.n;
    if (x <= 0) return 0;
    if (x >= 1) return this.C[n];
    const t = x * n;
    const b = Math.min(n - 1, t | 0);
    return this.C[b] + this.c[b] * (t - b);
  }

  /** ∫_0^x r f(r) dr. */
  moment(x: number): number {
    const n = this.n;
    if (x <= 0) return 0;
    if (x >= 1) return this.M[n];
    const t = x * n;
    const b = Math.min(n - 1, t | 0);
    const lo = b / n;
    return this.M[b] + this.c[b] * n * (x * x - lo * lo) / 2;
  }

  /** Smallest x with F(x) = p, searching within [a, b] (F is non-decreasing). */
  inverse(p: number, a: number, b: number): number {
    const C = this.C, n = this.n;
    // First bin whose upper prefix reaches p.
    let lo = 0, hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (C[mid + 1] >= p) hi = mid;
      else lo = mid + 1;
    }
    const cb = this.c[lo];
    const x = cb > 0 ? (lo + (p - C[lo]) / cb) / n : lo / n;
    return Math.min(b, Math.max(a, x));
  }
}

/**
 * Expected stochastic-rounding variance (per unit norm²) of `levels` under the
 * histogram, integrated exactly over each bin's uniform density.
 */
export function histogramVariance(
  counts: Float64Array,
  levels: Float32Array | Float64Array,
): number {
  const n = counts.length;
  const total = counts.reduce((s, c) => s + c, 0);
  if (total === 0) return 0;
  let v = 0, j = 0;
  for (let b = 0; b < n; b++) {
    const cb = counts[b];
    if (cb === 0) continue;
    let x0 = b / n;
    const x1 = (b + 1) / n;
    const dens = cb * n;
    // The bin may straddle several intervals [ℓj, ℓj+1].
    while (x0 < x1) {
      while (j < levels.length - 2 && levels[j + 1] <= x0) j++;
      const lo = levels[j], hi = levels[j + 1];
      const end = Math.min(x1, hi);
      // ∫_{x0}^{end} (hi − r)(r − lo) dr
      const F = (r: number) => -(r * r * r) / 3 + (hi + lo) * r * r / 2 - hi * lo * r;
      v += dens * (F(end) - F(x0));
      if (end <= x0) break;
      x0 = end;
    }
  }
  return v / total;
}

/** Options of {@linkcode solveLevels}. */
export interface SolveLevelsOptions {
  /** Maximum coordinate-descent sweeps per start. @default {60} */
  maxSweeps?: number;
  /** Stop when no level moves more than this. @default {1e-7} */
  tolerance?: number;
  /** Smallest gap kept between adjacent levels. @default {1e-6} */
  minGap?: number;
}

/**
 * Levels 0 = ℓ0 < … < ℓs = 1 (s + 1 of them) minimising the expected
 * stochastic-rounding variance under the histogram. Tries uniform,
 * exponential and quantile starts and keeps the best; endpoints stay 0 and 1.
 *
 * @param counts Histogram of normalized coordinates over [0, 1].
 * @param numLevels s + 1, at least 2.
 * @returns The levels (float32), or uniform levels when the histogram is empty.
 *
 * @example Levels crowd where the mass is
 * ```ts
 * import { solveLevels } from "@qoda/ring/quant";
 * const counts = new Float64Array(100);
 * counts[1] = 1000; counts[2] = 500; counts[90] = 1; // mass near 0
 * const levels = solveLevels(counts, 4);
 * if (!(levels[1] < 0.1)) throw new Error("first level should move towards 0");
 * ```
 */
export function solveLevels(
  counts: Float64Array,
  numLevels: number,
  options: SolveLevelsOptions = {},
): Float32Array {
  const { maxSweeps = 60, tolerance = 1e-7, minGap = 1e-6 } = options;
  const s = numLevels - 1;
  const uniform = new Float64Array(numLevels);
  for (let i = 0; i <= s; i++) uniform[i] = i / s;
  const cdf = new Cdf(counts);
  const total = cdf.C[cdf.n];
  if (total === 0 || s < 2) return Float32Array.from(uniform);

  const starts: Float64Array[] = [uniform];
  const expo = new Float64Array(numLevels);
  for (let i = 1; i <= s; i++) expo[i] = Math.pow(0.5, s - i);
  starts.push(expo);
  const quant = new Float64Array(numLevels);
  quant[s] = 1;
  for (let i = 1; i < s; i++) quant[i] = cdf.inverse(total * i / s, 0, 1);
  starts.push(quant);

  let best = uniform, bestVar = Infinity;
  for (const start of starts) {
    const l = start.slice();
    sanitize(l, minGap);
    for (let sweep = 0; sweep < maxSweeps; sweep++) {
      let moved = 0;
      for (let j = 1; j < s; j++) {
        const a = l[j - 1], b = l[j + 1];
        const Fa = cdf.F(a), Fb = cdf.F(b);
        if (Fb - Fa <= 0) continue; // no mass between the neighbours: any ℓj is optimal
        const first = cdf.moment(b) - cdf.moment(a) - a * (Fb - Fa);
        const target = Fb - first / (b - a);
        const x = cdf.inverse(target, a + minGap, b - minGap);
        moved = Math.max(moved, Math.abs(x - l[j]));
        l[j] = x;
      }
      if (moved <= tolerance) break;
    }
    const f32 = Float32Array.from(l);
    sanitize(f32, minGap);
    const v = histogramVariance(counts, f32);
    if (v < bestVar) {
      bestVar = v;
      best = Float64Array.from(f32);
    }
  }
  return Float32Array.from(best);
}

/** Forces 0 and 1 at the ends and a strictly increasing sequence in between. */
function sanitize(l: Float32Array | Float64Array, minGap: number): void {
  const s = l.length - 1;
  l[0] = 0;
  l[s] = 1;
  for (let j = 1; j < s; j++) {
    const lo = l[j - 1] + minGap, hi = 1 - (s - j) * minGap;
    if (!(l[j] >= lo)) l[j] = lo;
    if (l[j] > hi) l[j] = hi;
    if (!(l[j] > l[j - 1])) l[j] = l[j - 1] + minGap; // float32 rounding
  }
}

/** Resolution of the model histograms of {@linkcode gaussianHistogram}. */
export const MODEL_HISTOGRAM_BINS = 16384;

/** Coordinates drawn for a model histogram that has no closed form (q ≠ 2). */
const MODEL_SAMPLES = 1 << 17;

/** Seed of those draws: fixed, so every process builds the same levels. */
const MODEL_SEED = 0x51ed_2026;

/**
 * The distribution of normalized coordinates u = |x|/‖bucket‖_q when the
 * bucket holds `bucketSize` independent standard normal coordinates: a
 * histogram over [0, 1] with total mass 1.
 *
 * Under the L2 norm it is exact: u = sin θ with θ ∝ cos^(d−2) θ on [0, π/2]
 * (u² ~ Beta(1/2, (d−1)/2)), integrated over each bin, so the tail is
 * present however thin. Under any other norm (L∞ included) it is the
 * histogram of 2^17 coordinates drawn from a fixed seed and normalized as the
 * quantizer normalizes them. Either way the result depends only on the
 * arguments: every process builds the same histogram.
 *
 * @param bucketSize Coordinates per bucket, d ≥ 1.
 * @param normQ The norm exponent q ≥ 1 (`Infinity` for L∞).
 * @param bins Histogram resolution.
 * @returns The bin masses (bin b covers [b/bins, (b+1)/bins)).
 *
 * @example Under L2, E[u²] = 1/d
 * ```ts
 * import { gaussianHistogram } from "@qoda/ring/quant";
 * const h = gaussianHistogram(256, 2, 4096);
 * let m2 = 0;
 * h.forEach((c, b) => (m2 += c * ((b + 0.5) / 4096) ** 2));
 * if (Math.abs(m2 * 256 - 1) > 0.01) throw new Error(`E[u²]·d = ${m2 * 256}`);
 * ```
 */
export function gaussianHistogram(
  bucketSize: number,
  normQ: number,
  bins: number = MODEL_HISTOGRAM_BINS,
): Float64Array {
  const h = new Float64Array(bins);
  const d = bucketSize;
  if (d <= 1) {
    h[bins - 1] = 1; // a lone coordinate is its own norm: u = 1
    return h;
  }
  if (normQ === 2) {
    // Mass of bin [a, b] ∝ ∫_{asin a}^{asin b} cos^(d−2) θ dθ, by Simpson's rule.
    const k = d - 2;
    const g = (t: number) => (k === 0 ? 1 : Math.exp(k * Math.log(Math.cos(t))));
    let t0 = 0, g0 = 1, total = 0;
    for (let b = 0; b < bins; b++) {
      const t1 = b === bins - 1 ? Math.PI / 2 : Math.asin((b + 1) / bins);
      const g1 = b === bins - 1 ? (k === 0 ? 1 : 0) : g(t1);
      const m = (t1 - t0) * (g0 + 4 * g((t0 + t1) / 2) + g1) / 6;
      h[b] = m;
      total += m;
      t0 = t1;
      g0 = g1;
    }
    for (let b = 0; b < bins; b++) h[b] /= total;
    return h;
  }
  const rng = new Rng(MODEL_SEED);
  const v = new Float64Array(d);
  const buckets = Math.ceil(MODEL_SAMPLES / d);
  for (let k = 0; k < buckets; k++) {
    let norm = 0;
    for (let i = 0; i < d; i++) {
      const a = Math.abs(rng.normal());
      v[i] = a;
      if (normQ === Infinity) norm = Math.max(norm, a);
      else norm += Math.pow(a, normQ);
    }
    if (normQ !== Infinity) norm = Math.pow(norm, 1 / normQ);
    for (let i = 0; i < d; i++) {
      const u = Math.min(1, v[i] / norm);
      h[u * bins < bins ? (u * bins) | 0 : bins - 1] += 1 / (buckets * d);
    }
  }
  return h;
}

/** Above this many levels the model levels come from the high-resolution rule. */
const SOLVE_MAX_LEVELS = 256;

const GAUSSIAN_CACHE = new Map<string, Float32Array>();

/**
 * Weight of the uniform floor mixed into the model density by
 * {@linkcode gaussianLevels}: 2^bits / 8000, at most 1/2.
 */
export function modelFloorWeight(bits: number): number {
  return Math.min(0.5, 2 ** bits / 8000);
}

/**
 * The initial levels of the layer-wise quantizer (2^(bits−1) of them, 0 … 1):
 * those that minimise the expected stochastic-rounding variance when the
 * normalized coordinates follow the model density
 *
 *   (1 − w) · g(u) + w,  u ∈ [0, 1],
 *
 * where g is {@linkcode gaussianHistogram} (standard normal coordinates in a
 * bucket of `bucketSize`, normalized by its L^q norm) and w =
 * {@linkcode modelFloorWeight}(bits). The uniform floor keeps some levels
 * above the Gaussian range, so heavier tails and short buckets (small
 * layers, a layer's last bucket) are not stranded in the wide top interval;
 * more levels afford a larger floor. Up to 256 levels they come from
 * {@linkcode solveLevels}; beyond, from the high-resolution rule (level
 * density ∝ f^(1/3)) or uniform levels, whichever the model prefers.
 *
 * A pure function of its arguments, computed once per argument set and then
 * cached, so replicas that share a configuration share the levels.
 *
 * @param bits Bits per coordinate, sign included (2..16).
 * @param bucketSize Coordinates per bucket. @default {1024}
 * @param normQ The norm exponent q ≥ 1 (`Infinity` for L∞). @default {2}
 * @returns A new array of levels (float32).
 *
 * @example Good levels before any statistics are gathered
 * ```ts
 * import {
 *   gaussianHistogram,
 *   gaussianLevels,
 *   histogramVariance,
 *   uniformLevels,
 * } from "@qoda/ring/quant";
 * const g = gaussianHistogram(1024, 2);
 * // Under L2, ε_Q = Σ_i Var(u_i): d times the variance per coordinate.
 * const eps = 1024 * histogramVariance(g, gaussianLevels(4, 1024, 2));
 * const epsUniform = 1024 * histogramVariance(g, uniformLevels(4));
 * if (!(eps < 0.1 && epsUniform > 2)) throw new Error(`ε_Q ${eps} vs ${epsUniform}`);
 * ```
 */
export function gaussianLevels(bits: number, bucketSize = 1024, normQ = 2): Float32Array {
  const key = `${bits}/${bucketSize}/${normQ}`;
  let l = GAUSSIAN_CACHE.get(key);
  if (!l) {
    const numLevels = 1 << (bits - 1);
    const h = gaussianHistogram(bucketSize, normQ);
    const w = modelFloorWeight(bits);
    for (let b = 0; b < h.length; b++) h[b] = (1 - w) * h[b] + w / h.length;
    l = numLevels <= SOLVE_MAX_LEVELS ? solveLevels(h, numLevels) : companded(h, numLevels);
    if (GAUSSIAN_CACHE.size >= 256) GAUSSIAN_CACHE.clear();
    GAUSSIAN_CACHE.set(key, l);
  }
  return l.slice();
}

/**
 * Levels at the quantiles of the density ∝ f^(1/3) (the asymptotically
 * optimal spacing for many levels), or uniform levels when those are better
 * under the histogram.
 */
function companded(counts: Float64Array, numLevels: number): Float32Array {
  const n = counts.length, s = numLevels - 1;
  const g = new Float64Array(n);
  for (let b = 0; b < n; b++) g[b] = Math.cbrt(counts[b]);
  const cdf = new Cdf(g);
  const total = cdf.C[n];
  const l = new Float32Array(numLevels);
  for (let i = 1; i < s; i++) l[i] = cdf.inverse(total * i / s, 0, 1);
  sanitize(l, 1e-6);
  const uniform = new Float32Array(numLevels);
  for (let i = 0; i <= s; i++) uniform[i] = i / s;
  uniform[s] = 1;
  return histogramVariance(counts, l) < histogramVariance(counts, uniform) ? l : uniform;
}

/**
 * When to re-solve the levels: at each warm-up milestone, then every `every`
 * steps after the last milestone.
 */
export interface LevelSchedule {
  /** Steps at which to adapt during warm-up. @default {[20, 100, 500]} */
  warmup?: number[];
  /** Adapt every this many steps after the last milestone (0: never). @default {2000} */
  every?: number;
}

/**
 * True when `step` is an adaptation step under `schedule`.
 *
 * @example
 * ```ts
 * import { isAdaptStep } from "@qoda/ring/quant";
 * const sched = { warmup: [10, 50], every: 100 };
 * if (!isAdaptStep(sched, 150) || isAdaptStep(sched, 149)) throw new Error();
 * ```
 */
export function isAdaptStep(schedule: LevelSchedule, step: number): boolean {
  const { warmup = [20, 100, 500], every = 2000 } = schedule;
  if (warmup.includes(step)) return true;
  const last = warmup.length ? Math.max(...warmup) : 0;
  return every > 0 && step > last && (step - last) % every === 0;
}

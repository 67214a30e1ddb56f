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

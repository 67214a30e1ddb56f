// Statistical checks shared by quantizer tests.
import assert from "node:assert/strict";
import type { LayerInfo, Quantizer } from "../../runtime/quant/types.ts";
import type { Rng } from "../../runtime/rng.ts";

/** Result of drawing K quantizations of one vector. */
export interface DrawSummary {
  /** Mean over draws of ‖Q(v) − v‖². */
  meanSqError: number;
  /** ‖mean_k Q_k(v) − v‖². */
  sqBiasOfMean: number;
  /** Σ_i s_i⁴ over per-coordinate sample variances s_i² (for the effective dof). */
  sumVar2: number;
  /** Σ_i s_i². */
  sumVar: number;
  draws: number;
}

/** Draws K quantizations of v and summarises them. */
export function draw(
  q: Quantizer,
  v: Float32Array,
  K: number,
  rng: Rng,
  layer?: LayerInfo,
): DrawSummary {
  const n = v.length;
  const sum = new Float64Array(n);
  const sum2 = new Float64Array(n);
  const out = new Float32Array(n);
  let sq = 0;
  for (let k = 0; k < K; k++) {
    q.dequantize(q.quantize(v, rng, layer), out);
    for (let i = 0; i < n; i++) {
      const d = out[i] - v[i];
      sq += d * d;
      sum[i] += d;
      sum2[i] += d * d;
    }
  }
  let bias = 0, sumVar = 0, sumVar2 = 0;
  for (let i = 0; i < n; i++) {
    const m = sum[i] / K;
    bias += m * m;
    const s2 = Math.max(0, (sum2[i] - K * m * m) / (K - 1));
    sumVar += s2;
    sumVar2 += s2 * s2;
  }
  return { meanSqError: sq / K, sqBiasOfMean: bias, sumVar, sumVar2, draws: K };
}

/**
 * For an unbiased quantizer with total variance V = E‖Q(v) − v‖², the mean of
 * K independent draws satisfies E‖mean − v‖² = V/K, so R = ‖mean − v‖²·K/V
 * has mean 1. Treating the coordinate means as normal, R has standard
 * deviation √(2/d_eff) with d_eff = (Σσ²)²/Σσ⁴ (estimated from the sample
 * variances): few dominant coordinates mean few degrees of freedom. A bias b
 * adds ‖b‖²·K/V, which grows with K. Returns R and its standard deviation.
 */
export function biasRatio(s: DrawSummary, expectedVariance: number): { r: number; sd: number } {
  const dEff = s.sumVar2 > 0 ? (s.sumVar * s.sumVar) / s.sumVar2 : 1;
  return { r: s.sqBiasOfMean * s.draws / expectedVariance, sd: Math.sqrt(2 / dEff) };
}

/**
 * Asserts unbiasedness (R within 5 standard deviations of 1) and that the
 * mean squared error matches the exact expectation within `mseTol` (relative)
 * and stays within the bound.
 */
export function assertUnbiased(
  s: DrawSummary,
  expected: number,
  bound: number,
  mseTol = 0.1,
): void {
  const { r, sd } = biasRatio(s, expected);
  assert.ok(Math.abs(r - 1) <= 5 * sd, `bias ratio ${r} (sd ${sd}) is not within 5 sd of 1`);
  assert.ok(
    Math.abs(s.meanSqError / expected - 1) < mseTol,
    `mean squared error ${s.meanSqError} vs expected ${expected}`,
  );
  assert.ok(s.meanSqError <= bound, `empirical variance ${s.meanSqError} > bound ${bound}`);
}

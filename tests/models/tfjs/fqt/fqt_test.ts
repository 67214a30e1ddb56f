import assert from "node:assert/strict";
import type * as tfjs from "@tensorflow/tfjs";
import { initBackend } from "../../../../models/tfjs/backend/backend.ts";
import { floatOps, FqtOps, type LinearOps } from "../../../../models/tfjs/fqt/layers.ts";
import {
  createSignalQuantizers,
  type SignalQuantizer,
  type SignalQuantizers,
  transpose,
} from "../../../../models/tfjs/fqt/signal.ts";
import type { Quantizer } from "../../../../runtime/quant/types.ts";
import { Rng } from "../../../../runtime/rng.ts";

const { tf } = await initBackend("cpu");

function randomTensor(shape: number[], rng: Rng, scale = 1): tfjs.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = scale * rng.normal();
  return tf.tensor(v, shape);
}

interface Problem {
  inputs: tfjs.Tensor[];
  /** Gradients of the loss w.r.t. every input, flattened into one array. */
  grads(ops: LinearOps): Float32Array;
  dispose(): void;
}

/** A dense layer under L = Σ c ⊙ y² / 2 (so ∇H = c ⊙ y: rows with very different ranges). */
function denseProblem(seed: number): Problem {
  const rng = new Rng(seed);
  const x = randomTensor([16, 6], rng);
  const w = randomTensor([6, 5], rng, 0.5);
  const b = randomTensor([5], rng, 0.1);
  // Row scales spanning three decades make per-tensor ranges poor and per-row ranges good.
  const c = tf.tensor2d(
    Float32Array.from({ length: 80 }, (_, i) => 10 ** (-(Math.floor(i / 5) % 4)) * (1 + (i % 3))),
    [16, 5],
  );
  const inputs = [x, w, b];
  return {
    inputs,
    grads: (ops) =>
      tf.tidy(() => {
        const g = tf.grads((x, w, b) =>
          tf.sum(
            tf.mul(
              c,
              tf.square(ops.dense(x as tfjs.Tensor2D, w as tfjs.Tensor2D, b as tfjs.Tensor1D, "d")),
            ),
          ).div(2)
        )(inputs);
        return tf.concat(g.map((t) => t.flatten())).dataSync() as Float32Array;
      }),
    dispose: () => tf.dispose([x, w, b, c]),
  };
}

/** A strided conv layer under the same kind of loss. */
function convProblem(seed: number): Problem {
  const rng = new Rng(seed);
  const x = randomTensor([4, 6, 6, 2], rng);
  const w = randomTensor([3, 3, 2, 3], rng, 0.4);
  const b = randomTensor([3], rng, 0.1);
  const c = randomTensor([4, 3, 3, 3], rng);
  const inputs = [x, w, b];
  return {
    inputs,
    grads: (ops) =>
      tf.tidy(() => {
        const g = tf.grads((x, w, b) =>
          tf.sum(
            tf.mul(
              c,
              tf.square(
                ops.conv2d(
                  x as tfjs.Tensor4D,
                  w as tfjs.Tensor4D,
                  b as tfjs.Tensor1D,
                  2,
                  "same",
                  "c",
                ),
              ),
            ),
          ).div(2)
        )(inputs);
        return tf.concat(g.map((t) => t.flatten())).dataSync() as Float32Array;
      }),
    dispose: () => tf.dispose([x, w, b, c]),
  };
}

/**
 * Per-coordinate z-scores of the mean of `draws` quantized gradients against the exact one:
 * z_i = (mean_i − g_i) / (s_i / √T), with s_i the sample standard deviation. For an unbiased
 * estimator each z_i is approximately N(0, 1) (CLT over T independent draws).
 */
function zScores(problem: Problem, ops: FqtOps, draws: number) {
  const exact = problem.grads(floatOps(tf));
  const d = exact.length;
  const sum = new Float64Array(d), sq = new Float64Array(d);
  for (let t = 0; t < draws; t++) {
    const g = problem.grads(ops);
    for (let i = 0; i < d; i++) {
      sum[i] += g[i];
      sq[i] += g[i] * g[i];
    }
  }
  let sumZ2 = 0, maxZ = 0, counted = 0;
  for (let i = 0; i < d; i++) {
    const mean = sum[i] / draws;
    const variance = Math.max(0, (sq[i] - draws * mean * mean) / (draws - 1));
    const se = Math.sqrt(variance / draws);
    const scale = Math.abs(exact[i]) + 1e-6;
    if (se < 1e-7 * scale) {
      // No quantization noise reached this coordinate: it must be exact.
      assert.ok(
        Math.abs(mean - exact[i]) < 1e-5 * scale,
        `coordinate ${i}: ${mean} vs ${exact[i]}`,
      );
      continue;
    }
    const z = (mean - exact[i]) / se;
    sumZ2 += z * z;
    maxZ = Math.max(maxZ, Math.abs(z));
    counted++;
  }
  return { meanZ2: sumZ2 / counted, maxZ, counted };
}

/** A stochastic quantizer whose dequantized values are scaled by `1 + bias`: biased on purpose. */
function scaled(q: SignalQuantizer, bias: number): SignalQuantizer {
  const inner = q.quantizer;
  const biased: Quantizer = {
    scheme: inner.scheme,
    bits: inner.bits,
    unbiased: false,
    quantize: (v, rng, layer, stats) => inner.quantize(v, rng, layer, stats),
    dequantize: (block, out) => {
      const r = inner.dequantize(block, out);
      for (let i = 0; i < r.length; i++) r[i] *= 1 + bias;
      return r;
    },
    varianceBound: (v, layer) => inner.varianceBound(v, layer),
    expectedVariance: (v, layer) => inner.expectedVariance(v, layer),
  };
  return { ...q, quantizer: biased };
}

// Thresholds: with d ≈ 100–130 coordinates, mean z² of an unbiased estimator is 1 ± ~0.15
// (more if coordinates are correlated) and max |z| > 4.5 has probability < d·7e-6 ≈ 1e-3.
const DRAWS = 300;

for (const scheme of ["ptq", "psq", "bhq"] as const) {
  for (const [label, make] of [["dense", denseProblem], ["conv2d", convProblem]] as const) {
    Deno.test(`FqtOps ${scheme} 4-bit ${label}: the mean of ${DRAWS} quantized backward passes is the exact gradient`, () => {
      const problem = make(7);
      const ops = new FqtOps(tf, { scheme, bits: 4, seed: 42 });
      const { meanZ2, maxZ, counted } = zScores(problem, ops, DRAWS);
      assert.ok(counted > 50, `only ${counted} noisy coordinates`);
      assert.ok(meanZ2 < 1.6, `mean z² ${meanZ2.toFixed(3)} (max |z| ${maxZ.toFixed(2)})`);
      assert.ok(maxZ < 4.5, `max |z| ${maxZ.toFixed(2)} (mean z² ${meanZ2.toFixed(3)})`);
      assert.equal(ops.backwardPasses, DRAWS);
      const eps = ops.epsQ();
      assert.ok(eps.input > 0 && eps.weight > 0, `ε_Q ${JSON.stringify(eps)}`);
      problem.dispose();
    });
  }
}

Deno.test("the unbiasedness check catches a 0.5% bias of the quantized signal", () => {
  const problem = denseProblem(7);
  const q = createSignalQuantizers("psq", 4);
  // Scaling Q(dy) by 1.005 biases the gradient by 0.5%, about a sixth of the per-draw noise of
  // a typical coordinate here: mean z² ≈ 1 + 300/36 (measured ≈ 9), far from the unbiased ≈ 1.
  const biased: SignalQuantizers = {
    input: scaled(q.input, 0.005),
    weight: scaled(q.weight, 0.005),
  };
  const ops = new FqtOps(tf, { scheme: "psq", bits: 4, seed: 42, quantizers: biased });
  const { meanZ2 } = zScores(problem, ops, DRAWS);
  assert.ok(meanZ2 > 3, `a shifted quantizer went unnoticed: mean z² ${meanZ2}`);
  problem.dispose();
});

Deno.test("FqtOps quantizes ∇W and ∇X paths independently (gradient bifurcation)", () => {
  const problem = denseProblem(3);
  let forW: Float32Array | undefined;
  let num = 0, dw = 0, dx = 0, passes = 0;
  const ops = new FqtOps(tf, {
    scheme: "bhq",
    bits: 3,
    seed: 9,
    inspect: (_layer, path, dy, q) => {
      if (path === "weight") {
        forW = Float32Array.from(q, (v, i) => v - dy[i]);
        return;
      }
      passes++;
      for (let i = 0; i < q.length; i++) {
        const ex = q[i] - dy[i], ew = forW![i];
        num += ex * ew;
        dx += ex * ex;
        dw += ew * ew;
      }
    },
  });
  for (let t = 0; t < 200; t++) problem.grads(ops);
  assert.equal(passes, 200);
  const rho = num / Math.sqrt(dx * dw);
  // 200 × 80 error pairs: the correlation of independent errors is 0 ± ~0.01.
  assert.ok(Math.abs(rho) < 0.05, `errors of the two paths correlate: ρ = ${rho}`);
  assert.ok(dx > 0 && dw > 0);
  problem.dispose();
});

Deno.test("FqtOps at 16 bits is within 1e-3 of the exact gradient", () => {
  for (const make of [denseProblem, convProblem]) {
    const problem = make(5);
    const exact = problem.grads(floatOps(tf));
    const g = problem.grads(new FqtOps(tf, { scheme: "bhq", bits: 16, seed: 1 }));
    let err = 0, norm = 0;
    for (let i = 0; i < exact.length; i++) {
      err += (g[i] - exact[i]) ** 2;
      norm += exact[i] ** 2;
    }
    assert.ok(Math.sqrt(err / norm) < 1e-3, `relative error ${Math.sqrt(err / norm)}`);
    problem.dispose();
  }
});

Deno.test("FqtOps and createSignalQuantizers() reject bad schemes, bits and shapes", () => {
  assert.throws(
    () => new FqtOps(tf, { scheme: "int8", bits: 4 }),
    /unknown FQT scheme 'int8'; valid: ptq, psq, bhq/,
  );
  assert.throws(() => createSignalQuantizers("psq", 0), /bits/);
  assert.throws(() => createSignalQuantizers("bhq", 17), /bits/);
  const ops = new FqtOps(tf, { scheme: "ptq", bits: 4 });
  assert.throws(
    () => tf.tidy(() => ops.dense(tf.zeros([2, 3]), tf.zeros([4, 2]), tf.zeros([2]), "fc")),
    /layer 'fc': input has 3 features but the kernel expects 4/,
  );
  assert.deepEqual([...transpose(new Float32Array([1, 2, 3, 4, 5, 6]), 2, 3)], [1, 4, 2, 5, 3, 6]);
  assert.throws(() => transpose(new Float32Array(5), 2, 3), /5 values, expected 2 × 3/);
});

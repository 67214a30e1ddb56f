import assert from "node:assert/strict";
import { decode, encode } from "../../../runtime/coding/codec.ts";
import { EpsTracker } from "../../../runtime/quant/eps.ts";
import { LayerwiseQuantizer } from "../../../runtime/quant/layerwise.ts";
import { createQuantizer } from "../../../runtime/quant/registry.ts";
import type { Quantizer } from "../../../runtime/quant/types.ts";
import { Rng } from "../../../runtime/rng.ts";
import { compressedAllGatherMean } from "../../../runtime/collective/allgather.ts";

const LAYERS = [
  { name: "dense1/kernel", shape: [40, 50] },
  { name: "dense1/bias", shape: [50] },
  { name: "dense2/kernel", shape: [50, 10] },
];

/** K workers' gradients: heavy-tailed, a different scale per worker and layer. */
function workerGrads(k: number, seed: number): Float32Array[][] {
  const rng = new Rng(seed);
  return Array.from({ length: k }, (_, w) =>
    LAYERS.map((l, j) => {
      const n = l.shape.reduce((a, b) => a * b, 1);
      return new Float32Array(n).map(() => rng.normal() * (1 + w) * (j + 1) * rng.nextFloat());
    }));
}

function rngs(k: number, seed: number): Rng[] {
  const master = new Rng(seed);
  return Array.from({ length: k }, () => master.fork());
}

Deno.test("compressedAllGatherMean() with scheme none is the exact float32 mean", () => {
  const grads = workerGrads(3, 1);
  const { mean, stats } = compressedAllGatherMean(
    grads,
    LAYERS,
    createQuantizer({ scheme: "none" }),
    rngs(3, 2),
  );
  for (let l = 0; l < LAYERS.length; l++) {
    for (let i = 0; i < mean[l].length; i++) {
      const sum = Math.fround(Math.fround(grads[0][l][i] + grads[1][l][i]) + grads[2][l][i]);
      assert.equal(mean[l][i], Math.fround(sum / 3), `layer ${l} coordinate ${i}`);
    }
  }
  assert.equal(stats.sqError, 0);
  assert.ok(stats.bitsPerCoord > 32 && stats.bitsPerCoord < 33, `${stats.bitsPerCoord}`);
});

function checkUnbiased(quantizer: Quantizer, label: string): void {
  // E‖mean_N − exact‖² = Σ_k E‖Q(g_k) − g_k‖² / (K² N). With 2,600 coordinates that sum
  // concentrates tightly, so 2× its expectation is a safe bound; a biased scheme's error
  // would not shrink with N.
  const K = 3, N = 300;
  const grads = workerGrads(K, 3);
  const exact = LAYERS.map((_, l) => {
    const m = new Float64Array(grads[0][l].length);
    for (const g of grads) for (let i = 0; i < m.length; i++) m[i] += g[l][i] / K;
    return m;
  });
  let variance = 0;
  for (const g of grads) {
    for (let l = 0; l < LAYERS.length; l++) variance += quantizer.expectedVariance(g[l], LAYERS[l]);
  }
  variance /= K * K;
  assert.ok(variance > 0, `${label}: the test needs a lossy scheme`);
  const acc = exact.map((m) => new Float64Array(m.length));
  for (let s = 0; s < N; s++) {
    const { mean } = compressedAllGatherMean(grads, LAYERS, quantizer, rngs(K, 1000 + s), {
      receivers: "one",
    });
    for (let l = 0; l < LAYERS.length; l++) {
      for (let i = 0; i < acc[l].length; i++) acc[l][i] += mean[l][i] / N;
    }
  }
  let sq = 0;
  for (let l = 0; l < LAYERS.length; l++) {
    for (let i = 0; i < acc[l].length; i++) sq += (acc[l][i] - exact[l][i]) ** 2;
  }
  const bound = 2 * variance / N;
  assert.ok(sq <= bound, `${label}: ‖mean over ${N} seeds − exact‖² = ${sq} > ${bound}`);
  assert.ok(sq >= 0.25 * variance / N, `${label}: suspiciously small error ${sq}`);
}

Deno.test("compressedAllGatherMean() of an unbiased scheme converges to the exact mean", () => {
  checkUnbiased(createQuantizer({ scheme: "qsgd", bits: 4, bucketSize: 256 }), "qsgd 4-bit");
  checkUnbiased(new LayerwiseQuantizer({ bits: 3, bucketSize: 256, adapt: false }), "layerwise 3");
});

Deno.test("compressedAllGatherMean() counts exactly the encoded bytes", () => {
  const K = 4;
  const grads = workerGrads(K, 5);
  for (const coder of ["fixed", "gamma", "omega"] as const) {
    const q = createQuantizer({ scheme: "layerwise", bits: 4, bucketSize: 512 });
    const { messages, stats } = compressedAllGatherMean(grads, LAYERS, q, rngs(K, 6), { coder });
    const total = messages.flat().reduce((n, m) => n + m.length, 0);
    assert.equal(stats.messageBytes, total);
    assert.equal(stats.bytesSent, total * (K - 1));
    const coords = LAYERS.reduce((n, l) => n + l.shape.reduce((a, b) => a * b, 1), 0);
    assert.equal(stats.coords, coords);
    assert.equal(stats.bitsPerCoord, 8 * total / (K * coords));
    // The messages are exactly encode(quantize(...)) with the same per-worker streams.
    const fresh = createQuantizer({ scheme: "layerwise", bits: 4, bucketSize: 512 });
    const again = rngs(K, 6);
    for (let w = 0; w < K; w++) {
      for (let l = 0; l < LAYERS.length; l++) {
        const bytes = encode(fresh.quantize(grads[w][l], again[w], LAYERS[l]), coder);
        assert.deepEqual(messages[w][l], bytes, `${coder}: worker ${w} layer ${l}`);
        assert.equal(decode(bytes).length, grads[w][l].length);
      }
    }
  }
});

Deno.test("compressedAllGatherMean() gives every receiver the same average", () => {
  const grads = workerGrads(3, 7);
  const q = createQuantizer({ scheme: "layerwise", bits: 4 });
  const all = compressedAllGatherMean(grads, LAYERS, q, rngs(3, 8), { receivers: "all" });
  const one = compressedAllGatherMean(grads, LAYERS, q, rngs(3, 8), { receivers: "one" });
  assert.deepEqual(all.mean, one.mean);
});

Deno.test("compressedAllGatherMean() records ε_Q per layer type", () => {
  const eps = new EpsTracker();
  const q = createQuantizer({ scheme: "qsgd", bits: 3 });
  const { stats } = compressedAllGatherMean(workerGrads(2, 9), LAYERS, q, rngs(2, 10), { eps });
  const snap = eps.snapshot();
  assert.deepEqual(Object.keys(snap).sort(), ["bias", "dense"]);
  assert.equal(snap.dense.count, 4);
  assert.equal(snap.bias.count, 2);
  const sqError = snap.dense.sqError + snap.bias.sqError;
  assert.ok(Math.abs(sqError - stats.sqError) <= 1e-9 * stats.sqError);
});

Deno.test("compressedAllGatherMean() rejects mismatched inputs naming worker and layer", () => {
  const q = createQuantizer({ scheme: "none" });
  const grads = workerGrads(2, 11);
  assert.throws(() => compressedAllGatherMean(grads, LAYERS, q, rngs(3, 1)), /2 workers.*3 rngs/);
  grads[1][2] = new Float32Array(3);
  assert.throws(
    () => compressedAllGatherMean(grads, LAYERS, q, rngs(2, 1)),
    (e: Error) => e instanceof RangeError && /dense2\/kernel.*worker 1 has 3/.test(e.message),
  );
  assert.throws(
    () => compressedAllGatherMean([[], []], LAYERS, q, rngs(2, 1)),
    /worker 0 has no gradient for layer 'dense1\/kernel'/,
  );
});

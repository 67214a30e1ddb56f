import assert from "node:assert/strict";
import {
  allreduce,
  type AllreduceOptions,
  type LayerSpan,
  planSegments,
} from "../../../runtime/collective/allreduce.ts";
import { quantizeEncode } from "../../../runtime/coding/codec.ts";
import { defaultLayerType } from "../../../runtime/quant/layer_types.ts";
import { createQuantizer } from "../../../runtime/quant/registry.ts";
import type { Quantizer } from "../../../runtime/quant/types.ts";
import { RingContext } from "../../../runtime/collective/context.ts";
import { groupSegments } from "../../../runtime/collective/plan.ts";
import {
  CollectiveError,
  CollectiveTimeoutError,
  LinkError,
  MismatchError,
  RemoteFailureError,
} from "../../../runtime/errors.ts";
import { LayerwiseQuantizer } from "../../../runtime/quant/layerwise.ts";
import { QsgdQuantizer } from "../../../runtime/quant/qsgd.ts";
import { Rng } from "../../../runtime/rng.ts";
import { memoryRing } from "../../../runtime/transport/memory.ts";
import { inputs, ring } from "./_rings.ts";

function exactSum(bufs: Float32Array[]): Float64Array {
  const s = new Float64Array(bufs[0].length);
  for (const b of bufs) for (let i = 0; i < b.length; i++) s[i] += b[i];
  return s;
}

function assertIdentical(bufs: Float32Array[], what: string): void {
  for (let r = 1; r < bufs.length; r++) {
    assert.deepEqual(
      new Uint8Array(bufs[r].buffer),
      new Uint8Array(bufs[0].buffer),
      `${what}: rank ${r} differs from rank 0`,
    );
  }
}

async function run(
  ctxs: RingContext[],
  bufs: Float32Array[],
  opts: (rank: number) => AllreduceOptions,
): Promise<PromiseSettledResult<unknown>[]> {
  return await Promise.allSettled(ctxs.map((c, r) => allreduce(c, bufs[r], opts(r))));
}

const LENGTHS = [0, 1, 3, 7, 100, 1001, 4099];

Deno.test("float32 all-reduce equals the float64 sum on every rank, N = 1..5, awkward lengths", async () => {
  for (let size = 1; size <= 5; size++) {
    for (const n of LENGTHS) {
      const bufs = inputs(size, n, size * 1000 + n);
      const exact = exactSum(bufs);
      const ctxs = ring(size);
      const res = await run(ctxs, bufs, () => ({ maxSegmentElements: 64 }));
      assert.ok(res.every((x) => x.status === "fulfilled"), `N ${size}, n ${n}`);
      for (const b of bufs) {
        for (let i = 0; i < n; i++) {
          // Each partial sum rounds once: at most N−1 roundings of magnitude ≤ Σ|x|.
          const tol = size * 1.2e-7 * (Math.abs(exact[i]) + 3 * 4 * size);
          assert.ok(Math.abs(b[i] - exact[i]) <= tol, `N ${size}, n ${n}, index ${i}`);
        }
      }
      assertIdentical(bufs, `N ${size}, n ${n}`);
      ctxs.forEach((c) => c.close());
    }
  }
});

Deno.test("mean divides the sum by the world size", async () => {
  const bufs = [
    new Float32Array([1, 2, 3]),
    new Float32Array([3, 4, 5]),
    new Float32Array([5, 6, 7]),
  ];
  const ctxs = ring(3);
  await run(ctxs, bufs, () => ({ op: "mean" }));
  for (const b of bufs) assert.deepEqual(Array.from(b), [3, 4, 5]);
  ctxs.forEach((c) => c.close());
});

const layout = (n: number) => [
  { name: "dense/kernel", type: "dense", offset: 0, length: n - 10 },
  { name: "dense/bias", type: "bias", offset: n - 10, length: 10 },
];

for (const mode of ["ring", "allgather"] as const) {
  Deno.test(`compressed ${mode} mode: bit-identical on every rank, N = 1..5`, async () => {
    for (let size = 1; size <= 5; size++) {
      for (const n of [10, 11, 1001, 4099]) {
        const bufs = inputs(size, n, 7 * size + n);
        const ctxs = ring(size);
        const qs = ctxs.map(() => new LayerwiseQuantizer({ bits: 4, bucketSize: 128 }));
        const res = await run(ctxs, bufs, (r) => ({
          layout: layout(n),
          maxSegmentElements: 300,
          compression: {
            mode,
            rng: new Rng(r + 100),
            // Biases stay float32; kernels get the layer-wise quantizer.
            quantizerFor: (l) => (l.type === "bias" ? null : qs[r]),
          },
        }));
        assert.ok(res.every((x) => x.status === "fulfilled"), `${mode} N ${size} n ${n}`);
        assertIdentical(bufs, `${mode} N ${size} n ${n}`);
        ctxs.forEach((c) => c.close());
      }
    }
  });

  Deno.test(`compressed ${mode} mode: layers with shapes cut into pieces keep their type`, async () => {
    const shaped = [
      { name: "gen/dense1/kernel", shape: [100, 40], offset: 0, length: 4000 },
      { name: "gen/dense1/bias", shape: [10], offset: 4000, length: 10 },
    ];
    for (let size = 2; size <= 4; size++) {
      const bufs = inputs(size, 4010, 3 * size);
      const ctxs = ring(size);
      const qs = ctxs.map(() =>
        new LayerwiseQuantizer({ bits: 4, bucketSize: 128, adapt: { warmup: [], every: 0 } })
      );
      const res = await run(ctxs, bufs, (r) => ({
        layout: shaped,
        maxSegmentElements: 300,
        compression: { mode, rng: new Rng(r), quantizerFor: () => qs[r] },
      }));
      assert.ok(res.every((x) => x.status === "fulfilled"), `${mode} N ${size}`);
      assertIdentical(bufs, `${mode} N ${size}`);
      for (const q of qs) assert.deepEqual(Object.keys(q.statistics()).sort(), ["bias", "dense"]);
      ctxs.forEach((c) => c.close());
    }
  });

  // Unbiasedness: average the compressed result over S independent seeds and
  // compare with the exact sum. For S runs the squared distance of the average
  // shrinks like 1/S when unbiased; we compare S = 200 with a 5-σ-style bound
  // derived from the measured single-run error.
  Deno.test(`compressed ${mode} mode is unbiased over many seeds`, async () => {
    const size = 4, n = 600, S = 200;
    const base = inputs(size, n, 99);
    const exact = exactSum(base);
    const mean = new Float64Array(n);
    let single = 0;
    for (let s = 0; s < S; s++) {
      const bufs = base.map((b) => b.slice());
      const ctxs = ring(size);
      const qs = ctxs.map(() => new QsgdQuantizer({ bits: 4, bucketSize: 64 }));
      await run(ctxs, bufs, (r) => ({
        maxSegmentElements: 128,
        compression: { mode, rng: new Rng(s * 31 + r), quantizerFor: () => qs[r] },
      }));
      ctxs.forEach((c) => c.close());
      for (let i = 0; i < n; i++) {
        mean[i] += bufs[0][i] / S;
        single += (bufs[0][i] - exact[i]) ** 2 / S;
      }
    }
    let bias2 = 0;
    for (let i = 0; i < n; i++) bias2 += (mean[i] - exact[i]) ** 2;
    // Unbiased: E‖mean − exact‖² = E‖single − exact‖² / S. Allow 2× (the ratio
    // is a sum of 600 terms, so its spread is small); a bias would not shrink.
    assert.ok(single > 0, "compression must introduce some error");
    assert.ok(bias2 <= (2 * single) / S, `${mode}: ‖mean − exact‖² = ${bias2}, single ${single}`);
  });
}

// The compressed all-gather is the one QODA's analysis assumes, and the one the training
// runtime uses: its figures (the mean, the bytes, ε_Q per layer type) are what a run reports.

/** Three layers with shapes, as a model's variables give them. */
const MODEL_LAYERS: LayerSpan[] = [
  { name: "dense1/kernel", shape: [40, 50], offset: 0, length: 2000 },
  { name: "dense1/bias", shape: [50], offset: 2000, length: 50 },
  { name: "dense2/kernel", shape: [50, 10], offset: 2050, length: 500 },
];
const MODEL_N = 2550;

/** Heavy-tailed gradients, a different scale per rank and layer. */
function modelGrads(size: number, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: size }, (_, w) => {
    const v = new Float32Array(MODEL_N);
    for (const [j, l] of MODEL_LAYERS.entries()) {
      for (let i = l.offset; i < l.offset + l.length; i++) {
        v[i] = rng.normal() * (1 + w) * (j + 1) * rng.nextFloat();
      }
    }
    return v;
  });
}

async function gatherMean(
  grads: Float32Array[],
  quantizers: Quantizer[],
  seed: number,
  coder: "fixed" | "gamma" | "omega" = "fixed",
) {
  const bufs = grads.map((g) => g.slice());
  const ctxs = ring(grads.length);
  const stats = await Promise.all(ctxs.map((c, r) =>
    allreduce(c, bufs[r], {
      op: "mean",
      layout: MODEL_LAYERS,
      maxSegmentElements: 700,
      compression: {
        mode: "allgather",
        coder,
        rng: new Rng(seed + r),
        quantizerFor: () => quantizers[r],
      },
    })
  ));
  ctxs.forEach((c) => c.close());
  return { bufs, stats };
}

Deno.test("allgather mode with the none scheme is the exact rank-order float32 mean, at 32 bits and a header", async () => {
  const size = 3;
  const grads = modelGrads(size, 1);
  const { bufs, stats } = await gatherMean(
    grads,
    grads.map(() => createQuantizer({ scheme: "none" })),
    2,
  );
  for (let i = 0; i < MODEL_N; i++) {
    const sum = Math.fround(Math.fround(grads[0][i] + grads[1][i]) + grads[2][i]);
    assert.equal(bufs[0][i], Math.fround(sum / size), `coordinate ${i}`);
  }
  assertIdentical(bufs, "none");
  // Each rank's message goes to N − 1 ranks; 32 bits a coordinate plus the frames' headers.
  const bytes = stats.reduce((n, s) => n + s.bytesSent, 0);
  const bitsPerCoord = (8 * bytes) / ((size - 1) * size * MODEL_N);
  assert.ok(bitsPerCoord > 32 && bitsPerCoord < 33, `${bitsPerCoord} bits/coord`);
});

Deno.test("allgather mode sends exactly the encoded messages, each to the N − 1 other ranks", async () => {
  const size = 4;
  const grads = modelGrads(size, 5);
  for (const coder of ["fixed", "gamma", "omega"] as const) {
    const make = () => new LayerwiseQuantizer({ bits: 4, bucketSize: 512, adapt: false });
    const { stats } = await gatherMean(grads, grads.map(make), 6, coder);
    // Every rank's messages again, from the same streams: one per segment of the plan, with
    // the layer's shape when the segment is the whole layer. A frame carries a group of
    // segments: one as is, several after a table of their lengths, each padded to 8 bytes.
    const groups = groupSegments(planSegments(MODEL_N, size, MODEL_LAYERS, 700), 700).flat();
    assert.ok(groups.some((g) => g.members.length > 1), "the plan fuses small segments");
    const pad8 = (b: number) => Math.ceil(b / 8) * 8;
    let total = 0;
    for (let r = 0; r < size; r++) {
      const q = make(), rng = new Rng(6 + r);
      for (const g of groups) {
        const lengths = g.members.map((seg) => {
          const l = MODEL_LAYERS[seg.layer];
          const layer = seg.count === l.length ? l : { name: l.name, type: defaultLayerType(l) };
          const view = grads[r].subarray(seg.offset, seg.offset + seg.count);
          return quantizeEncode(q, view, rng, { layer, coder }).length;
        });
        total += lengths.length === 1
          ? lengths[0]
          : pad8(4 * lengths.length) + lengths.reduce((s, b) => s + pad8(b), 0);
      }
    }
    assert.equal(stats.reduce((n, s) => n + s.bytesSent, 0), (size - 1) * total, coder);
    assert.equal(stats.reduce((n, s) => n + s.bytesReceived, 0), (size - 1) * total, coder);
  }
});

Deno.test("allgather mode of an unbiased layer-wise quantizer converges to the exact mean; ε_Q is kept per layer type", async () => {
  // E‖mean_S − exact‖² = Σ_k E‖Q(g_k) − g_k‖² / (K² S): compare with 2× that bound (a sum over
  // 2,550 coordinates, so it concentrates), and a biased scheme's error would not shrink.
  const K = 3, S = 150;
  const grads = modelGrads(K, 3);
  const exact = new Float64Array(MODEL_N);
  for (const g of grads) for (let i = 0; i < MODEL_N; i++) exact[i] += g[i] / K;
  const probe = new LayerwiseQuantizer({ bits: 3, bucketSize: 256, adapt: false });
  let variance = 0;
  for (const g of grads) {
    for (const seg of planSegments(MODEL_N, K, MODEL_LAYERS, 700).flat()) {
      const l = MODEL_LAYERS[seg.layer];
      const layer = seg.count === l.length ? l : { name: l.name, type: defaultLayerType(l) };
      variance += probe.expectedVariance(g.subarray(seg.offset, seg.offset + seg.count), layer);
    }
  }
  variance /= K * K;
  const acc = new Float64Array(MODEL_N);
  let quantizers: LayerwiseQuantizer[] = [];
  for (let s = 0; s < S; s++) {
    quantizers = grads.map(() =>
      new LayerwiseQuantizer({ bits: 3, bucketSize: 256, adapt: false })
    );
    const { bufs } = await gatherMean(grads, quantizers, 1000 * s);
    for (let i = 0; i < MODEL_N; i++) acc[i] += bufs[0][i] / S;
  }
  let sq = 0;
  for (let i = 0; i < MODEL_N; i++) sq += (acc[i] - exact[i]) ** 2;
  assert.ok(variance > 0);
  assert.ok(sq <= (2 * variance) / S, `‖mean over ${S} seeds − exact‖² = ${sq}`);
  assert.ok(sq >= (0.25 * variance) / S, `suspiciously small error ${sq}`);
  for (const q of quantizers) {
    const snap = q.eps.snapshot();
    assert.deepEqual(Object.keys(snap).sort(), ["bias", "dense"]);
    for (const e of Object.values(snap)) assert.ok(e.eps > 0 && e.eps < 10, `ε_Q ${e.eps}`);
  }
});

Deno.test("allgather mode with float32 equals the rank-order float32 sum exactly", async () => {
  const size = 3, n = 500;
  const bufs = inputs(size, n, 5);
  const want = new Float32Array(n);
  for (const b of bufs) for (let i = 0; i < n; i++) want[i] += b[i];
  const ctxs = ring(size);
  await run(ctxs, bufs, (r) => ({
    compression: { mode: "allgather", rng: new Rng(r), quantizerFor: () => null },
  }));
  for (const b of bufs) assert.deepEqual(b, want);
  ctxs.forEach((c) => c.close());
});

Deno.test("mismatched lengths fail on every rank, naming the rank", async () => {
  const size = 4;
  const bufs = [100, 100, 101, 100].map((n) => new Float32Array(n).fill(1));
  const ctxs = ring(size, 5_000);
  const res = await run(ctxs, bufs, () => ({}));
  for (const [r, x] of res.entries()) {
    assert.equal(x.status, "rejected", `rank ${r} must fail`);
    const e = (x as PromiseRejectedResult).reason;
    assert.ok(e instanceof CollectiveError, `rank ${r}: ${e}`);
    assert.equal(e.code, "mismatch", `rank ${r}: ${e.message}`);
    assert.ok(e.culprit === 2 || e.culprit === 1, `rank ${r} blames ${e.culprit}`);
  }
  // The rank right of the odd one detects it from the frame header.
  const direct = (res[3] as PromiseRejectedResult).reason;
  assert.ok(direct instanceof MismatchError);
  assert.match(direct.message, /rank 2 sent buffer length 101 where rank 3 expects 100/);
  ctxs.forEach((c) => c.close());
});

Deno.test("mismatched quantizers fail instead of corrupting", async () => {
  const size = 3;
  const bufs = inputs(size, 1000, 1);
  const ctxs = ring(size, 5_000);
  const res = await run(ctxs, bufs, (r) => ({
    compression: {
      mode: "ring",
      rng: new Rng(r),
      quantizerFor: () => new QsgdQuantizer({ bits: r === 1 ? 8 : 4 }),
    },
  }));
  assert.ok(res.every((x) => x.status === "rejected"));
  const e = (res[2] as PromiseRejectedResult).reason;
  assert.ok(
    e instanceof MismatchError && /bits 8 where rank 2 expects 4/.test(e.message),
    e.message,
  );
  ctxs.forEach((c) => c.close());
});

Deno.test("a rank that never joins makes the others time out within the deadline", async () => {
  const size = 4;
  const ctxs = ring(size, 300);
  const bufs = inputs(size, 100, 2);
  const t0 = performance.now();
  const res = await Promise.allSettled(
    ctxs.filter((c) => c.rank !== 1).map((c) => allreduce(c, bufs[c.rank])),
  );
  const ms = performance.now() - t0;
  assert.ok(ms < 2_000, `took ${ms} ms`);
  for (const x of res) {
    assert.equal(x.status, "rejected");
    assert.ok((x as PromiseRejectedResult).reason instanceof CollectiveError);
  }
  // Rank 2 waits on rank 1 directly.
  const e2 = (res[1] as PromiseRejectedResult).reason;
  assert.ok(
    e2 instanceof CollectiveTimeoutError || e2 instanceof RemoteFailureError,
    String(e2),
  );
  assert.equal(e2.culprit, 1);
  ctxs.forEach((c) => c.close());
});

Deno.test("a peer that closes mid-operation fails every other rank, naming it", async () => {
  const size = 5;
  const ctxs = ring(size, 10_000);
  const bufs = inputs(size, 200_000, 3);
  const ops = ctxs.map((c, r) =>
    r === 3 ? null : allreduce(c, bufs[r], { maxSegmentElements: 1000 })
  );
  await new Promise((r) => setTimeout(r, 5));
  ctxs[3].close("killed");
  const res = await Promise.allSettled(ops.filter((p) => p !== null));
  for (const x of res) {
    assert.equal(x.status, "rejected");
    const e = (x as PromiseRejectedResult).reason;
    assert.ok(e instanceof CollectiveError, String(e));
    assert.equal(e.culprit, 3, e.message);
  }
  const right = (res[3] as PromiseRejectedResult).reason; // rank 4, right of rank 3
  assert.ok(right instanceof LinkError, right.message);
  // The ring stays failed: the next operation rejects at once.
  await assert.rejects(allreduce(ctxs[0], bufs[0]), CollectiveError);
  ctxs.forEach((c) => c.close());
});

Deno.test("frames from an older epoch are dropped", async () => {
  const links = memoryRing(2);
  // A stale chunk from epoch 0 is already queued on rank 1's left link.
  await links[0].right!.send({
    type: "chunk",
    ringId: 0n,
    epoch: 0,
    opId: 0,
    phase: "reduceScatter",
    hop: 0,
    segment: 0,
    totalLength: 2,
    offset: 0,
    count: 1,
    scheme: "fp32",
    bits: 32,
    payload: new Uint8Array(4),
  });
  const dropped: string[] = [];
  const ctxs = links.map((l, rank) =>
    new RingContext({ rank, size: 2, epoch: 1, log: (s) => dropped.push(s), ...l })
  );
  const bufs = [new Float32Array([1, 2]), new Float32Array([10, 20])];
  await run(ctxs, bufs, () => ({}));
  assert.deepEqual(Array.from(bufs[1]), [11, 22]);
  assert.ok(dropped.some((s) => /old epoch 0/.test(s)), dropped.join("\n"));
  ctxs.forEach((c) => c.close());
});

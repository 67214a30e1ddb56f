import assert from "node:assert/strict";
import {
  addOwnCodes,
  bucketMaxAbs,
  dequantizeGrid,
  fineGrid,
  gridVariance,
  laneWidth,
  packSums,
  quantizeToGrid,
  uniformGrid,
  unpackDequantize,
  unpackSums,
} from "../../../runtime/quant/shared_grid.ts";
import { LayerwiseQuantizer } from "../../../runtime/quant/layerwise.ts";
import { Rng } from "../../../runtime/rng.ts";

const gaussian = (n: number, seed: number) => {
  const r = new Rng(seed);
  return new Float32Array(n).map(() => r.normal());
};

Deno.test("uniform grids: magnitudes 0..2^(b−1)−1, lanes widen with the number of ranks", () => {
  const g = uniformGrid(4);
  assert.deepEqual([...g.values], [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(g.top, 7);
  assert.deepEqual([1, 2, 3, 4, 8].map((k) => laneWidth(g, k)), [4, 5, 6, 6, 7]);
  assert.equal(laneWidth(uniformGrid(8), 1), 8);
  assert.throws(() => uniformGrid(1), /2 to 16 bits, got 1/);
  assert.throws(() => uniformGrid(2.5), /2 to 16 bits/);
});

Deno.test("fine grids snap non-uniform levels to integers and merge those that collide", () => {
  const levels = Float32Array.of(0, 0.001, 0.002, 0.1, 0.4, 1);
  const g = fineGrid(levels, 7); // top 127
  assert.deepEqual([...g.values], [0, 13, 51, 127]);
  assert.equal(g.top, 127);
  assert.equal(g.below[12], 0);
  assert.equal(g.below[13], 1);
  assert.equal(g.below[126], 2);
  assert.throws(() => fineGrid(Float32Array.of(0, 0.5, 0.4, 1), 7), /levels must ascend/);
  assert.throws(() => fineGrid(Float32Array.of(0.1, 1), 7), /start at 0 and end at 1/);
});

Deno.test("quantizeToGrid is unbiased, and its variance is gridVariance's (uniform and fine grids)", () => {
  const n = 512, bucket = 128, trials = 4000;
  const x = gaussian(n, 1);
  const scales = bucketMaxAbs(x, bucket, new Float32Array(n / bucket));
  for (
    const grid of [uniformGrid(4), fineGrid(Float32Array.of(0, 0.05, 0.15, 0.35, 0.6, 1), 8)]
  ) {
    const codes = new Int32Array(n), out = new Float32Array(n);
    const mean = new Float64Array(n);
    let sq = 0;
    for (let t = 0; t < trials; t++) {
      quantizeToGrid(x, scales, bucket, grid, 7 * trials + t, codes, false);
      dequantizeGrid(codes, scales, bucket, grid, 1, out);
      for (let i = 0; i < n; i++) {
        mean[i] += out[i] / trials;
        sq += (out[i] - x[i]) ** 2 / trials;
      }
    }
    // Per coordinate the error is at most one grid step s·Δg/G: the mean of `trials` draws is
    // within 5 standard errors of x.
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const step = scales[Math.floor(i / bucket)] * 0.6; // ≥ the widest gap of both grids
      worst = Math.max(worst, Math.abs(mean[i] - x[i]) / (step / 2 / Math.sqrt(trials)));
    }
    assert.ok(worst < 5, `bias: ${worst.toFixed(2)} standard errors`);
    const exact = gridVariance(x, scales, bucket, grid);
    assert.ok(Math.abs(sq / exact - 1) < 0.05, `variance ${sq} vs ${exact}`);
  }
});

Deno.test("codes of several ranks add as integers; the decoded sum is the exact sum plus one rounding per rank", () => {
  const n = 1000, bucket = 256, ranks = 3, grid = uniformGrid(4);
  const xs = Array.from({ length: ranks }, (_, k) => gaussian(n, 10 + k));
  const buckets = Math.ceil(n / bucket);
  const scales = new Float32Array(buckets), mine = new Float32Array(buckets);
  for (const x of xs) {
    bucketMaxAbs(x, bucket, mine);
    for (let b = 0; b < buckets; b++) scales[b] = Math.max(scales[b], mine[b]);
  }
  const sums = new Int32Array(n);
  xs.forEach((x, k) => quantizeToGrid(x, scales, bucket, grid, k, sums, k > 0));
  const out = dequantizeGrid(sums, scales, bucket, grid, ranks, new Float32Array(n));
  for (let i = 0; i < n; i++) {
    const exact = (xs[0][i] + xs[1][i] + xs[2][i]) / ranks;
    const step = scales[Math.floor(i / bucket)] / grid.top;
    assert.ok(Math.abs(out[i] - exact) <= step + 1e-6, `coordinate ${i}`);
    assert.ok(Math.abs(sums[i]) <= ranks * grid.top);
  }
});

Deno.test("packSums/unpackSums round-trip every lane width, odd counts, and add", () => {
  const rng = new Rng(5);
  for (const bits of [2, 4, 8, 12]) {
    const grid = uniformGrid(bits);
    for (const ranks of [1, 2, 3, 7]) {
      for (const count of [1, 7, 333]) {
        const bias = ranks * grid.top;
        const sums = Int32Array.from(
          { length: count },
          (_, i) => i === 0 ? -bias : i === 1 ? bias : (rng.nextU32() % (2 * bias + 1)) - bias,
        );
        const bytes = packSums(sums, count, grid, ranks, new Uint8Array(count * 4 + 8));
        assert.equal(bytes.length, Math.ceil((count * laneWidth(grid, ranks)) / 8));
        const back = new Int32Array(count);
        unpackSums(bytes, count, grid, ranks, back, false);
        assert.deepEqual(back, sums, `bits ${bits}, ranks ${ranks}, count ${count}`);
        unpackSums(bytes, count, grid, ranks, back, true);
        assert.deepEqual(back, sums.map((v) => 2 * v));
      }
    }
  }
});

Deno.test("hostile lanes are rejected naming what is wrong; bad input is refused", () => {
  const grid = uniformGrid(4); // 2 ranks: lanes of 5 bits, values 0..28
  const into = new Int32Array(8);
  assert.throws(
    () => unpackSums(new Uint8Array(4), 8, grid, 2, into, false),
    /4 bytes for 8 sums of 5 bits \(5 expected\)/,
  );
  assert.throws(
    () => unpackSums(new Uint8Array(5).fill(0xff), 8, grid, 2, into, false),
    /lane 0 holds 17, outside ±14/,
  );
  assert.throws(
    () => packSums(Int32Array.of(15), 1, grid, 2, new Uint8Array(1)),
    /sum 0 \(15\) is outside ±14/,
  );
  const x = Float32Array.of(1, NaN, 2);
  assert.throws(() => bucketMaxAbs(x, 4, new Float32Array(1)), /value 1 is NaN/);
  const inf = gaussian(1000, 3);
  inf[517] = -Infinity;
  assert.throws(() => bucketMaxAbs(inf, 64, new Float32Array(16)), /value 517 is -Infinity/);
  const maxima = bucketMaxAbs(inf.subarray(0, 512), 64, new Float32Array(8));
  assert.equal(maxima[3], Math.max(...inf.subarray(192, 256).map(Math.abs)));
  assert.throws(
    () =>
      quantizeToGrid(
        Float32Array.of(3),
        Float32Array.of(2),
        1,
        grid,
        1,
        new Int32Array(1),
        false,
      ),
    /value 0 \(3\) exceeds its bucket's scale 2/,
  );
});

Deno.test("variance on Gaussian data: the shared grid at 4 bits is below the layer-wise all-gather's", () => {
  // What ε_Q the compressed-domain all-reduce adds against the all-gather (each rank's vector
  // quantized once with its own layer-wise quantizer) on the same data, 4 ranks.
  const n = 1 << 14, ranks = 4, bucket = 512;
  const xs = Array.from({ length: ranks }, (_, k) => gaussian(n, 20 + k));
  const scales = new Float32Array(n / bucket), mine = new Float32Array(n / bucket);
  for (const x of xs) {
    bucketMaxAbs(x, bucket, mine);
    for (let b = 0; b < scales.length; b++) scales[b] = Math.max(scales[b], mine[b]);
  }
  const layer = { name: "dense/kernel", shape: [128, 128] };
  const q = new LayerwiseQuantizer({ bits: 4 });
  let shared = 0, gathered = 0, sq = 0;
  for (const x of xs) {
    shared += gridVariance(x, scales, bucket, uniformGrid(4));
    gathered += q.expectedVariance(x, layer);
    sq += x.reduce((s, v) => s + v * v, 0);
  }
  assert.ok(shared / sq < 0.06, `shared-grid ε_Q ${shared / sq}`);
  assert.ok(shared <= gathered * 1.1, `shared ${shared} vs all-gather ${gathered}`);
});

Deno.test("addOwnCodes and unpackDequantize do in one pass what the separate steps do", () => {
  // Buckets of 4k run the WebAssembly kernel, others the TypeScript loop; 150,001 coordinates
  // stream through the kernel in several chunks and end on a partial SIMD group.
  const cases = [
    { n: 1001, bucket: 100, bits: 4, ranks: 2 }, // kernel
    { n: 1001, bucket: 102, bits: 4, ranks: 2 }, // TypeScript
    { n: 150_001, bucket: 512, bits: 4, ranks: 4 },
    { n: 150_001, bucket: 500, bits: 3, ranks: 3 }, // chunks of lcm(500, 8) multiples
    { n: 77, bucket: 7, bits: 8, ranks: 3 },
    { n: 5003, bucket: 64, bits: 8, ranks: 3 }, // lanes of 8 bits, then wider
    { n: 5003, bucket: 64, bits: 5, ranks: 9 }, // lanes of 5 … 9 bits
    { n: 4099, bucket: 4, bits: 2, ranks: 5 },
  ];
  for (const { n, bucket, bits, ranks } of cases) {
    const what = `n ${n}, bucket ${bucket}, ${bits} bits, ${ranks} ranks`;
    const grid = uniformGrid(bits), nb = Math.ceil(n / bucket);
    const xs = Array.from({ length: ranks }, (_, k) => gaussian(n, 31 + k));
    const scales = new Float32Array(nb), mine = new Float32Array(nb);
    for (const x of xs) {
      bucketMaxAbs(x, bucket, mine);
      for (let b = 0; b < nb; b++) scales[b] = Math.max(scales[b], mine[b]);
    }
    const sums = new Int32Array(n);
    let lanes: Uint8Array | null = null;
    for (let k = 0; k < ranks; k++) {
      const last = k === ranks - 1;
      const decoded = last ? new Float32Array(n) : null;
      const bytes = new Uint8Array(Math.ceil((n * laneWidth(grid, k + 1)) / 8));
      lanes = addOwnCodes(lanes, k, xs[k], scales, bucket, grid, 5 + k, bytes, decoded, ranks)!;
      quantizeToGrid(xs[k], scales, bucket, grid, 5 + k, sums, k > 0);
      assert.deepEqual(lanes, packSums(sums, n, grid, k + 1, new Uint8Array(bytes.length)), what);
      if (!last) continue;
      const want = dequantizeGrid(sums, scales, bucket, grid, ranks, new Float32Array(n));
      assert.deepEqual(decoded, want, what);
      const gathered = new Float32Array(n);
      unpackDequantize(lanes, ranks, grid, scales, bucket, ranks, gathered);
      assert.deepEqual(gathered, want, `${what}: every rank decodes the same bytes the same way`);
      // The owner may decode into its own values.
      const own = xs[k].slice(), mineCodes = quantizeOne(xs[k], scales, bucket, grid, 5 + k);
      const prior = packSums(
        sums.map((v, i) => v - mineCodes[i]),
        n,
        grid,
        k,
        new Uint8Array(Math.ceil((n * laneWidth(grid, k)) / 8)),
      );
      addOwnCodes(k ? prior : null, k, own, scales, bucket, grid, 5 + k, null, own, ranks);
      assert.deepEqual(own, want, `${what}: decoded in place`);
    }
  }
  // A lane beyond ±G from the first hop, or a value beyond its scale, is refused on both paths.
  for (const bucket of [100, 102]) {
    const n = 1001, grid = uniformGrid(4), x = gaussian(n, 31);
    const scales = bucketMaxAbs(x, bucket, new Float32Array(11));
    const first = addOwnCodes(null, 0, x, scales, bucket, grid, 5, new Uint8Array(n), null, 1)!;
    const bad = first.slice();
    bad[300] = 0xff; // lanes 600 and 601
    assert.throws(
      () => addOwnCodes(bad, 1, x, scales, bucket, grid, 1, new Uint8Array(n), null, 1),
      /lane 600 holds 8, outside ±7/,
    );
    assert.throws(
      () => unpackDequantize(bad, 1, grid, scales, bucket, 1, new Float32Array(n)),
      /lane 600 holds 8, outside ±7/,
    );
    const late = first.slice();
    late[301] = 0xf0; // lane 603: the last of a group of four
    assert.throws(
      () => unpackDequantize(late, 1, grid, scales, bucket, 1, new Float32Array(n)),
      /lane 603 holds 8, outside ±7/,
    );
    const big = x.slice();
    big[707] = 2 * scales[Math.floor(707 / bucket)];
    assert.throws(
      () => addOwnCodes(null, 0, big, scales, bucket, grid, 5, new Uint8Array(n), null, 1),
      new RegExp(`value 707 \\(${big[707]}\\) exceeds its bucket's scale`),
    );
  }
});

/** One rank's codes alone. */
function quantizeOne(
  x: Float32Array,
  scales: Float32Array,
  bucket: number,
  grid: ReturnType<typeof uniformGrid>,
  seed: number,
): Int32Array {
  const codes = new Int32Array(x.length);
  quantizeToGrid(x, scales, bucket, grid, seed, codes, false);
  return codes;
}

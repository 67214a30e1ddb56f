import assert from "node:assert/strict";
import {
  gaussianHistogram,
  gaussianLevels,
  histogramVariance,
  isAdaptStep,
  LevelHistogram,
  modelFloorWeight,
  solveLevels,
} from "../../../runtime/quant/levels.ts";
import { uniformLevels } from "../../../runtime/quant/qsgd.ts";
import { Rng } from "../../../runtime/rng.ts";

Deno.test("histogramVariance() of uniform levels under a uniform density is h²/6", () => {
  const counts = new Float64Array(1000).fill(1);
  for (const s of [1, 3, 4, 7]) {
    const levels = Float64Array.from({ length: s + 1 }, (_, i) => i / s);
    const h = 1 / s;
    assert.ok(Math.abs(histogramVariance(counts, levels) - h * h / 6) < 1e-9);
  }
});

Deno.test("solveLevels() returns uniform levels for a uniform density", () => {
  const counts = new Float64Array(4096).fill(3);
  const l = solveLevels(counts, 8);
  for (let i = 0; i < 8; i++) assert.ok(Math.abs(l[i] - i / 7) < 2e-3, `level ${i}: ${l[i]}`);
});

Deno.test("solveLevels() beats every start and keeps 0 and 1", () => {
  const rng = new Rng(4);
  const h = new LevelHistogram(2048);
  for (let i = 0; i < 200000; i++) h.add(Math.min(1, Math.abs(rng.normal()) * 0.05));
  for (const num of [2, 4, 8, 16, 128]) {
    const l = solveLevels(h.counts, num);
    assert.equal(l.length, num);
    assert.equal(l[0], 0);
    assert.equal(l[num - 1], 1);
    for (let i = 1; i < num; i++) assert.ok(l[i] > l[i - 1]);
    const v = histogramVariance(h.counts, l);
    const s = num - 1;
    const uni = Float64Array.from({ length: num }, (_, i) => i / s);
    const exp = Float64Array.from({ length: num }, (_, i) => (i === 0 ? 0 : 0.5 ** (s - i)));
    if (num > 2) {
      assert.ok(v < histogramVariance(h.counts, uni), `${num} levels vs uniform`);
      assert.ok(v <= histogramVariance(h.counts, exp) * (1 + 1e-9), `${num} levels vs exp`);
    }
    // Coordinate-wise optimality: nudging any single level does not help.
    for (let j = 1; j < s; j++) {
      for (const d of [-1e-3, 1e-3]) {
        const m = Float64Array.from(l);
        m[j] = Math.min(m[j + 1] - 1e-7, Math.max(m[j - 1] + 1e-7, m[j] + d));
        assert.ok(histogramVariance(h.counts, m) >= v * (1 - 1e-6), `level ${j} of ${num}`);
      }
    }
  }
});

Deno.test("solveLevels() on an empty histogram gives uniform levels", () => {
  const l = solveLevels(new Float64Array(100), 5);
  assert.deepEqual(Array.from(l), [0, 0.25, 0.5, 0.75, 1]);
});

Deno.test("isAdaptStep() follows warm-up milestones, then every N steps", () => {
  const s = { warmup: [0, 200, 1000, 5000], every: 10000 };
  const hits = [];
  for (let t = 0; t <= 30000; t++) if (isAdaptStep(s, t)) hits.push(t);
  assert.deepEqual(hits, [0, 200, 1000, 5000, 15000, 25000]);
  assert.equal(isAdaptStep({ warmup: [5], every: 0 }, 10), false);
});

Deno.test("gaussianHistogram() has mass 1 and E[u²] = 1/d under L2", () => {
  for (const d of [2, 3, 16, 1024, 65536]) {
    const h = gaussianHistogram(d, 2);
    let mass = 0, m2 = 0;
    h.forEach((c, b) => {
      mass += c;
      m2 += c * ((b + 0.5) / h.length) ** 2;
    });
    assert.ok(Math.abs(mass - 1) < 1e-12, `d ${d}: mass ${mass}`);
    // The bin midpoints cost (1/bins)²/12 per coordinate: negligible here.
    assert.ok(Math.abs(m2 * d - 1) < 2e-3, `d ${d}: E[u²]·d = ${m2 * d}`);
  }
  // Under L∞ one coordinate per bucket is the norm itself (u = 1).
  const inf = gaussianHistogram(256, Infinity);
  assert.ok(Math.abs(inf[inf.length - 1] - 1 / 256) < 1e-9, `${inf[inf.length - 1]}`);
  assert.deepEqual(gaussianHistogram(1, 2, 8), Float64Array.of(0, 0, 0, 0, 0, 0, 0, 1));
});

Deno.test("gaussianLevels() are valid at every width and deterministic", () => {
  for (const [d, q] of [[1024, 2], [1, 2], [7, 2], [256, Infinity], [100, 3]]) {
    for (const bits of [2, 3, 4, 6, 8, 9, 10, 16]) {
      const l = gaussianLevels(bits, d, q);
      assert.equal(l.length, 1 << (bits - 1));
      assert.equal(l[0], 0);
      assert.equal(l[l.length - 1], 1);
      for (let i = 1; i < l.length; i++) assert.ok(l[i] > l[i - 1], `${bits}/${d}/${q} at ${i}`);
    }
  }
  const a = gaussianLevels(4);
  a[1] = 0.5; // a copy: the cache is untouched
  assert.deepEqual(gaussianLevels(4), gaussianLevels(4, 1024, 2));
  assert.notEqual(gaussianLevels(4)[1], 0.5);
});

Deno.test("gaussianLevels() minimise the model variance far below uniform levels", () => {
  const g = gaussianHistogram(1024, 2);
  // ε_Q = d · E[Var(u)] under L2; the floor costs a little at few bits.
  const want: Record<number, number> = { 3: 0.33, 4: 0.08, 5: 0.02, 6: 0.011, 8: 0.004 };
  for (const [bits, max] of Object.entries(want).map(([b, m]) => [Number(b), m])) {
    const eps = 1024 * histogramVariance(g, gaussianLevels(bits));
    const uni = 1024 * histogramVariance(g, uniformLevels(bits));
    assert.ok(eps <= max, `${bits} bits: ε_Q ${eps}`);
    assert.ok(eps < uni / 2.5, `${bits} bits: ε_Q ${eps} vs uniform ${uni}`);
  }
  assert.equal(modelFloorWeight(4), 0.002);
  assert.equal(modelFloorWeight(16), 0.5);
});

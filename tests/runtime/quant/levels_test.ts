import assert from "node:assert/strict";
import {
  histogramVariance,
  isAdaptStep,
  LevelHistogram,
  solveLevels,
} from "../../../runtime/quant/levels.ts";
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

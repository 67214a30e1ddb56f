import assert from "node:assert/strict";
import { UnknownNameError } from "../../../runtime/errors.ts";
import { Rng } from "../../../runtime/rng.ts";
import { mixture, sampleMixture, toSigned } from "../../../models/gan/datasets.ts";
import { labelEntropy, mixtureQuality } from "../../../models/gan/quality.ts";

Deno.test("mixture() places 8 modes on the radius-2 ring and 25 on the centred 5×5 grid", () => {
  const m8 = mixture("gaussians8");
  assert.equal(m8.sigma, 0.02);
  for (let k = 0; k < 8; k++) {
    assert.ok(Math.abs(Math.hypot(m8.centers[2 * k], m8.centers[2 * k + 1]) - 2) < 1e-15);
    assert.ok(
      Math.abs(
        Math.atan2(m8.centers[2 * k + 1], m8.centers[2 * k]) -
          ((k * Math.PI) / 4 + (k > 4 ? -2 * Math.PI : 0)),
      ) < 1e-12,
    );
  }
  const m25 = mixture("gaussians25");
  assert.equal(m25.sigma, 0.05);
  const xs = new Set<number>(), ys = new Set<number>();
  for (let k = 0; k < 25; k++) {
    xs.add(m25.centers[2 * k]);
    ys.add(m25.centers[2 * k + 1]);
  }
  assert.deepEqual([...xs].sort((a, b) => a - b), [-4, -2, 0, 2, 4]);
  assert.deepEqual([...ys].sort((a, b) => a - b), [-4, -2, 0, 2, 4]);
  assert.throws(() => mixture("gaussians9"), UnknownNameError);
});

Deno.test("mixtureQuality(): samples exactly at every mode cover all, 100% high quality", () => {
  for (const name of ["gaussians8", "gaussians25"]) {
    const m = mixture(name);
    const pts = new Float32Array(m.modes * 10 * 2);
    for (let i = 0; i < m.modes * 10; i++) {
      pts[2 * i] = m.centers[2 * (i % m.modes)];
      pts[2 * i + 1] = m.centers[2 * (i % m.modes) + 1];
    }
    const q = mixtureQuality(pts, m);
    assert.equal(q.modesCovered, m.modes);
    assert.equal(q.highQuality, 1);
    assert.deepEqual(Array.from(q.counts), new Array(m.modes).fill(10));
  }
});

Deno.test("mixtureQuality(): all samples at one mode cover exactly one", () => {
  const m = mixture("gaussians8");
  const pts = new Float32Array(200);
  for (let i = 0; i < 100; i++) {
    pts[2 * i] = m.centers[6];
    pts[2 * i + 1] = m.centers[7];
  }
  const q = mixtureQuality(pts, m);
  assert.equal(q.modesCovered, 1);
  assert.equal(q.counts[3], 100);
  assert.equal(q.highQuality, 1);
});

Deno.test("mixtureQuality(): the 3σ boundary and the covering share", () => {
  const m = mixture("gaussians8"); // σ = 0.02: 3σ = 0.06
  const inside = mixtureQuality(new Float32Array([2.0599, 0]), m);
  const outside = mixtureQuality(new Float32Array([2.0601, 0]), m);
  assert.equal(inside.highQuality, 1);
  assert.equal(outside.highQuality, 0);
  assert.equal(outside.modesCovered, 0);
  // 100 samples: 90 at mode 0, 2 at mode 1 (2% < 0.2/8 = 2.5%), 3 at mode 2 (3%), 5 off-mode.
  const pts: number[] = [];
  const at = (k: number, n: number) => {
    for (let i = 0; i < n; i++) pts.push(m.centers[2 * k], m.centers[2 * k + 1]);
  };
  at(0, 90);
  at(1, 2);
  at(2, 3);
  for (let i = 0; i < 5; i++) pts.push(0, 0);
  const q = mixtureQuality(Float32Array.from(pts), m);
  assert.equal(q.modesCovered, 2);
  assert.equal(q.highQuality, 0.95);
  assert.equal(mixtureQuality(Float32Array.from(pts), m, { minShare: 0.02 }).modesCovered, 3);
});

Deno.test("mixtureQuality() of real draws: every mode, high-quality share 1 − e^(−9/2)", () => {
  // In 2-D, |x − μ| ≤ 3σ has probability 1 − exp(−9/2) ≈ 0.98889 (Rayleigh).
  const want = 1 - Math.exp(-4.5);
  for (const name of ["gaussians8", "gaussians25"]) {
    const m = mixture(name);
    const n = 20000;
    const q = mixtureQuality(sampleMixture(m, n, new Rng(5)), m);
    assert.equal(q.modesCovered, m.modes);
    const sd = Math.sqrt(want * (1 - want) / n);
    assert.ok(Math.abs(q.highQuality - want) < 5 * sd, `${name}: ${q.highQuality}`);
  }
});

Deno.test("sampleMixture() draws modes uniformly with the stated σ", () => {
  const m = mixture("gaussians8");
  const n = 16000;
  const pts = sampleMixture(m, n, new Rng(2));
  const counts = new Array(8).fill(0);
  let sq = 0;
  for (let i = 0; i < n; i++) {
    let best = 0, bd = Infinity;
    for (let k = 0; k < 8; k++) {
      const d = (pts[2 * i] - m.centers[2 * k]) ** 2 + (pts[2 * i + 1] - m.centers[2 * k + 1]) ** 2;
      if (d < bd) [bd, best] = [d, k];
    }
    counts[best]++;
    sq += bd;
  }
  for (const c of counts) assert.ok(Math.abs(c - n / 8) < 5 * Math.sqrt(n / 8), `counts ${counts}`);
  const sigma = Math.sqrt(sq / (2 * n));
  assert.ok(Math.abs(sigma - 0.02) < 0.0005, `σ ≈ ${sigma}`);
  assert.throws(
    () => sampleMixture(m, 4, new Rng(1), new Float32Array(7)),
    /holds 7 values, 8 needed/,
  );
});

Deno.test("labelEntropy(): log 10 for balanced labels, 0 for one, log 2 for two", () => {
  const oneHot = (labels: number[]) => {
    const p = new Float32Array(labels.length * 10);
    labels.forEach((l, i) => (p[i * 10 + l] = 1));
    return p;
  };
  assert.ok(
    Math.abs(labelEntropy(oneHot([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), 10) - Math.log(10)) < 1e-12,
  );
  assert.equal(labelEntropy(oneHot([7, 7, 7, 7]), 10), 0);
  assert.ok(Math.abs(labelEntropy(oneHot([3, 5, 3, 5]), 10) - Math.log(2)) < 1e-12);
  // Uncertain rows still give a balanced marginal.
  assert.ok(Math.abs(labelEntropy(new Float32Array(30).fill(0.1), 10) - Math.log(10)) < 1e-6);
  assert.throws(() => labelEntropy(new Float32Array(15), 10), /n × 10 values.*got 15/);
});

Deno.test("toSigned() maps [0, 1] pixels to [−1, 1]", () => {
  assert.deepEqual(Array.from(toSigned(Float32Array.from([0, 0.25, 1]))), [-1, -0.5, 1]);
});

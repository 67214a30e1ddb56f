import { rankSeed, Rng } from "../../../runtime/rng.ts";
import assert from "node:assert/strict";
import { initBackend } from "../../../models/tfjs/backend/backend.ts";
import { UnknownNameError } from "../../../runtime/errors.ts";
import { Qoda } from "../../../runtime/optim/qoda.ts";
import { createWganProblem } from "../../../models/gan/wgan.ts";
import { mixture } from "../../../models/gan/datasets.ts";

const { tf } = await initBackend("wasm");

Deno.test("createWganProblem() lays out the generator, then the critic, covering the vector", async () => {
  const p = await createWganProblem(tf, { dataset: "gaussians8" });
  assert.equal(p.name, "wgan-gaussians8-mlp");
  assert.equal(p.lowerIsBetter, false);
  let at = 0;
  for (const l of p.layers) {
    assert.equal(l.offset, at);
    assert.equal(l.length, l.shape!.reduce((a, b) => a * b, 1));
    at += l.length;
  }
  assert.equal(at, p.dim);
  const names = p.layers.map((l) => l.name);
  assert.deepEqual(names.slice(0, 2), ["gen/dense1/kernel", "gen/dense1/bias"]);
  assert.equal(p.layers.findIndex((l) => l.name.startsWith("critic/")), 6);
  assert.equal(p.layers[6].offset, p.genDim);
  assert.ok(names.every((n, i) => i < 6 ? n.startsWith("gen/") : n.startsWith("critic/")));
  assert.deepEqual([...new Set(p.layers.map((l) => l.type))].sort(), ["bias", "dense"]);
  assert.deepEqual(p.layers[0].shape, [2, 64]);
  assert.deepEqual(p.layers[10].shape, [64, 1]);
  // Same seed, same start; another seed, another start.
  assert.deepEqual(p.initial(), p.initial());
  const q = await createWganProblem(tf, { dataset: "gaussians8", seed: 1 });
  assert.notDeepEqual(q.initial(), p.initial());
  p.dispose();
  q.dispose();
});

Deno.test("the mlp pair takes any depth: one kernel and bias per hidden layer, the critic's widths reversed", async () => {
  const p = await createWganProblem(tf, { dataset: "gaussians8", widths: [16, 24, 32] });
  assert.deepEqual(
    p.layers.filter((l) => l.type === "dense").map((l) => `${l.name} ${l.shape!.join("x")}`),
    [
      "gen/dense1/kernel 2x16",
      "gen/dense2/kernel 16x24",
      "gen/dense3/kernel 24x32",
      "gen/dense4/kernel 32x2",
      "critic/dense1/kernel 2x32",
      "critic/dense2/kernel 32x24",
      "critic/dense3/kernel 24x16",
      "critic/dense4/kernel 16x1",
    ],
  );
  assert.deepEqual(p.config.widths, [16, 24, 32]);
  // One operator sample has the vector's length and is finite.
  const w = p.worker(0, 1, new Rng(rankSeed(0, 0)).fork());
  const v = new Float32Array(p.dim);
  w.operator(p.initial(), v);
  assert.ok(v.every(Number.isFinite));
  // Every layer, the deepest included, gets a gradient.
  for (const l of p.layers.filter((l) => l.type === "dense")) {
    assert.ok(v.subarray(l.offset, l.offset + l.length).some((e) => e !== 0), l.name);
  }
  p.dispose();
  await assert.rejects(
    () => createWganProblem(tf, { dataset: "gaussians8", widths: [] }),
    /mlp needs 1 to 8 hidden widths, got \[\]/,
  );
});

Deno.test("ProblemWorker draws its own seeded stream and restores it", async () => {
  const p = await createWganProblem(tf, { dataset: "gaussians25", batch: 16 });
  const x = p.initial();
  const sample = (w: ReturnType<typeof p.worker>) => {
    const v = new Float32Array(p.dim);
    w.operator(x, v);
    return v;
  };
  const a = p.worker(0, 2, new Rng(rankSeed(0, 0)).fork()),
    b = p.worker(0, 2, new Rng(rankSeed(0, 0)).fork()),
    c = p.worker(1, 2, new Rng(rankSeed(0, 1)).fork());
  const va = sample(a);
  assert.deepEqual(sample(b), va, "same rank and seed, same sample");
  assert.notDeepEqual(sample(c), va, "another rank draws other data and noise");
  const saved = JSON.parse(JSON.stringify(a.state()));
  const next = sample(a);
  const scalars = a.scalars();
  assert.notDeepEqual(next, va, "the stream moves on");
  const d = p.worker(0, 2, new Rng(rankSeed(0, 0)).fork());
  d.restore(saved);
  assert.deepEqual(sample(d), next, "restore() continues the stream exactly");
  assert.deepEqual(d.scalars(), scalars);
  assert.deepEqual(Object.keys(scalars).sort(), ["gp", "loss_d", "loss_g", "wdist"]);
  assert.throws(() => d.restore({ data: 1 }), /needs \{ data, noise \}/);
  assert.throws(() => a.operator(new Float32Array(3), new Float32Array(3)), /length 3, expected/);
  p.dispose();
});

Deno.test("createWganProblem() with clip projects the critic only and drops the penalty", async () => {
  const p = await createWganProblem(tf, { dataset: "gaussians8", clip: 0.5, batch: 8 });
  assert.ok(p.project);
  const x = p.initial();
  assert.ok(x.subarray(p.genDim).every((v) => Math.abs(v) <= 0.5));
  assert.ok(x.subarray(0, p.genDim).some((v) => Math.abs(v) > 0.5), "the generator is not clipped");
  const y = x.map((v) => 3 * v + 1);
  p.project!(y);
  assert.deepEqual(y.subarray(0, p.genDim), x.subarray(0, p.genDim).map((v) => 3 * v + 1));
  assert.ok(y.subarray(p.genDim).every((v) => Math.abs(v) <= 0.5));
  const w = p.worker(0, 1, new Rng(rankSeed(0, 0)).fork());
  w.operator(x, new Float32Array(p.dim));
  assert.equal(w.scalars().gp, 0);
  assert.equal(p.config.gp, 0);
  assert.equal(p.config.clip, 0.5);
  p.dispose();
});

Deno.test("createWganProblem() rejects bad options, naming them", async () => {
  await assert.rejects(() => createWganProblem(tf, { dataset: "cifar10" }), UnknownNameError);
  await assert.rejects(
    () => createWganProblem(tf, { dataset: "gaussians8", arch: "resnet" }),
    UnknownNameError,
  );
  await assert.rejects(
    () => createWganProblem(tf, { dataset: "gaussians8", arch: "dcgan" }),
    /dcgan' needs 28×28/,
  );
  await assert.rejects(
    () => createWganProblem(tf, { dataset: "gaussians8", batch: 0 }),
    /batch must be/,
  );
  await assert.rejects(
    () => createWganProblem(tf, { dataset: "gaussians8", gp: -1 }),
    /gp \(λ\) must be ≥ 0/,
  );
  const p = await createWganProblem(tf, { dataset: "gaussians8" });
  assert.throws(
    () => p.worker(2, 2, new Rng(rankSeed(0, 2)).fork()),
    /rank must be an integer in 0..1, got 2/,
  );
  p.dispose();
});

Deno.test("gaussians25 trains in coordinates divided by its standard deviation; samples stay in its units", async () => {
  const p = await createWganProblem(tf, { dataset: "gaussians25", batch: 16, evalSamples: 50 });
  const q = await createWganProblem(tf, {
    dataset: "gaussians25",
    batch: 16,
    evalSamples: 50,
    dataScale: 1,
  });
  const std = mixture("gaussians25").std;
  assert.ok(Math.abs(std - Math.sqrt(8 + 0.05 ** 2)) < 1e-12, `std ${std}`);
  assert.equal(p.config.dataScale, std);
  assert.equal(q.config.dataScale, 1);
  const g8 = await createWganProblem(tf, { dataset: "gaussians8", batch: 16 });
  assert.equal(g8.config.dataScale, 1, "gaussians8 trains in its own coordinates");
  g8.dispose();
  const x = p.initial();
  assert.deepEqual(q.initial(), x, "the scale does not change the starting point");
  // The same generator at the same point: the samples are the outputs times the scale.
  const a = p.generate(x, 50), b = q.generate(x, 50);
  for (let i = 0; i < a.length; i++) assert.equal(a[i], Math.fround(b[i] * std));
  // The critic sees real points divided by the scale: the same stream gives another operator.
  const op = (prob: typeof p) => {
    const v = new Float32Array(prob.dim);
    prob.worker(0, 1, new Rng(rankSeed(0, 0)).fork()).operator(x, v);
    return v;
  };
  assert.notDeepEqual(op(p), op(q));
  p.dispose();
  q.dispose();
  await assert.rejects(
    () => createWganProblem(tf, { dataset: "gaussians25", dataScale: 0 }),
    /dataScale must be a positive number, got 0/,
  );
  await assert.rejects(
    () => createWganProblem(tf, { dataset: "mnist", dataScale: 2 }),
    /dataScale must be 1 for mnist, got 2/,
  );
});

/** Steps of the two-worker run (about 7 s on one core). */
const STEPS = 600;

Deno.test("two workers averaging their operator samples under QODA move the generator onto the modes", async () => {
  const p = await createWganProblem(tf, { dataset: "gaussians8", evalSamples: 1000 });
  // Each worker's own stream, seeded as this measurement always was.
  const workers = [0, 1].map((r) => p.worker(r, 2, new Rng(7919 + r)));
  // lr 3, the low end of the useful range: its first few hundred steps are smoother than lr 10's.
  const opt = new Qoda(p.initial(), { lr: 3 });
  const tmp = new Float32Array(p.dim);
  const oracle = (x: Float32Array, out: Float32Array) => {
    for (const w of workers) {
      tmp.fill(0);
      w.operator(x, tmp);
      for (let i = 0; i < out.length; i++) out[i] += tmp[i] / workers.length;
    }
  };
  const start = await p.evaluate(opt.params);
  for (let t = 0; t < STEPS; t++) await opt.step(oracle, async () => {});
  const end = await p.evaluate(opt.params);
  assert.equal(opt.skipped, 0);
  // Measured with these seeds: mean distance 1.19 → 0.72, high-quality share 0 → 0.010.
  assert.ok(
    end.mean_distance < 0.8 * start.mean_distance,
    `mean distance ${start.mean_distance} → ${end.mean_distance}`,
  );
  assert.ok(
    end.high_quality > start.high_quality + 0.005,
    `high quality ${start.high_quality} → ${end.high_quality}`,
  );
  p.dispose();
});

Deno.test("the MNIST problem: one operator sample, FID and label entropy, the sample grid", async () => {
  const p = await createWganProblem(tf, { dataset: "mnist", batch: 8, evalSamples: 100 });
  assert.equal(p.lowerIsBetter, true);
  const x = p.initial();
  const v = new Float32Array(p.dim);
  p.worker(1, 3, new Rng(rankSeed(0, 1)).fork()).operator(x, v);
  assert.ok(v.every(Number.isFinite) && v.some((g) => g !== 0));
  const m = await p.evaluate(x);
  assert.equal(m.quality, m.fid);
  assert.ok(m.fid > 10, `an untrained generator is far from real digits: FID ${m.fid}`);
  assert.ok(m.label_entropy >= 0 && m.label_entropy <= Math.log(10) + 1e-9);
  const img = p.sampleImage(x);
  assert.deepEqual([img.width, img.height, img.channels], [8 * 28 + 9 * 2, 8 * 28 + 9 * 2, 1]);
  const g = p.generate(x, 3, 7);
  assert.equal(g.length, 3 * 784);
  assert.ok(g.every((u) => u >= -1 && u <= 1));
  p.dispose();
});

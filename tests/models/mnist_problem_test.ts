// The MNIST classifier as a problem module (models/mnist/problem.ts): its layout, its workers'
// streams (batches from the runtime's rng, FQT rounding forked from it), resumable worker
// state, its evaluation, and train() on it: worker processes and in-process workers agree.
import assert from "node:assert/strict";
import { initBackend } from "../../models/tfjs/backend/backend.ts";
import { mnistProblem } from "../../models/mnist/problem.ts";
import { problemModule } from "../../models/registry.ts";
import { train, type TrainOptions } from "../../actors/train.ts";
import { Rng } from "../../runtime/rng.ts";

const { tf } = await initBackend("cpu");

Deno.test("the MNIST problem: one layer per variable with its shape, X_1 from the seed, accuracy as quality", async () => {
  const p = await mnistProblem(tf, { seed: 4, testSize: 500 });
  const q = await mnistProblem(tf, { seed: 4, model: "cnn", testSize: 500 });
  try {
    assert.deepEqual(
      p.layers.map((l) => [l.name, l.shape, l.offset, l.length]),
      [
        ["dense1/kernel", [784, 128], 0, 100352],
        ["dense1/bias", [128], 100352, 128],
        ["dense2/kernel", [128, 10], 100480, 1280],
        ["dense2/bias", [10], 101760, 10],
      ],
    );
    assert.equal(p.dim, 101_770);
    assert.deepEqual(q.layers.map((l) => l.name), [
      "conv1/kernel",
      "conv1/bias",
      "conv2/kernel",
      "conv2/bias",
      "dense/kernel",
      "dense/bias",
    ]);
    assert.deepEqual(q.layers[2].shape, [3, 3, 8, 16]);
    assert.equal(p.lowerIsBetter, false);
    assert.equal(p.testCount, 500);
    assert.deepEqual(p.shardSizes(3), [3167, 3167, 3166]);
    const again = await mnistProblem(tf, { seed: 4, testSize: 500 });
    assert.deepEqual(again.initial(), p.initial(), "X_1 depends on the seed alone");
    again.dispose?.();
    const m = await p.evaluate(p.initial());
    assert.equal(m.quality, m.test_accuracy);
    assert.ok(m.test_accuracy < 0.3, `untrained accuracy ${m.test_accuracy}`);
    assert.ok(Math.abs(m.test_loss - Math.log(10)) < 0.5, `untrained loss ${m.test_loss}`);
    assert.ok(m.train_loss > 1.5);
  } finally {
    p.dispose?.();
    q.dispose?.();
  }
});

Deno.test("a worker's gradients follow its rng alone; FQT rounds from a fork of it; state() resumes bit-exactly", async () => {
  const plain = await mnistProblem(tf, { seed: 0, batch: 16, testSize: 500 });
  const fqt = await mnistProblem(tf, { seed: 0, batch: 16, testSize: 500, fqt: "psq", fqtBits: 4 });
  try {
    const x = plain.initial();
    const grads = (w: ReturnType<typeof plain.worker>, n: number) =>
      Array.from({ length: n }, () => {
        const g = new Float32Array(plain.dim);
        w.operator(x, g);
        return g;
      });
    // Same rng, same batches: the float gradients agree; with FQT they differ but their loss
    // (the forward pass, on the same batch) is the same.
    const a = plain.worker(1, 2, new Rng(7)), b = plain.worker(1, 2, new Rng(7));
    assert.deepEqual(grads(a, 2), grads(b, 2));
    const other = plain.worker(1, 2, new Rng(8));
    assert.notDeepEqual(grads(other, 1)[0], grads(plain.worker(1, 2, new Rng(7)), 1)[0]);
    const f = fqt.worker(1, 2, new Rng(7)), p = plain.worker(1, 2, new Rng(7));
    const gf = grads(f, 1)[0], gp = grads(p, 1)[0];
    assert.equal(f.scalars().loss, p.scalars().loss, "the same batch with and without FQT");
    assert.notDeepEqual(gf, gp);
    const s = f.scalars();
    assert.ok(s.fqt_eps_input > 0 && s.fqt_eps_weight > 0, JSON.stringify(s));
    // Three steps, a commit, two more; a fresh worker restored from the commit continues alike.
    const w = fqt.worker(0, 2, new Rng(3));
    grads(w, 3);
    const saved = JSON.parse(JSON.stringify(w.state()));
    const next = grads(w, 2);
    const r = fqt.worker(0, 2, new Rng(99));
    r.restore(saved);
    assert.deepEqual(grads(r, 2), next);
    // The batches run across epochs: shard of 4750 / 16 per batch = 296 batches an epoch.
    const long = plain.worker(0, 2, new Rng(5));
    const b0 = grads(long, 1);
    for (let i = 0; i < 300; i++) long.operator(x, new Float32Array(plain.dim));
    const mid = JSON.parse(JSON.stringify(long.state()));
    const after = grads(long, 1);
    const back = plain.worker(0, 2, new Rng(6));
    back.restore(mid);
    assert.deepEqual(grads(back, 1), after);
    assert.notDeepEqual(after, b0);
  } finally {
    plain.dispose?.();
    fqt.dispose?.();
  }
});

Deno.test("train() on the MNIST problem: worker processes and in-process workers give the same parameters", async () => {
  const o: TrainOptions = {
    problem: problemModule("mnist"),
    name: "mnist",
    options: { backend: "cpu", batch: 16, testSize: 500 },
    workers: 2,
    optimizer: "adam",
    collective: "allgather", // named: `auto` chooses by timing, and the runs are compared
    lr: 0.002,
    steps: 8,
    checksumEvery: 4,
  };
  const inproc = await train({ ...o, runtime: "inprocess" });
  const procs = await train({ ...o, runtime: "process" });
  assert.equal(procs.checksum, inproc.checksum);
  assert.deepEqual(procs.params, inproc.params);
  assert.equal(procs.bytesSent, inproc.bytesSent);
  assert.equal(inproc.collectives, 8);
  assert.ok(inproc.metrics.test_accuracy > 0.3, `accuracy ${inproc.metrics.test_accuracy}`);
});

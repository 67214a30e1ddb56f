import assert from "node:assert/strict";
import {
  accuracy,
  crossEntropy,
  evaluate,
  lossAndGrads,
  paramCount,
} from "../../models/classifier.ts";
import { createCnn } from "../../models/mnist_cnn.ts";
import { loadMnist, MNIST_PIXELS, splitTrainTest } from "../../models/mnist_data.ts";
import { createMlp } from "../../models/mnist_mlp.ts";
import { initBackend } from "../../models/tfjs/backend/backend.ts";

Deno.test("crossEntropy() and accuracy() match hand-computed values", () => {
  const logits = new Float32Array([2, 0, 0, /**/ 0, 1, 3]);
  const labels = new Uint8Array([0, 1]);
  const l0 = -Math.log(Math.exp(2) / (Math.exp(2) + 2));
  const l1 = -Math.log(Math.exp(1) / (1 + Math.exp(1) + Math.exp(3)));
  assert.ok(Math.abs(crossEntropy(logits, labels, 3) - (l0 + l1) / 2) < 1e-12);
  assert.equal(accuracy(logits, labels, 3), 0.5);
  // Large logits do not overflow.
  assert.ok(Math.abs(crossEntropy(new Float32Array([1000, 0]), new Uint8Array([0]), 2)) < 1e-12);
  assert.throws(() => accuracy(new Float32Array(5), labels, 3), /expected 2 labels × 3 classes/);
});

Deno.test("lossAndGrads() of the MLP matches a finite difference and frees its tensors", async () => {
  const { tf } = await initBackend("cpu");
  const model = createMlp(tf, { seed: 3, hidden: 16 });
  assert.deepEqual(model.params.map((p) => p.name), [
    "dense1/kernel",
    "dense1/bias",
    "dense2/kernel",
    "dense2/bias",
  ]);
  assert.equal(paramCount(model), 784 * 16 + 16 + 16 * 10 + 10);
  const { test } = splitTrainTest(await loadMnist(), { testSize: 8, seed: 2 });
  const before = tf.memory().numTensors;
  const { loss, grads } = lossAndGrads(tf, model, test.images, test.labels);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(grads.map((g) => g.length), model.params.map((p) => p.variable.size));
  const { loss: evalLoss } = evaluate(tf, model, test);
  assert.ok(Math.abs(evalLoss - loss) < 1e-5, `${evalLoss} vs ${loss}`);
  // Central difference on the output bias of class 3.
  const b2 = model.params[3].variable;
  const h = 1e-2;
  const at = (d: number) => {
    const v = b2.dataSync().slice();
    v[3] += d;
    b2.assign(tf.tensor1d(v));
    const l = evaluate(tf, model, test).loss;
    v[3] -= d;
    b2.assign(tf.tensor1d(v));
    return l;
  };
  const numeric = (at(h) - at(-h)) / (2 * h);
  assert.ok(Math.abs(numeric - grads[3][3]) < 1e-3, `numeric ${numeric}, analytic ${grads[3][3]}`);
  model.dispose();
});

Deno.test("lossAndGrads() of the CNN on wasm matches the cpu backend", async () => {
  const { test } = splitTrainTest(await loadMnist(), { testSize: 4, seed: 3 });
  const run = async (backend: string) => {
    const { tf } = await initBackend(backend);
    const model = createCnn(tf, { seed: 4 });
    const r = lossAndGrads(tf, model, test.images, test.labels);
    model.dispose();
    return r;
  };
  const cpu = await run("cpu");
  const wasm = await run("wasm");
  assert.ok(Math.abs(cpu.loss - wasm.loss) < 1e-5);
  for (let l = 0; l < cpu.grads.length; l++) {
    let worst = 0, scale = 0;
    for (let i = 0; i < cpu.grads[l].length; i++) {
      worst = Math.max(worst, Math.abs(cpu.grads[l][i] - wasm.grads[l][i]));
      scale = Math.max(scale, Math.abs(cpu.grads[l][i]));
    }
    assert.ok(worst <= 1e-4 * Math.max(scale, 1), `param ${l}: largest difference ${worst}`);
  }
  assert.equal(test.images.length, 4 * MNIST_PIXELS);
});

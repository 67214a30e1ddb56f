import assert from "node:assert/strict";
import type * as tfjs from "@tensorflow/tfjs";
import { initBackend } from "../../models/tfjs/backend/backend.ts";
import {
  featureModel,
  loadPretrained,
  PRETRAINED,
  pretrainedDir,
} from "../../models/pretrained.ts";
import { loadMnist, MNIST_PIXELS, splitTrainTest } from "../../models/mnist_data.ts";

const { tf } = await initBackend("cpu");
const { test } = splitTrainTest(await loadMnist(), { testSize: 2000, seed: 0 });

function accuracy(model: tfjs.LayersModel, count: number): number {
  const pred = tf.tidy(() =>
    (model.predict(
      tf.tensor2d(test.images.subarray(0, count * MNIST_PIXELS), [count, MNIST_PIXELS]),
    ) as tfjs.Tensor)
      .argMax(1)
  );
  const labels = pred.dataSync();
  pred.dispose();
  let hit = 0;
  for (let i = 0; i < count; i++) if (labels[i] === test.labels[i]) hit++;
  return hit / count;
}

Deno.test("loadPretrained() loads both built-in models; they classify held-out digits", async () => {
  // Measured on all 2,000 held-out digits: mnist-mlp 94.4%, mnist-cnn 97.2%.
  for (const [name, floor] of [["mnist-mlp", 0.92], ["mnist-cnn", 0.95]] as const) {
    const model = await loadPretrained(tf, name);
    assert.deepEqual(model.inputs[0].shape, [null, 784]);
    assert.deepEqual(model.outputs[0].shape, [null, 10]);
    const acc = accuracy(model, 500);
    assert.ok(acc > floor, `${name}: accuracy ${acc} on 500 held-out digits`);
    model.dispose();
  }
});

Deno.test("the built-in weight files are commit-sized (< 1 MB) TF.js layers models", async () => {
  for (const name of PRETRAINED) {
    const dir = pretrainedDir(name);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/model.json`));
    assert.equal(json.format, "layers-model");
    assert.deepEqual(json.weightsManifest[0].paths, ["weights.bin"]);
    const size = (await Deno.stat(`${dir}/weights.bin`)).size;
    assert.ok(size < 1_000_000, `${name}: ${size} bytes`);
  }
});

Deno.test("featureModel() outputs the CNN's 64 `features` activations", async () => {
  const cnn = await loadPretrained(tf, "mnist-cnn");
  const features = featureModel(cnn);
  const x = tf.tensor2d(test.images.subarray(0, 4 * MNIST_PIXELS), [4, MNIST_PIXELS]);
  const f = features.predict(x) as tfjs.Tensor;
  assert.deepEqual(f.shape, [4, 64]);
  const values = f.dataSync();
  assert.ok(values.every((v) => v >= 0), "ReLU features are non-negative");
  assert.ok(values.some((v) => v > 0));
  // The same activations feed the classifier's last layer: logits = softmax(f·W + b).
  const [w, b] = cnn.getLayer("logits").getWeights();
  const probs = tf.tidy(() => tf.softmax(tf.add(tf.matMul(f, w), b)));
  const direct = cnn.predict(x) as tfjs.Tensor;
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(probs, direct))).dataSync()[0]);
  assert.ok(diff < 1e-5, `features do not reproduce the outputs (max diff ${diff})`);
  tf.dispose([x, f, probs, direct]);
  cnn.dispose();
});

Deno.test("loadPretrained()/featureModel() errors name the problem and the valid choices", async () => {
  await assert.rejects(
    loadPretrained(tf, "mnist-resnet"),
    /unknown pretrained model 'mnist-resnet'; valid: mnist-mlp, mnist-cnn/,
  );
  const mlp = await loadPretrained(tf, "mnist-mlp");
  assert.throws(
    () => featureModel(mlp),
    /has no layer named 'features'; its layers: dense1, logits/,
  );
  mlp.dispose();
});

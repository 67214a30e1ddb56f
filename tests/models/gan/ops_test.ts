import assert from "node:assert/strict";
import type * as tfjs from "@tensorflow/tfjs";
import { initBackend } from "../../../models/tfjs/backend/backend.ts";
import { Rng } from "../../../runtime/rng.ts";
import { createOps } from "../../../models/gan/_ops.ts";

const { tf } = await initBackend("wasm");
const ops = createOps(tf);

function random(shape: number[], seed: number): tfjs.Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(new Float32Array(n).map(() => rng.normal()), shape);
}

function maxDiff(a: tfjs.Tensor, b: tfjs.Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const x = a.dataSync(), y = b.dataSync();
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
  return d;
}

Deno.test("shuffle() is tf.depthToSpace by 2 and unshuffle() undoes it", () => {
  tf.tidy(() => {
    const x = random([2, 3, 4, 8], 1) as tfjs.Tensor4D;
    const s = ops.shuffle(x);
    assert.equal(maxDiff(s, tf.depthToSpace(x, 2)), 0);
    assert.equal(maxDiff(ops.unshuffle(s), x), 0);
  });
  assert.throws(
    () => ops.shuffle(tf.zeros([1, 2, 2, 3]) as tfjs.Tensor4D),
    /divisible by 4, got 3/,
  );
});

Deno.test("dense() and conv() match tfjs's matMul and conv2d, values and gradients", () => {
  tf.tidy(() => {
    const a = random([5, 7], 2), w = random([7, 3], 3);
    assert.ok(maxDiff(ops.dense(a, w), tf.matMul(a as tfjs.Tensor2D, w as tfjs.Tensor2D)) < 1e-6);
    const f = (op: (p: tfjs.Tensor, q: tfjs.Tensor) => tfjs.Tensor) =>
      tf.grads((p: tfjs.Tensor, q: tfjs.Tensor) => tf.sum(tf.sin(op(p, q))));
    const [ga, gw] = f(ops.dense)([a, w]);
    const [ra, rw] = f((p, q) => tf.matMul(p as tfjs.Tensor2D, q as tfjs.Tensor2D))([a, w]);
    assert.ok(maxDiff(ga, ra) < 1e-5 && maxDiff(gw, rw) < 1e-5);

    const x = random([2, 6, 5, 3], 4), k = random([3, 3, 3, 4], 5);
    const conv = (p: tfjs.Tensor, q: tfjs.Tensor) =>
      tf.conv2d(p as tfjs.Tensor4D, q as tfjs.Tensor4D, 1, "same");
    assert.ok(maxDiff(ops.conv(x, k), conv(x, k)) < 1e-5);
    const [gx, gk] = f(ops.conv)([x, k]);
    const [rx, rk] = f(conv)([x, k]);
    assert.ok(maxDiff(gx, rx) < 1e-4, `input gradient differs by ${maxDiff(gx, rx)}`);
    assert.ok(maxDiff(gk, rk) < 1e-4, `filter gradient differs by ${maxDiff(gk, rk)}`);
  });
  assert.throws(
    () => ops.conv(tf.zeros([1, 4, 4, 1]), tf.zeros([2, 2, 1, 1])),
    /odd square kernel/,
  );
});

Deno.test("lrelu() is leaky ReLU and has a second derivative (zero almost everywhere)", () => {
  tf.tidy(() => {
    const x = tf.tensor1d([-2, -0.5, 0.5, 3]);
    assert.deepEqual(
      Array.from(ops.lrelu(x).dataSync()),
      Array.from(tf.leakyRelu(x, 0.2).dataSync()),
    );
    const g = tf.grad((v: tfjs.Tensor) => tf.sum(ops.lrelu(v)));
    const slopes = Array.from(g(x).dataSync()).map((v) => Number(v.toFixed(6)));
    assert.deepEqual(slopes, [0.2, 0.2, 1, 1]);
    const gg = tf.grad((v: tfjs.Tensor) => tf.sum(tf.mul(g(v), v)))(x); // d/dx (x·f'(x)) = f'(x)
    assert.deepEqual(Array.from(gg.dataSync()).map((v) => Number(v.toFixed(6))), [0.2, 0.2, 1, 1]);
  });
});

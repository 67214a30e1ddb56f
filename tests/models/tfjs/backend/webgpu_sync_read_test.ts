// Synchronous reads on webgpu under Deno (tfjs's own need OffscreenCanvas): initBackend("webgpu")
// replaces readSync with a staging-buffer read. Skipped where there is no WebGPU adapter.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend, probeWebgpu } from "../../../../models/tfjs/backend/mod.ts";

const probe = await probeWebgpu();
const ignore = !probe.found;

Deno.test({
  name: "webgpu dataSync: float32 over several staging chunks, int32 and bool, as data() reads",
  ignore,
  fn: async () => {
    await initBackend("webgpu");
    assert.equal(tf.getBackend(), "webgpu");
    // 5,000,000 floats (20 MB) go through the 16 MiB staging buffer in two chunks.
    const n = 5_000_000;
    const big = tf.tidy(() => tf.range(0, n, 1, "float32").mul(0.5).add(1));
    const twin = tf.tidy(() => tf.range(0, n, 1, "float32").mul(0.5).add(1));
    const sync = big.dataSync() as Float32Array;
    const viaAsync = await twin.data() as Float32Array;
    assert.equal(sync.length, n);
    for (const i of [0, 1, 4_194_303, 4_194_304, 4_194_305, n - 1]) {
      assert.equal(sync[i], 0.5 * i + 1, `element ${i}`);
    }
    assert.deepEqual(sync, viaAsync);
    tf.dispose([big, twin]);

    const ints = tf.tidy(() => tf.tensor1d([3, -7, 11], "int32").mul(tf.scalar(2, "int32")));
    assert.deepEqual(Array.from(ints.dataSync()), [6, -14, 22]);
    assert.equal(ints.dataSync() instanceof Int32Array, true);
    const flags = tf.tidy(() => tf.greater(tf.tensor1d([1, 5, 2, 8]), tf.scalar(3)));
    assert.deepEqual(Array.from(flags.dataSync()), [0, 1, 0, 1]);
    // A result read twice comes from the CPU cache the first read filled.
    const m = tf.tidy(() => tf.matMul(tf.ones([64, 32]), tf.ones([32, 16])));
    assert.equal(m.dataSync()[0], 32);
    assert.equal((m.arraySync() as number[][])[63][15], 32);
    tf.dispose([ints, flags, m]);
    await initBackend("cpu");
  },
});

Deno.test({
  name: "webgpu dataSync: gradients of a chain of pending kernels read back in order",
  ignore,
  fn: async () => {
    await initBackend("webgpu");
    const x = tf.variable(tf.tensor2d([[0.5, -1], [2, 0.25]]));
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.matMul(x, x))), [x]);
    const g = grads[x.name].dataSync();
    const loss = value.dataSync()[0];
    await initBackend("cpu");
    const xc = tf.tensor2d([[0.5, -1], [2, 0.25]]);
    const want = tf.grad((v: tf.Tensor) =>
      tf.sum(tf.square(tf.matMul(v as tf.Tensor2D, v as tf.Tensor2D)))
    )(
      xc,
    ).dataSync();
    const wantLoss = tf.sum(tf.square(tf.matMul(xc, xc))).dataSync()[0];
    assert.ok(Math.abs(loss - wantLoss) < 1e-5, `${loss} vs ${wantLoss}`);
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(g[i] - want[i]) < 1e-5, `grad ${i}`);
    tf.dispose([x, value, grads[x.name], xc]);
  },
});

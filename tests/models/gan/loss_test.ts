import assert from "node:assert/strict";
import type * as tfjs from "@tensorflow/tfjs";
import { initBackend } from "../../../models/tfjs/backend/backend.ts";
import type { Ops } from "../../../models/gan/_ops.ts";
import { Rng } from "../../../runtime/rng.ts";
import { type GanLoss, wganOperator } from "../../../models/gan/loss.ts";
import { GanModel, initialParams } from "../../../models/gan/model.ts";
import { type ArchitectureOptions, ganArchitecture } from "../../../models/gan/networks.ts";

const { tf } = await initBackend("wasm");

/**
 * The GAN operator the slow, obvious way: tfjs's own matMul/conv2d (and their built-in
 * gradients), two separate passes, loss_G over the generator and loss_D over the critic.
 */
function reference(
  model: GanModel,
  batch: { real: Float32Array; z: Float32Array; eps: Float32Array },
  lambda: number,
  loss: GanLoss,
): { v: Float32Array; lossG: number; lossD: number } {
  const { arch } = model;
  const b = batch.eps.length;
  const ops: Ops = {
    ...model.ops,
    dense: (a, w) => tf.matMul(a as tfjs.Tensor2D, w as tfjs.Tensor2D),
    conv: (a: tfjs.Tensor, w: tfjs.Tensor) =>
      tf.conv2d(a as tfjs.Tensor4D, w as tfjs.Tensor4D, 1, "same"),
  };
  const v = new Float32Array(model.dim);
  const z = tf.tensor2d(batch.z, [b, arch.latentDim]);
  const real = tf.tensor2d(batch.real, [b, arch.sampleDim]);
  const eps = tf.tensor2d(batch.eps, [b, 1]);
  const gen = () => arch.generate(tf, ops, model.genVars, z);
  const crit = (x: tfjs.Tensor) => arch.criticize(tf, ops, model.criticVars, x);
  const ns = loss === "ns";
  const g = tf.variableGrads(
    () =>
      (ns
        ? tf.mean(tf.softplus(tf.neg(crit(gen()))))
        : tf.neg(tf.mean(crit(gen())))) as tfjs.Scalar,
    model.genVars,
  );
  const fake = gen();
  const d = tf.variableGrads(() => {
    const xh = tf.add(tf.mul(eps, fake), tf.mul(tf.sub(1, eps), real));
    // One norm per critic input: a pack's samples together.
    const gx = tf.reshape(tf.grad((u: tfjs.Tensor) => tf.sum(crit(u)))(xh), [b / arch.pack, -1]);
    const pen = tf.mean(tf.square(tf.sub(tf.sqrt(tf.sum(tf.square(gx), 1)), 1)));
    const game = ns
      ? tf.add(tf.mean(tf.softplus(crit(fake))), tf.mean(tf.softplus(tf.neg(crit(real)))))
      : tf.sub(tf.mean(crit(fake)), tf.mean(crit(real)));
    return tf.add(game, tf.mul(lambda, pen)) as tfjs.Scalar;
  }, model.criticVars);
  model.variables.forEach((variable, i) => {
    const grad = g.grads[variable.name] ?? d.grads[variable.name];
    v.set(grad.dataSync() as Float32Array, model.layers[i].offset);
  });
  const out = { v, lossG: g.value.dataSync()[0], lossD: d.value.dataSync()[0] };
  tf.dispose([
    z,
    real,
    eps,
    fake,
    g.value,
    d.value,
    ...Object.values(g.grads),
    ...Object.values(d.grads),
  ]);
  return out;
}

const cases: [ArchitectureOptions, GanLoss][] = [
  [{ arch: "mlp", sampleDim: 2, latentDim: 2, widths: [16, 24] }, "wgan"],
  [{ arch: "mlp", sampleDim: 784, latentDim: 8, widths: [16, 24] }, "wgan"],
  [{ arch: "dcgan", sampleDim: 784, latentDim: 8, widths: [4, 8] }, "wgan"],
  [{ arch: "mlp", sampleDim: 2, latentDim: 2, widths: [16, 24], pack: 2 }, "wgan"],
  [{ arch: "mlp", sampleDim: 2, latentDim: 2, widths: [16, 24] }, "ns"],
  [{ arch: "mlp", sampleDim: 2, latentDim: 2, widths: [16, 24], pack: 3 }, "ns"],
  [{ arch: "dcgan", sampleDim: 784, latentDim: 8, widths: [4, 8] }, "ns"],
];

for (const [options, loss] of cases) {
  for (const lambda of [10, 0]) {
    Deno.test(
      `wganOperator() equals the two separate gradients (${options.arch}, ${options.sampleDim}-D, pack ${
        options.pack ?? 1
      }, ${loss}, λ ${lambda})`,
      () => {
        const arch = ganArchitecture(options);
        const model = new GanModel(tf, arch);
        const rng = new Rng(7);
        const x = initialParams(arch, 3).map((v) => v + 0.1 * rng.normal());
        const b = 6; // a multiple of every case's pack
        const batch = {
          real: new Float32Array(b * arch.sampleDim).map(() => Math.tanh(rng.normal())),
          z: new Float32Array(b * arch.latentDim).map(() => rng.normal()),
          eps: new Float32Array(b).map(() => rng.nextFloat()),
        };
        model.load(x);
        const v = new Float32Array(model.dim);
        const before = tf.memory().numTensors;
        const s = wganOperator(model, batch, lambda, v, loss);
        assert.equal(tf.memory().numTensors, before, "wganOperator() frees what it makes");
        tf.engine().startScope();
        const ref = reference(model, batch, lambda, loss);
        tf.engine().endScope();
        let err = 0, norm = 0;
        for (let i = 0; i < v.length; i++) {
          err = Math.max(err, Math.abs(v[i] - ref.v[i]));
          norm = Math.max(norm, Math.abs(ref.v[i]));
        }
        assert.ok(norm > 1e-3, "a non-trivial operator");
        assert.ok(err <= 1e-4 * norm, `largest difference ${err} (largest entry ${norm})`);
        // Both players have non-zero gradients.
        assert.ok(v.subarray(0, model.genDim).some((g) => g !== 0));
        assert.ok(v.subarray(model.genDim).some((g) => g !== 0));
        assert.ok(Math.abs(s.loss_g - ref.lossG) < 1e-4 * (1 + Math.abs(ref.lossG)));
        assert.ok(Math.abs(s.loss_d - ref.lossD) < 1e-4 * (1 + Math.abs(ref.lossD)));
        if (loss === "wgan") {
          assert.ok(
            Math.abs(s.loss_d - (-s.wdist + lambda * s.gp)) < 1e-4 * (1 + Math.abs(s.loss_d)),
          );
        }
        if (lambda === 0) assert.equal(s.gp, 0);
        model.dispose();
      },
    );
  }
}

Deno.test("wganOperator() rejects mismatched batch and output sizes", () => {
  const arch = ganArchitecture({ arch: "mlp", sampleDim: 2, latentDim: 2 });
  const model = new GanModel(tf, arch);
  const batch = { real: new Float32Array(8), z: new Float32Array(8), eps: new Float32Array(4) };
  assert.throws(
    () => wganOperator(model, batch, 10, new Float32Array(3)),
    /output has length 3, expected/,
  );
  assert.throws(
    () =>
      wganOperator(model, { ...batch, z: new Float32Array(6) }, 10, new Float32Array(model.dim)),
    /batch of 4: z has 6 values \(expected 8\)/,
  );
  model.dispose();
});

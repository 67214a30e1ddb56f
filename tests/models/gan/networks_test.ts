import assert from "node:assert/strict";
import { initBackend } from "../../../models/tfjs/backend/backend.ts";
import { Rng } from "../../../runtime/rng.ts";
import { GanModel, initialParams } from "../../../models/gan/model.ts";
import { type ArchitectureOptions, ganArchitecture } from "../../../models/gan/networks.ts";
import { UnknownNameError } from "../../../runtime/errors.ts";

const { tf } = await initBackend("wasm");

const pairs: ArchitectureOptions[] = [
  { arch: "mlp", sampleDim: 2, latentDim: 2, widths: [64, 64, 64], pack: 2 },
  { arch: "dcgan", sampleDim: 784, latentDim: 16, widths: [4, 8] },
];

for (const pair of pairs) {
  Deno.test(`the standard parameterisation of ${pair.arch} starts uniform in ±1/√fan_in, biases included`, () => {
    const arch = ganArchitecture({ ...pair, parameterization: "standard" });
    assert.equal(arch.parameterization, "standard");
    const x = initialParams(arch, 3);
    let at = 0;
    for (const p of [...arch.generator, ...arch.critic]) {
      assert.equal(p.scale, 1, `${p.name} is stored as used`);
      const v = x.subarray(at, at + p.size);
      at += p.size;
      const bound = p.initStd * Math.sqrt(3);
      const fanIn = 1 / (bound * bound);
      assert.ok(Math.abs(fanIn - Math.round(fanIn)) < 1e-6, `${p.name}: fan-in ${fanIn}`);
      assert.ok(v.every((e) => Math.abs(e) <= bound), `${p.name} within ±${bound}`);
      if (p.size >= 2000) {
        // A uniform law's variance is bound²/3; 2,000 draws hold it within 10%.
        const variance = v.reduce((s, e) => s + e * e, 0) / p.size;
        assert.ok(Math.abs(variance / (p.initStd * p.initStd) - 1) < 0.1, `${p.name}: ${variance}`);
      }
      if (p.size >= 8) {
        assert.ok(v.some((e) => e > bound / 2) && v.some((e) => e < -bound / 2), p.name);
      }
    }
    assert.equal(at, x.length);
  });

  Deno.test(`${pair.arch}: the two parameterisations compute the same networks at corresponding points`, () => {
    const eq = ganArchitecture(pair);
    const std = ganArchitecture({ ...pair, parameterization: "standard" });
    assert.equal(eq.parameterization, "equalized");
    const rng = new Rng(5);
    const xEq = initialParams(eq, 1).map((v) => v + 0.2 * rng.normal());
    // The standard point that stores what the equalized one uses: every kernel times its constant.
    const xStd = xEq.slice();
    let at = 0;
    for (const p of [...eq.generator, ...eq.critic]) {
      for (let i = at; i < at + p.size; i++) xStd[i] *= p.scale;
      at += p.size;
    }
    const n = 6;
    const z = new Float32Array(n * pair.latentDim).map(() => rng.normal());
    const outputs = [[eq, xEq], [std, xStd]].map(([arch, x]) => {
      const model = new GanModel(tf, arch as typeof eq);
      model.load(x as Float32Array);
      const samples = model.generate(z, n);
      const scores = tf.tidy(() =>
        model.arch.criticize(
          tf,
          model.ops,
          model.criticVars,
          tf.tensor2d(samples, [n, pair.sampleDim]),
        )
          .dataSync()
      );
      model.dispose();
      return [samples, Float32Array.from(scores)];
    });
    for (const k of [0, 1]) {
      const [a, b] = [outputs[0][k], outputs[1][k]];
      let scale = 0, err = 0;
      for (let i = 0; i < a.length; i++) {
        scale = Math.max(scale, Math.abs(a[i]));
        err = Math.max(err, Math.abs(a[i] - b[i]));
      }
      assert.ok(scale > 0.05, "the outputs are not trivially small");
      assert.ok(err <= 1e-4 * Math.max(1, scale), `${k ? "critic" : "generator"}: ${err}`);
    }
  });
}

Deno.test("ganArchitecture() names an unknown parameterisation", () => {
  assert.throws(
    () => ganArchitecture({ arch: "mlp", sampleDim: 2, latentDim: 2, parameterization: "he" }),
    (e: unknown) =>
      e instanceof UnknownNameError && /parameterization/.test(e.message) &&
      /equalized/.test(e.message) && /standard/.test(e.message),
  );
});

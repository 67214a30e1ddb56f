import assert from "node:assert/strict";
import { initBackend } from "../../../models/tfjs/backend/backend.ts";
import { Rng } from "../../../runtime/rng.ts";
import {
  generatorAsLayersModel,
  loadGenerator,
  saveGenerator,
} from "../../../models/gan/checkpoint.ts";
import { GanModel, initialParams } from "../../../models/gan/model.ts";
import { ganArchitecture } from "../../../models/gan/networks.ts";

const { tf } = await initBackend("wasm");

/** A point away from the initialisation: the initial vector plus noise on every coordinate. */
function somePoint(x0: Float32Array, seed: number): Float32Array {
  const rng = new Rng(seed);
  return x0.map((v) => v + 0.3 * rng.normal());
}

const cases = [
  { arch: "mlp", sampleDim: 2, latentDim: 2 },
  { arch: "mlp", sampleDim: 784, latentDim: 16, widths: [32, 48] },
  { arch: "dcgan", sampleDim: 784, latentDim: 16, widths: [4, 8] },
  // The mlp at other depths (`--widths`): three hidden layers, and one.
  { arch: "mlp", sampleDim: 2, latentDim: 2, widths: [16, 24, 8] },
  { arch: "mlp", sampleDim: 2, latentDim: 3, widths: [12] },
  // Kernels stored as used (scale 1) and random biases.
  { arch: "mlp", sampleDim: 2, latentDim: 2, widths: [16, 8], parameterization: "standard" },
] as const;

for (const c of cases) {
  const depth = ("widths" in c ? `, widths ${c.widths.join("×")}` : "") +
    ("parameterization" in c ? `, ${c.parameterization}` : "");
  Deno.test(`generatorAsLayersModel() computes the ${c.arch} generator (${c.sampleDim}-D samples${depth})`, () => {
    const arch = ganArchitecture(c);
    const x = somePoint(initialParams(arch, 1), 2);
    const raw = new GanModel(tf, arch);
    raw.load(x);
    const n = 5;
    const rng = new Rng(3);
    const z = new Float32Array(n * c.latentDim).map(() => rng.normal());
    const want = raw.generate(z, n);
    const model = generatorAsLayersModel(tf, arch, x);
    const out = tf.tidy(() =>
      model.predict(tf.tensor2d(z, [n, c.latentDim])) as ReturnType<typeof tf.tensor2d>
    );
    assert.deepEqual(out.shape, [n, c.sampleDim]);
    const got = out.dataSync();
    let err = 0, scale = 0;
    for (let i = 0; i < want.length; i++) {
      err = Math.max(err, Math.abs(got[i] - want[i]));
      scale = Math.max(scale, Math.abs(want[i]));
    }
    assert.ok(scale > 0.1, "the generator's output is not trivially small");
    assert.ok(err <= 1e-5 * Math.max(1, scale), `largest difference ${err}`);
    out.dispose();
    model.dispose();
    raw.dispose();
  });
}

Deno.test("generatorAsLayersModel() folds an output scale into the mixtures' last layer", () => {
  const arch = ganArchitecture(cases[0]);
  const x = somePoint(initialParams(arch, 1), 2);
  const raw = new GanModel(tf, arch);
  raw.load(x);
  const z = new Float32Array([0.3, -1.2, 1.7, 0.4, -0.6, 2.1]);
  const want = raw.generate(z, 3).map((v) => v * 2.5);
  const model = generatorAsLayersModel(tf, arch, x, 2.5);
  const got = tf.tidy(() =>
    (model.predict(tf.tensor2d(z, [3, 2])) as ReturnType<typeof tf.tensor2d>).dataSync()
  );
  for (let i = 0; i < want.length; i++) {
    assert.ok(
      Math.abs(got[i] - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])),
      `${got} vs ${want}`,
    );
  }
  model.dispose();
  raw.dispose();
  for (const c of [cases[1], cases[2]]) {
    const a = ganArchitecture(c);
    assert.throws(
      () => generatorAsLayersModel(tf, a, initialParams(a, 1), 2),
      /outputScale must be 1 for a tanh output, got 2/,
    );
  }
  assert.throws(() => generatorAsLayersModel(tf, arch, x, -1), /outputScale must be a positive/);
});

Deno.test("saveGenerator() → loadGenerator() gives identical generator outputs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gan_ckpt_" });
  try {
    for (const c of [cases[1], cases[2]]) {
      const arch = ganArchitecture(c);
      const x = somePoint(initialParams(arch, 4), 5);
      const path = `${dir}/${c.arch}`;
      await saveGenerator(tf, arch, x, path);
      const back = await loadGenerator(tf, path);
      const before = generatorAsLayersModel(tf, arch, x);
      const z = tf.tensor2d(new Float32Array(3 * c.latentDim).map((_, i) => Math.sin(i)), [
        3,
        c.latentDim,
      ]);
      const a = before.predict(z) as ReturnType<typeof tf.tensor2d>;
      const b = back.predict(z) as ReturnType<typeof tf.tensor2d>;
      assert.deepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()));
      const json = JSON.parse(await Deno.readTextFile(`${path}/model.json`));
      assert.equal(json.format, "layers-model");
      tf.dispose([z, a, b]);
      before.dispose();
      back.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generatorAsLayersModel() rejects a vector shorter than the generator", () => {
  const arch = ganArchitecture({ arch: "mlp", sampleDim: 2, latentDim: 2 });
  assert.throws(
    () => generatorAsLayersModel(tf, arch, new Float32Array(10)),
    /length 10, the generator needs/,
  );
});
